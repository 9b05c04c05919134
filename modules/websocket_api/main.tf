# WebSocket API: REQUEST authorizer on $connect, Lambda proxy routes, a MOCK "ping" route that answers
# {"type":"pong"} and a one-way MOCK "keepalive" route, neither invoking a Lambda, a stage with throttling and JSON access logs, and an
# explicit deployment that is replaced whenever a route, integration or the authorizer changes.

locals {
  # The one registry of Lambda routes (docs/contract.md "WebSocket API"): name => route key, function, and
  # whether the route is two-way (the function's answer goes back to the sender). A disabled route does not
  # exist at all: API Gateway answers such frames with "Forbidden".
  lambda_routes = {
    for name, route in {
      connect    = { key = "$connect", function = "connect", two_way = false, enabled = true }
      disconnect = { key = "$disconnect", function = "disconnect", two_way = false, enabled = true }
      # the clients' routes run in their own function: nothing a client sends takes send_message's concurrency
      send_message = { key = "sendMessage", function = "client_routes", two_way = true, enabled = var.client_messages_enabled }
      resume       = { key = "resume", function = "client_routes", two_way = true, enabled = var.resume_enabled }
      # rooms on a live socket: join with a grant from the backend, leave
      join  = { key = "join", function = "client_routes", two_way = true, enabled = true }
      leave = { key = "leave", function = "client_routes", two_way = true, enabled = true }
    } : name => route if route.enabled
  }

  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    extendedRequestId  = "$context.extendedRequestId"
    requestTime        = "$context.requestTime"
    connectionId       = "$context.connectionId"
    eventType          = "$context.eventType"
    routeKey           = "$context.routeKey"
    status             = "$context.status"
    sourceIp           = "$context.identity.sourceIp"
    error              = "$context.error.message"
    integrationError   = "$context.integration.error"
    integrationStatus  = "$context.integration.status"
    integrationLatency = "$context.integration.latency"
    authorizerError    = "$context.authorizer.error"
  })
}

resource "aws_apigatewayv2_api" "this" {
  name                       = var.name
  description                = var.description
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"

  tags = var.tags
}

resource "aws_apigatewayv2_authorizer" "this" {
  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-authorizer"
  authorizer_type  = "REQUEST"
  authorizer_uri   = var.functions.authorizer.invoke_arn
  identity_sources = var.identity_sources
}

resource "aws_apigatewayv2_integration" "lambda" {
  for_each = local.lambda_routes

  api_id             = aws_apigatewayv2_api.this.id
  description        = "${each.value.key} -> ${var.functions[each.value.function].function_name}"
  integration_type   = "AWS_PROXY"
  integration_method = "POST"
  integration_uri    = var.functions[each.value.function].invoke_arn
}

resource "aws_apigatewayv2_route" "lambda" {
  #checkov:skip=CKV_AWS_309:WebSocket APIs authorize only on $connect (API Gateway rejects authorizers on other routes); $disconnect and message routes run on the already-authorized connection.
  for_each = local.lambda_routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value.key
  target             = "integrations/${aws_apigatewayv2_integration.lambda[each.key].id}"
  authorization_type = each.value.key == "$connect" ? "CUSTOM" : "NONE"
  authorizer_id      = each.value.key == "$connect" ? aws_apigatewayv2_authorizer.this.id : null
  # two-way routes send the function's answer back (hermes.sent / hermes.refused / hermes.recovery)
  route_response_selection_expression = each.value.two_way ? "$default" : null
}

resource "aws_apigatewayv2_route_response" "lambda" {
  for_each = { for name, route in local.lambda_routes : name => route if route.two_way }

  api_id             = aws_apigatewayv2_api.this.id
  route_id           = aws_apigatewayv2_route.lambda[each.key].id
  route_response_key = "$default"
}

# ping: MOCK integration + integration response + route response = two-way route answering {"type":"pong"}.
resource "aws_apigatewayv2_integration" "ping" {
  api_id                        = aws_apigatewayv2_api.this.id
  description                   = "ping -> MOCK pong"
  integration_type              = "MOCK"
  template_selection_expression = "\\$default"
  request_templates = {
    "$default" = jsonencode({ statusCode = 200 })
  }
}

resource "aws_apigatewayv2_integration_response" "ping" {
  api_id                        = aws_apigatewayv2_api.this.id
  integration_id                = aws_apigatewayv2_integration.ping.id
  integration_response_key      = "$default"
  template_selection_expression = "\\$default"
  response_templates = {
    "$default" = jsonencode({ type = "pong" })
  }
}

resource "aws_apigatewayv2_route" "ping" {
  #checkov:skip=CKV_AWS_309:WebSocket APIs authorize only on $connect; ping runs on the already-authorized connection.
  api_id                              = aws_apigatewayv2_api.this.id
  route_key                           = "ping"
  target                              = "integrations/${aws_apigatewayv2_integration.ping.id}"
  authorization_type                  = "NONE"
  route_response_selection_expression = "$default"
}

resource "aws_apigatewayv2_route_response" "ping" {
  api_id             = aws_apigatewayv2_api.this.id
  route_id           = aws_apigatewayv2_route.ping.id
  route_response_key = "$default"
}

# keepalive: MOCK integration and NO route response = one-way. API Gateway bills 1 message for it (the ping
# route bills 2: the ping and its pong); the JS client sends it to keep the 10-minute idle timer from firing.
resource "aws_apigatewayv2_integration" "keepalive" {
  api_id                        = aws_apigatewayv2_api.this.id
  description                   = "keepalive -> MOCK, no answer"
  integration_type              = "MOCK"
  template_selection_expression = "\\$default"
  request_templates = {
    "$default" = jsonencode({ statusCode = 200 })
  }
}

