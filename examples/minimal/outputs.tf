output "websocket_url" {
  description = "Clients connect to <websocket_url>?token=<JWT>."
  value       = module.hermes.websocket_url
}

output "hermes_config" {
  description = "Configuration for the Hermes SDK/CLI."
  value       = module.hermes.hermes_config
}

output "publisher_policy_json" {
  description = "IAM policy for backends that publish notifications."
  value       = module.hermes.publisher_policy_json
}

output "token_issuer_policy_json" {
  description = "IAM policy for the backend part that issues and revokes connect tokens."
  value       = module.hermes.token_issuer_policy_json
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
  description = "Access log group of the stage; null until examples/account has been applied in this account and region."
  value       = module.hermes.access_log_group_name
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

output "jwt_secret_id" {
  description = "ARN of the JWT secret (Secrets Manager)."
  value       = module.hermes.jwt_secret_id
}

output "function_names" {
  description = "Lambda function names."
  value       = module.hermes.function_names
}

output "token_function_name" {
  description = "The token function: backends in any language invoke it for tokens (docs/contract.md \"Token function\")."
  value       = module.hermes.token_function_name
}

output "token_caller_policy_json" {
  description = "IAM policy for a backend that asks the token function: lambda:InvokeFunction on it, nothing else."
  value       = module.hermes.token_caller_policy_json
}
