output "websocket_url" {
  description = "wss:// URL on the custom domain."
  value       = module.hermes.websocket_url
}

output "custom_domain_name" {
  description = "Custom host name of this environment."
  value       = module.hermes.custom_domain_name
}

output "hermes_config" {
  description = "Configuration for the Hermes SDK/CLI."
  value       = module.hermes.hermes_config
}

output "publisher_role_arn" {
  description = "Role a backend can assume to publish notifications."
  value       = aws_iam_role.publisher.arn
}

output "zone_id" {
  description = "Hosted zone of the custom domain; null without one."
  value       = try(local.zone.zone_id, null)
}

output "api_id" {
  description = "WebSocket API id."
  value       = module.hermes.api_id
}

output "stage_name" {
  description = "Stage name."
  value       = module.hermes.stage_name
}

output "access_log_group_name" {
  description = "Access log group of the stage; null when access logs are off."
  value       = module.hermes.access_log_group_name
}

output "execution_log_group_name" {
  description = "Execution log group of the stage; null when execution logging is OFF."
  value       = module.hermes.execution_log_group_name
}

output "management_endpoint" {
  description = "@connections endpoint."
  value       = module.hermes.management_endpoint
}

output "queue_url" {
  description = "Work queue URL."
  value       = module.hermes.queue_url
}

output "dlq_url" {
  description = "Dead-letter queue URL."
  value       = module.hermes.dlq_url
}

output "connections_table_name" {
  description = "Connections table."
  value       = module.hermes.connections_table_name
}

output "tokens_table_name" {
  description = "Tokens table."
  value       = module.hermes.tokens_table_name
}

output "jwt_secret_arn" {
  description = "ARN of the JWT secret."
  value       = module.hermes.jwt_secret_arn
}

output "function_names" {
  description = "Lambda function names."
  value       = module.hermes.function_names
}

output "alarm_names" {
  description = "CloudWatch alarms of the deployment."
  value       = module.hermes.alarm_names
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the deployment."
  value       = module.hermes.dashboard_name
}

output "token_function_name" {
  description = "The token function: backends in any language invoke it for tokens (docs/contract.md \"Token function\")."
  value       = module.hermes.token_function_name
}

output "token_caller_policy_json" {
  description = "IAM policy for a backend that asks the token function: lambda:InvokeFunction on it, nothing else."
  value       = module.hermes.token_caller_policy_json
}
