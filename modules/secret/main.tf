# The JWT signing secret (HMAC key shared by the backend that issues tokens and the $connect
# authorizer that checks them). Either created here (Secrets Manager or SSM SecureString) or an
# existing one given by ARN.
#
# Created secrets take their value from var.value, or, when it is null, a generated one. A generated value
# is written through the write-only argument (value_wo / secret_string_wo): it never enters plan or state,
# and Terraform never compares it with what is stored, so rotating it out of band (put-secret-value /
# put-parameter --overwrite) is never reverted. Bumping var.value_version writes a newly generated one.
#
# Why uuid() and not the ephemeral aws_secretsmanager_random_password: Terraform 1.11's test framework
# refuses any configuration holding an ephemeral resource under a mocked provider ("No ephemeral resource
# types in mock providers", even with count = 0), which would end every `terraform test` of this module.
# uuid() draws 128 bits from crypto/rand (hashicorp/go-uuid); its value is written only when the version
# changes, so its being new on every evaluation does no harm in a write-only argument. Once the project's
# Terraform mocks ephemeral resources, the ephemeral generator is a drop-in replacement for local.generated.

locals {
  ssm            = var.store == "ssm"
  secretsmanager = var.store == "secretsmanager"
  # The value is sensitive; whether it was given is not (count may not depend on sensitive values).
  generate = var.create && nonsensitive(var.value == null)
  provided = var.create && !local.generate

  # generated_length hex characters, 4 random bits each (generated_length / 32 UUIDs of 128 bits).
  generated = sensitive(substr(join("", [for i in range(ceil(var.generated_length / 32)) : replace(uuid(), "-", "")]), 0, var.generated_length))

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

# --- Switching write_only ------------------------------------------------------------------------

# Whether a provided value is written write-only. Changing it replaces aws_ssm_parameter.provided /
# aws_secretsmanager_secret_version.provided (replace_triggered_by) instead of updating them in place: in
# place, aws provider 5.100 switches an SSM parameter from value_wo back to value with a plan that never
# settles (value stays out of the state, every apply writes it again), and 5.99 through 6.6 can fail the
# switch to value_wo with "Provider produced inconsistent final plan ... .has_value_wo"
# (hashicorp/terraform-provider-aws#42840). A replacement is a create, which has neither problem. Only the
# mode is held here, never the value. Environments created before this resource existed get it created on
# their next apply, which replaces nothing.
resource "terraform_data" "write_only" {
  count = local.provided ? 1 : 0

  input = var.write_only
}

# --- SSM Parameter Store -------------------------------------------------------------------------

resource "aws_ssm_parameter" "generated" {
  #checkov:skip=CKV_AWS_337:SecureString is always encrypted; a customer managed key is optional (var.kms_key_arn), else alias/aws/ssm.
  count = local.ssm && local.generate ? 1 : 0

  name        = var.name
  description = var.description
  type        = "SecureString"
  key_id      = var.kms_key_arn

  value_wo         = local.generated
  value_wo_version = var.value_version

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.name != null
      error_message = "An SSM parameter needs a name."
    }
  }
}

resource "aws_ssm_parameter" "provided" {
  #checkov:skip=CKV_AWS_337:SecureString is always encrypted; a customer managed key is optional (var.kms_key_arn), else alias/aws/ssm.
  count = local.ssm && local.provided ? 1 : 0

  name        = var.name
  description = var.description
  type        = "SecureString"
  key_id      = var.kms_key_arn

  # Write-only: the value never enters plan or state; re-sent when the version changes.
  value            = var.write_only ? null : var.value
  value_wo         = var.write_only ? var.value : null
  value_wo_version = var.write_only ? var.value_version : null

  tags = var.tags

  lifecycle {
    # A change of write_only replaces the parameter (terraform_data.write_only): destroy, then create under
    # the same name, since a second parameter of that name cannot exist. The key is missing between the two
    # calls (docs/terraform.md "Switching jwt_secret_write_only").
    replace_triggered_by = [terraform_data.write_only]

    precondition {
      condition     = var.name != null
      error_message = "An SSM parameter needs a name."
    }
  }
}

# --- Secrets Manager -----------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:An HMAC signing key cannot be rotated by a Lambda rotator without a dual-key rollout in the token issuer; rotate deliberately (value_version / put-secret-value).
  #checkov:skip=CKV_AWS_149:A customer managed key is optional (var.kms_key_arn); without it the secret uses aws/secretsmanager.
  count = local.secretsmanager && var.create ? 1 : 0

  # A deleted secret keeps its name for the recovery window: name_prefix (a unique suffix) lets a destroyed
  # environment be created again at once.
  name                    = var.name
  name_prefix             = var.name == null ? var.name_prefix : null
  description             = var.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.name == null) != (var.name_prefix == null)
      error_message = "A Secrets Manager secret needs exactly one of name and name_prefix."
    }
  }
}

resource "aws_secretsmanager_secret_version" "generated" {
  count = local.secretsmanager && local.generate ? 1 : 0

  secret_id                = aws_secretsmanager_secret.this[0].id
  secret_string_wo         = local.generated
  secret_string_wo_version = var.value_version
}

resource "aws_secretsmanager_secret_version" "provided" {
  count = local.secretsmanager && local.provided ? 1 : 0

  secret_id                = aws_secretsmanager_secret.this[0].id
  secret_string            = var.write_only ? null : var.value
  secret_string_wo         = var.write_only ? var.value : null
  secret_string_wo_version = var.write_only ? var.value_version : null

  lifecycle {
    # A change of write_only writes a new version (terraform_data.write_only). The key stays readable: the
    # provider never removes AWSCURRENT from the version it deletes, and PutSecretValue moves it to the new one.
    replace_triggered_by = [terraform_data.write_only]
  }
}
