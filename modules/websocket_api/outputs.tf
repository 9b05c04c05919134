output "api_id" {
  description = "WebSocket API id."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "The API's own endpoint as API Gateway returns it (wss://<id>.execute-api.<region>.<partition's domain>)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "execution_arn" {
  description = "API execution ARN (arn:<partition>:execute-api:<region>:<account>:<id>)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "stage_name" {
  description = "Stage name."
  value       = aws_apigatewayv2_stage.this.name
}

output "stage_arn" {
  description = "Stage ARN."
  value       = aws_apigatewayv2_stage.this.arn
}

output "websocket_url" {
  description = "wss:// URL of the stage on the API's own endpoint."
  value       = "wss://${trimprefix(trimprefix(aws_apigatewayv2_api.this.api_endpoint, "wss://"), "https://")}/${aws_apigatewayv2_stage.this.name}"
}

output "management_endpoint" {
  description = "Endpoint of the @connections management API for this stage."
  value       = "https://${trimprefix(trimprefix(aws_apigatewayv2_api.this.api_endpoint, "wss://"), "https://")}/${aws_apigatewayv2_stage.this.name}"
}

output "authorizer_id" {
  description = "Id of the $connect REQUEST authorizer."
  value       = aws_apigatewayv2_authorizer.this.id
}

output "route_ids" {
  description = "Route ids keyed by route key."
  value = merge(
    { for k, r in aws_apigatewayv2_route.lambda : r.route_key => r.id },
    { (aws_apigatewayv2_route.ping.route_key) = aws_apigatewayv2_route.ping.id },
    { (aws_apigatewayv2_route.keepalive.route_key) = aws_apigatewayv2_route.keepalive.id },
  )
}

output "deployment_id" {
  description = "Current deployment id."
  value       = aws_apigatewayv2_deployment.this.id
}

output "access_log_group_name" {
  description = "Access log group of the stage; null when access logs are off."
  value       = try(aws_cloudwatch_log_group.access[0].name, null)
}

output "execution_log_group_name" {
  description = "Execution log group of the stage (API-Gateway-Execution-Logs_<api>/<stage>); null when execution logging is OFF."
  value       = try(aws_cloudwatch_log_group.execution[0].name, null)
}

output "lambda_permission_source_arns" {
  description = "source_arn of each invoke permission, keyed authorizer, connect, disconnect, send_message."
  value = merge(
    { authorizer = aws_lambda_permission.authorizer.source_arn },
    { for k, p in aws_lambda_permission.route : k => p.source_arn },
  )
}

output "route_functions" {
  description = "The function each Lambda route invokes, keyed by route name (connect, disconnect, send_message, resume, join, leave)."
  value       = { for name, route in local.lambda_routes : name => var.functions[route.function].function_name }
}

output "stage_route_settings" {
  description = "The stage's per-route settings (throttles of the clients' routes)."
  value       = aws_apigatewayv2_stage.this.route_settings
}
