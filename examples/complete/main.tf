# What a consumer writes. The tests and `hermes local up` apply a copy of this example against a local
# AWS (moto): they add a provider override (hermes_local.terraform) with its endpoints and fake credentials.
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "hermes"
      ManagedBy = "terraform"
    }
  }
}

# --- DNS zone of the custom domain: the user's own, existing and delegated -----------------------------
# ACM validates the certificate through a record in this zone, which only works when the zone is delegated
# from its parent; an example-made zone never is (the validation would wait 75 minutes, then fail). Without
# a zone the example runs without the custom domain.

data "aws_route53_zone" "this" {
  count = var.domain_zone_id == null && var.domain_zone_name != null ? 1 : 0

  name         = var.domain_zone_name
  private_zone = false
}

data "aws_route53_zone" "by_id" {
  count = var.domain_zone_id != null ? 1 : 0

  zone_id = var.domain_zone_id
}

data "aws_region" "current" {}

locals {
  zone      = try(data.aws_route53_zone.by_id[0], data.aws_route53_zone.this[0], null)
  zone_name = try(trimsuffix(local.zone.name, "."), null)
}

# --- JWT signing secret managed outside the module (Secrets Manager), passed by ARN -------------------

# The generated key (128 hex characters = 4 x 128 random bits from uuid()) goes through the write-only
# secret_string_wo: it never enters plan or state. (Not the ephemeral aws_secretsmanager_random_password:
# Terraform 1.11's `terraform test` cannot mock ephemeral resources; see modules/secret.)
locals {
  jwt_secret = sensitive(join("", [for i in range(4) : replace(uuid(), "-", "")]))
}

resource "aws_secretsmanager_secret" "jwt" {
  #checkov:skip=CKV2_AWS_57:The HMAC signing key is rotated deliberately together with the token issuer, not by a rotation Lambda.
  #checkov:skip=CKV_AWS_149:Example; pass a customer managed key (kms_key_id) in production if your policy requires one.
  # name_prefix: a deleted secret keeps its name for its recovery window; a unique suffix lets a destroyed
  # environment be created again at once.
  name_prefix             = "hermes-example/${terraform.workspace}/jwt-secret-"
  description             = "Hermes JWT signing secret (example)"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id                = aws_secretsmanager_secret.jwt.id
  secret_string_wo         = local.jwt_secret
  secret_string_wo_version = 1 # written once; rotate out of band, or bump to write a new generated key
}

# --- Where alarms go ------------------------------------------------------------------------------------

resource "aws_sns_topic" "oncall" {
  name              = "hermes-example-${terraform.workspace}-oncall"
  kms_master_key_id = "alias/aws/sns"
}

# --- Hermes --------------------------------------------------------------------------------------------

module "hermes" {
  source = "../.."

  name          = "hermes"
  environment   = var.environment
  artifacts_dir = var.artifacts_dir
  tags          = { Example = "complete" }

  runtime      = "python3.13"
  architecture = "arm64"
  function_config = {
    authorizer   = { memory_size = 1024 }
    send_message = { memory_size = 1024, timeout = 30 }
  }
  tracing_mode          = "Active"
  log_level             = "DEBUG"
  log_retention_in_days = 14

  # Secret: existing Secrets Manager secret, given by ARN.
  jwt_secret_store  = "secretsmanager"
  create_jwt_secret = false
  jwt_secret_arn    = aws_secretsmanager_secret.jwt.arn
  jwt_issuer        = "https://backend.example.com"
  jwt_audience      = "hermes"

  # Clients may send to their room (marked source = "client"), at most 10 messages per 10 s each.
  client_messages_enabled   = true
  client_message_rate_limit = { messages = 10, window_seconds = 10 }

  # Alarms to an on-call topic, and a dashboard.
  create_alarms    = true
  create_dashboard = true
  alarm_actions    = [aws_sns_topic.oncall.arn]

  # Queue consumption: a standard work queue (the default is FIFO, one message group per stream: publish
  # order per room) for batches of 20 gathered for up to 1 s; positions then follow processing order.
  queue_fifo                         = false
  batch_size                         = 20
  maximum_batching_window_in_seconds = 1
  maximum_concurrency                = 10
  max_receive_count                  = 3

  # API Gateway. Logging needs examples/account applied once in this account and region: "auto" turns
  # access logs on when it was, stage_logging_level other than OFF fails the plan when it was not.
  throttling_burst_limit = 200
  throttling_rate_limit  = 400
  stage_access_logs      = var.stage_access_logs
  stage_logging_level    = var.stage_logging_level

  # Custom domain in your zone: prod gets ws.<zone>, every other environment ws-<env>.<zone>.
  custom_domain = local.zone == null ? null : {
    zone_id       = local.zone.zone_id
    names         = { prod = "ws.${local.zone_name}" }
    name_template = "ws-{env}.${local.zone_name}"
  }
}

# --- Backend roles: publishing and token issuing are separate duties -------------------------------------

locals {
  # the example's backends run on Lambda; use your own principal (ECS task, EC2, a CI role) instead
  lambda_assume_role = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role" "publisher" {
  # IAM names are account-wide: the region keeps the same environment in two regions apart.
  name               = "hermes-example-${module.hermes.environment}-publisher-${data.aws_region.current.id}"
  assume_role_policy = local.lambda_assume_role
}

resource "aws_iam_role_policy" "publisher" {
  name   = "hermes-publisher"
  role   = aws_iam_role.publisher.id
  policy = module.hermes.publisher_policy_json
}

resource "aws_iam_role" "token_issuer" {
  name               = "hermes-example-${module.hermes.environment}-token-issuer-${data.aws_region.current.id}"
  assume_role_policy = local.lambda_assume_role
}

resource "aws_iam_role_policy" "token_issuer" {
  name   = "hermes-token-issuer"
  role   = aws_iam_role.token_issuer.id
  policy = module.hermes.token_issuer_policy_json
}
