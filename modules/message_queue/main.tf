# Work queue for send_message: backend publishers SendMessage here, Lambda consumes it through an
# event source mapping with partial batch responses; poison messages go to the DLQ after
# max_receive_count receives.

locals {
  use_kms = var.kms_key_arn != null
  suffix  = var.fifo ? ".fifo" : ""
}

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.dlq_name}${local.suffix}"
  fifo_queue                        = var.fifo
  message_retention_seconds         = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? var.kms_data_key_reuse_period_seconds : null

  tags = var.tags
}

resource "aws_sqs_queue" "this" {
  name       = "${var.name}${local.suffix}"
  fifo_queue = var.fifo
  # FIFO: a publisher need not set MessageDeduplicationId (the body's hash is used; the SDK sets the message
  # id); high throughput mode (per message group: every stream its own group) instead of 300 sends/s a queue
  content_based_deduplication       = var.fifo ? true : null
  deduplication_scope               = var.fifo ? "messageGroup" : null
  fifo_throughput_limit             = var.fifo ? "perMessageGroupId" : null
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  receive_wait_time_seconds         = 20
  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? var.kms_data_key_reuse_period_seconds : null

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = aws_sqs_queue.this.arn
  function_name                      = var.function_arn
  enabled                            = var.event_source_mapping_enabled
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = var.maximum_concurrency == null ? [] : [var.maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }
}

# Only the named roles may write to this queue: an explicit Deny wins over every Allow, so an administrator, a CI
# role or a wildcard policy (sqs:SendMessage on hermes-*) in the same account cannot write to it either.
resource "aws_sqs_queue_policy" "senders" {
  count = var.sender_role_arns == null ? 0 : 1

  queue_url = aws_sqs_queue.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([{
      Sid       = "OnlyTheseRolesSend"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.this.arn
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = var.sender_role_arns } }
      }], length(var.consumer_role_arns) == 0 ? [] : [{
      Sid       = "OnlyTheseRolesConsume"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]
      Resource  = aws_sqs_queue.this.arn
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = var.consumer_role_arns } }
    }])
  })
}
