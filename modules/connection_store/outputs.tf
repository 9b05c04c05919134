output "connections_table_name" {
  description = "Connections table name."
  value       = aws_dynamodb_table.connections.name
}

output "connections_table_arn" {
  description = "Connections table ARN."
  value       = aws_dynamodb_table.connections.arn
}

output "tokens_table_name" {
  description = "Tokens table name."
  value       = aws_dynamodb_table.tokens.name
}

output "tokens_table_arn" {
  description = "Tokens table ARN."
  value       = aws_dynamodb_table.tokens.arn
}

output "history_table_name" {
  description = "History table name (null when history is off)."
  value       = try(aws_dynamodb_table.history[0].name, null)
}

output "history_table_arn" {
  description = "History table ARN (null when history is off)."
  value       = try(aws_dynamodb_table.history[0].arn, null)
}