resource "aws_apigatewayv2_route" "keepalive" {
  #checkov:skip=CKV_AWS_309:WebSocket APIs authorize only on $connect; keepalive runs on the already-authorized connection.
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "keepalive"
  target             = "integrations/${aws_apigatewayv2_integration.keepalive.id}"
  authorization_type = "NONE"
}

# Invoke permissions, each scoped to exactly one authorizer or one route of this stage.
resource "aws_lambda_permission" "authorizer" {
  statement_id  = "AllowApiGatewayAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = var.functions.authorizer.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.this.id}"
}

resource "aws_lambda_permission" "route" {
  for_each = local.lambda_routes

  statement_id  = "AllowApiGatewayRoute-${replace(each.value.key, "$", "")}"
  action        = "lambda:InvokeFunction"
  function_name = var.functions[each.value.function].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/${var.stage_name}/${each.value.key}"
}

resource "aws_apigatewayv2_deployment" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  description = "${var.name} (routes/integrations/authorizer ${substr(local.deployment_hash, 0, 12)})"

  triggers = {
    redeployment = local.deployment_hash
  }

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # Everything a deployment snapshots. Lambda code changes need no redeploy (proxy integrations call the
  # unqualified function), so only API-side configuration is hashed.
  deployment_hash = sha1(jsonencode({
    authorizer = [
      aws_apigatewayv2_authorizer.this.id,
      aws_apigatewayv2_authorizer.this.authorizer_uri,
      aws_apigatewayv2_authorizer.this.identity_sources,
    ]
    integrations = {
      for k, i in aws_apigatewayv2_integration.lambda : k => [i.id, i.integration_type, i.integration_uri]
    }
    routes = {
      for k, r in aws_apigatewayv2_route.lambda : k => [
        r.id, r.route_key, r.target, r.authorization_type, r.authorizer_id, r.route_response_selection_expression
      ]
    }
    route_responses = { for k, r in aws_apigatewayv2_route_response.lambda : k => r.id }
    ping = [
      aws_apigatewayv2_integration.ping.id,
      aws_apigatewayv2_integration.ping.request_templates,
      aws_apigatewayv2_integration_response.ping.id,
      aws_apigatewayv2_integration_response.ping.response_templates,
      aws_apigatewayv2_route.ping.id,
      aws_apigatewayv2_route.ping.target,
      aws_apigatewayv2_route_response.ping.id,
    ]
    keepalive = [
      aws_apigatewayv2_integration.keepalive.id,
      aws_apigatewayv2_integration.keepalive.request_templates,
      aws_apigatewayv2_route.keepalive.id,
      aws_apigatewayv2_route.keepalive.target,
    ]
  }))
}

# Stage logging needs API Gateway's account-level CloudWatch role in this region (modules/account); the
# caller decides (access_logs_enabled, logging_level) and checks that the role is there.
locals {
  execution_logs_enabled = var.logging_level != "OFF"
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_in_days (default 30 days to keep costs low); set 365+ where compliance requires it.
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (var.log_kms_key_arn); log groups are always encrypted at rest by CloudWatch Logs.
  count = var.access_logs_enabled ? 1 : 0

  name              = "/aws/apigateway/${var.name}/${var.stage_name}/access"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

# API Gateway writes execution logs to this group and would create it itself, without retention (kept
# forever): created here first, with the module's retention.
resource "aws_cloudwatch_log_group" "execution" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_in_days (default 30 days to keep costs low); set 365+ where compliance requires it.
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (var.log_kms_key_arn); log groups are always encrypted at rest by CloudWatch Logs.
  count = local.execution_logs_enabled ? 1 : 0

  name              = "API-Gateway-Execution-Logs_${aws_apigatewayv2_api.this.id}/${var.stage_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP backends; every integration here is Lambda (AWS_PROXY) or MOCK.
  api_id        = aws_apigatewayv2_api.this.id
  name          = var.stage_name
  description   = "${var.name} stage ${var.stage_name}"
  deployment_id = aws_apigatewayv2_deployment.this.id

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    logging_level            = var.logging_level
    data_trace_enabled       = var.data_trace_enabled
    detailed_metrics_enabled = var.detailed_metrics_enabled
  }

  # Clients' own messages, resumes, joins and leaves get tighter stage-wide throttles than the default routes:
  # each costs a Lambda invocation (a resume replays up to max_replay_bytes, a join writes a transaction).
  dynamic "route_settings" {
    for_each = merge(
      var.client_messages_enabled ? { sendMessage = var.client_message_throttle } : {},
      var.resume_enabled ? { resume = var.resume_throttle } : {},
      { join = var.join_throttle, leave = var.join_throttle },
    )
    content {
      route_key                = route_settings.key
      throttling_burst_limit   = route_settings.value.burst_limit
      throttling_rate_limit    = route_settings.value.rate_limit
      logging_level            = var.logging_level
      data_trace_enabled       = var.data_trace_enabled
      detailed_metrics_enabled = var.detailed_metrics_enabled
    }
  }

  dynamic "access_log_settings" {
    for_each = aws_cloudwatch_log_group.access
    content {
      destination_arn = access_log_settings.value.arn
      format          = local.access_log_format
    }
  }

  tags = var.tags

  # The execution log group exists before API Gateway first writes to it.
  depends_on = [aws_cloudwatch_log_group.execution]
}

# Before modules/account, this module could own API Gateway's account setting and its role
# (create_cloudwatch_role). Upgrading releases them from the environment's state instead of destroying
# them: the setting is shared by every API of the region (and provider 6.x resets it on destroy). Record
# the role with examples/account (existing_role_arn) or import it there.
removed {
  from = aws_api_gateway_account.this

  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_iam_role_policy.cloudwatch

  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_iam_role.cloudwatch

  lifecycle {
    destroy = false
  }
}
