output "function_name" {
  description = "Lambda function name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Lambda function ARN."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "Invoke ARN for API Gateway integrations."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_arn" {
  description = "Execution role ARN."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Execution role name."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Log group name."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "Log group ARN."
  value       = aws_cloudwatch_log_group.this.arn
}

output "policy_json" {
  description = "The inline least-privilege policy document (JSON)."
  value       = aws_iam_role_policy.this.policy
}

output "environment_variables" {
  description = "Environment variables of the function (sensitive when the JWT secret is passed in plaintext)."
  value       = var.environment_variables
}
