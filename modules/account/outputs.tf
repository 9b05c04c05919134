output "cloudwatch_role_arn" {
  description = "ARN of API Gateway's CloudWatch role in this region (created here, or existing_role_arn)."
  value       = try(local.role_arn, null)
}

output "cloudwatch_role_name" {
  description = "Name of the role created here; null when an existing role is recorded."
  value       = try(aws_iam_role.cloudwatch[0].name, null)
}

output "marker_parameter_name" {
  description = "SSM parameter the Hermes module reads to know that stage logging is possible."
  value       = try(aws_ssm_parameter.marker.name, null)
}
