output "arn" {
  description = "ARN of the parameter or secret."
  value       = local.arn
}

output "id" {
  description = "What readers pass to the API: the parameter name (ssm) or the secret ARN (secretsmanager)."
  value       = local.id
}

output "source" {
  description = "ssm or secretsmanager."
  value       = var.store
}

output "read_actions" {
  description = "IAM actions needed to read the secret."
  value       = var.store == "ssm" ? ["ssm:GetParameter"] : ["secretsmanager:GetSecretValue"]
}

output "kms_key_arn" {
  description = "Customer managed key protecting the secret, if any."
  value       = var.kms_key_arn
}

output "value" {
  description = "The provided value of a created secret; null for a generated value (never known to Terraform) or an existing secret."
  value       = local.provided ? var.value : null
  sensitive   = true
}
