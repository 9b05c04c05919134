# Alarms and one dashboard for a Hermes deployment (both off by default). Every alarm watches something that
# means lost or late notifications: messages parked in a DLQ, a backlog, errors and throttles of the
# functions, API Gateway errors, and Hermes' own delivery metrics (namespace var.metrics_namespace,
# dimension service = var.name, written by send_message through Powertools).

data "aws_region" "current" {}

locals {
  sqs = { namespace = "AWS/SQS", stat = "Maximum" }
  stage_dimensions = {
    ApiId = var.api_id
    Stage = var.stage_name
  }
  hermes_dimensions = { service = var.name }

  alarms = {
    work-dlq-depth = merge(local.sqs, {
      metric      = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = var.queues.work_dlq }, threshold = 0
      description = "Publish requests that failed max_receive_count times wait in the DLQ: they were not delivered."
    })
    fanout-dlq-depth = merge(local.sqs, {
      metric      = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = var.queues.fanout_dlq }, threshold = 0
      description = "Chunk jobs of large rooms that failed max_receive_count times wait in the DLQ: part of a room missed a message."
    })
    work-queue-age = merge(local.sqs, {
      metric      = "ApproximateAgeOfOldestMessage", dimensions = { QueueName = var.queues.work }, threshold = var.thresholds.queue_age_seconds
      description = "Notifications wait longer than expected before send_message takes them (concurrency cap, throttling, errors)."
    })
    fanout-backlog = merge(local.sqs, {
      metric      = "ApproximateAgeOfOldestMessage", dimensions = { QueueName = var.queues.fanout }, threshold = var.thresholds.queue_age_seconds
      description = "Chunk jobs of large rooms are not taken fast enough: big rooms get messages late."
    })
    send-message-errors = {
      namespace   = "AWS/Lambda", metric = "Errors", stat = "Sum", threshold = 0
      dimensions  = { FunctionName = var.function_names.send_message }
      description = "send_message invocations failed (batch item failures are not errors: see failed-records)."
    }
    send-message-throttles = {
      namespace   = "AWS/Lambda", metric = "Throttles", stat = "Sum", threshold = 0
      dimensions  = { FunctionName = var.function_names.send_message }
      description = "send_message was throttled (account or reserved concurrency): delivery is delayed."
    }
    client-routes-errors = {
      namespace   = "AWS/Lambda", metric = "Errors", stat = "Sum", threshold = 0
      dimensions  = { FunctionName = var.function_names.client_routes }
      description = "client_routes (the sendMessage and resume routes) failed: clients could not send, or resume what they missed."
    }
    authorizer-errors = {
      namespace   = "AWS/Lambda", metric = "Errors", stat = "Sum", threshold = 0
      dimensions  = { FunctionName = var.function_names.authorizer }
      description = "The $connect authorizer crashed or timed out: clients could not connect (a Deny is not an error)."
    }
    stage-integration-errors = {
      namespace   = "AWS/ApiGateway", metric = "IntegrationError", stat = "Sum", threshold = 0, dimensions = local.stage_dimensions
      description = "A route's Lambda answered with an error (the WebSocket equivalent of 5xx)."
    }
    stage-execution-errors = {
      namespace   = "AWS/ApiGateway", metric = "ExecutionError", stat = "Sum", threshold = 0, dimensions = local.stage_dimensions
      description = "API Gateway failed to run an integration."
    }
    stage-client-errors = {
      namespace   = "AWS/ApiGateway", metric = "ClientError", stat = "Sum", threshold = var.thresholds.client_errors_per_5min
      dimensions  = local.stage_dimensions
      description = "Many 4xx: refused handshakes (bad or revoked tokens), throttled routes - or an attack."
    }
    failed-records = {
      namespace   = var.metrics_namespace, metric = "FailedRecords", stat = "Sum", threshold = 0, dimensions = local.hermes_dimensions
      description = "send_message reported records as failed (malformed, or posts that kept failing): they are retried, then parked in a DLQ."
    }
    stale-connections = {
      namespace   = var.metrics_namespace, metric = "StaleConnectionsRemoved", stat = "Sum"
      threshold   = var.thresholds.stale_removed_per_5min, dimensions = local.hermes_dimensions
      description = "Many posts hit connections that were gone without a $disconnect: check the $disconnect route and its function."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.create_alarms ? local.alarms : {}

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.stat
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = var.tags
}

locals {
  region = data.aws_region.current.id # the region name (5.x and 6.x; `name` is deprecated in 6.x)

  functions = [for key in ["authorizer", "client_routes", "connect", "disconnect", "send_message"] : var.function_names[key]]
  widgets = [
    {
      title   = "Connections and messages (API Gateway)"
      metrics = [for m in ["ConnectCount", "MessageCount"] : ["AWS/ApiGateway", m, "ApiId", var.api_id, "Stage", var.stage_name]]
    },
    {
      title   = "API Gateway errors"
      metrics = [for m in ["IntegrationError", "ExecutionError", "ClientError"] : ["AWS/ApiGateway", m, "ApiId", var.api_id, "Stage", var.stage_name]]
    },
    {
      title = "Delivery (Hermes)"
      metrics = [
        for m in ["Delivered", "StaleConnectionsRemoved", "PostsToConnecting", "FailedRecords", "ChunkJobs", "ReplayedMessages", "Resumes", "RefusedResumes", "RouteMessages", "RefusedRouteMessages"] :
        [var.metrics_namespace, m, "service", var.name]
      ]
    },
    {
      title   = "Queues: oldest message (s)"
      metrics = [for q in values(var.queues) : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q]]
    },
    {
      title   = "Lambda errors and throttles"
      metrics = flatten([for f in local.functions : [["AWS/Lambda", "Errors", "FunctionName", f], ["AWS/Lambda", "Throttles", "FunctionName", f]]])
    },
    {
      title   = "Lambda duration p99 (ms)"
      metrics = [for f in local.functions : ["AWS/Lambda", "Duration", "FunctionName", f, { stat = "p99" }]]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for index, widget in local.widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = local.region
          stat    = "Sum"
          period  = 300
          view    = "timeSeries"
          metrics = widget.metrics
        }
      }
    ]
  })
}
