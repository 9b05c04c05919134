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
  description = "The secret value when known to Terraform (provided or generated); null for an existing secret."
  value       = var.create ? local.value : null
  sensitive   = true
}
