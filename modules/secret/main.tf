# The JWT signing secret (HMAC key shared by the backend that issues tokens and the $connect
# authorizer that checks them). Either created here (SSM SecureString or Secrets Manager) or an
# existing one given by ARN.
#
# Created secrets take their value from var.value, or, when it is null, from Secrets Manager's
# GetRandomPassword (the aws provider's only generator, so no random provider is needed). A generated
# value is written once and then ignored by Terraform (ignore_changes), so rotating it out of band
# (put-parameter --overwrite / put-secret-value) is never reverted by the next apply.

locals {
  ssm            = var.store == "ssm"
  secretsmanager = var.store == "secretsmanager"
  # The value is sensitive; whether it was given is not (count may not depend on sensitive values).
  generate = var.create && nonsensitive(var.value == null)
  provided = var.create && !local.generate

  generated_value = local.generate ? data.aws_secretsmanager_random_password.this[0].random_password : null
  # The value as stored. For a generated secret this is the resource's value (written once, refreshed
  # from AWS), never the generator's output, which changes on every read.
  stored_generated_value = (local.generate
    ? (local.ssm ? aws_ssm_parameter.generated[0].value : aws_secretsmanager_secret_version.generated[0].secret_string)
    : null
  )
  value = local.generate ? local.stored_generated_value : var.value

  # Existing SSM parameter: ARN "arn:...:parameter/a/b" names "/a/b", "arn:...:parameter/a" names "a".
  existing_ssm_path = var.existing_arn == null ? "" : element(split(":parameter/", var.existing_arn), 1)
  existing_ssm_name = length(split("/", local.existing_ssm_path)) > 1 ? "/${local.existing_ssm_path}" : local.existing_ssm_path

  created_ssm = local.ssm && var.create ? (local.generate ? aws_ssm_parameter.generated[0] : aws_ssm_parameter.provided[0]) : null

  arn = (var.create
    ? (local.ssm ? local.created_ssm.arn : aws_secretsmanager_secret.this[0].arn)
    : var.existing_arn
  )
  # What the authorizer / SDK pass to GetParameter (name) or GetSecretValue (ARN).
  id = (var.create
    ? (local.ssm ? local.created_ssm.name : aws_secretsmanager_secret.this[0].arn)
    : (local.ssm ? local.existing_ssm_name : var.existing_arn)
  )
}

data "aws_secretsmanager_random_password" "this" {
  count = local.generate ? 1 : 0

  password_length     = var.generated_length
  exclude_punctuation = true
  include_space       = false
}

# --- SSM Parameter Store -------------------------------------------------------------------------

resource "aws_ssm_parameter" "generated" {
  #checkov:skip=CKV_AWS_337:SecureString is always encrypted; a customer managed key is optional (var.kms_key_arn), else alias/aws/ssm.
  count = local.ssm && local.generate ? 1 : 0

  name        = var.name
  description = var.description
  type        = "SecureString"
  key_id      = var.kms_key_arn
  value       = local.generated_value

  tags = var.tags

  lifecycle {
    # Written once; later reads of the generator must not rotate the key behind the backend's back.
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "provided" {
  #checkov:skip=CKV_AWS_337:SecureString is always encrypted; a customer managed key is optional (var.kms_key_arn), else alias/aws/ssm.
  count = local.ssm && local.provided ? 1 : 0

  name        = var.name
  description = var.description
  type        = "SecureString"
  key_id      = var.kms_key_arn

  # Write-only (Terraform >= 1.11): the value never enters plan or state; re-sent when the version changes.
  value            = var.write_only ? null : var.value
  value_wo         = var.write_only ? var.value : null
  value_wo_version = var.write_only ? var.value_version : null

  tags = var.tags
}

# --- Secrets Manager -----------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:An HMAC signing key cannot be rotated by a Lambda rotator without a dual-key rollout in the token issuer; rotate deliberately (value_version / put-secret-value).
  #checkov:skip=CKV_AWS_149:A customer managed key is optional (var.kms_key_arn); without it the secret uses aws/secretsmanager.
  count = local.secretsmanager && var.create ? 1 : 0

  name                    = var.name
  description             = var.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "generated" {
  count = local.secretsmanager && local.generate ? 1 : 0

  secret_id     = aws_secretsmanager_secret.this[0].id
  secret_string = local.generated_value

  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret_version" "provided" {
  count = local.secretsmanager && local.provided ? 1 : 0

  secret_id                = aws_secretsmanager_secret.this[0].id
  secret_string            = var.write_only ? null : var.value
  secret_string_wo         = var.write_only ? var.value : null
  secret_string_wo_version = var.write_only ? var.value_version : null
}
