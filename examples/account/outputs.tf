output "cloudwatch_role_arn" {
  description = "API Gateway's CloudWatch role in this region."
  value       = module.account.cloudwatch_role_arn
}

output "marker_parameter_name" {
  description = "SSM parameter the Hermes module reads (stage_access_logs = \"auto\" / \"on\")."
  value       = module.account.marker_parameter_name
}
