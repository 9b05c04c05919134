# With aws_endpoint_url set (e.g. http://127.0.0.1:5000 for a local moto server) every service used by
# the module is sent there with fake credentials; with null (default) this is a plain AWS provider.
locals {
  local_aws = var.aws_endpoint_url != null
}

provider "aws" {
  region = var.region

  access_key                  = local.local_aws ? "test" : null
  secret_key                  = local.local_aws ? "test" : null
  skip_credentials_validation = local.local_aws
  skip_metadata_api_check     = local.local_aws ? "true" : null
  skip_region_validation      = local.local_aws
  # Keep the account lookup: execution ARNs and IAM scoping need the account id (moto: 123456789012).
  skip_requesting_account_id = false
  # A local endpoint answers errors at once; the default 25 retries would turn one into minutes.
  max_retries       = local.local_aws ? 2 : null
  s3_use_path_style = local.local_aws

  # null leaves an endpoint at its default.
  endpoints {
    acm            = var.aws_endpoint_url
    apigateway     = var.aws_endpoint_url
    apigatewayv2   = var.aws_endpoint_url
    cloudwatch     = var.aws_endpoint_url
    dynamodb       = var.aws_endpoint_url
    iam            = var.aws_endpoint_url
    kms            = var.aws_endpoint_url
    lambda         = var.aws_endpoint_url
    logs           = var.aws_endpoint_url
    route53        = var.aws_endpoint_url
    s3             = var.aws_endpoint_url
    secretsmanager = var.aws_endpoint_url
    sns            = var.aws_endpoint_url
    sqs            = var.aws_endpoint_url
    ssm            = var.aws_endpoint_url
    sts            = var.aws_endpoint_url
  }

  default_tags {
    tags = {
      Project   = "hermes"
      ManagedBy = "terraform"
    }
  }
}

# --- DNS zone for the custom domain -------------------------------------------------------------------
# Created here unless route53_zone_id is given. ACM DNS validation only completes when the zone is
# delegated from its parent domain, so on real AWS pass an existing, delegated zone id.

resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:Example zone; DNSSEC signing needs a KMS key in us-east-1 and delegation changes at the parent.
  #checkov:skip=CKV2_AWS_39:Example zone; query logging needs a us-east-1 log group and resource policy.
  count = var.route53_zone_id == null ? 1 : 0

  name          = var.zone_name
  comment       = "Hermes example zone"
  force_destroy = true
}

locals {
  zone_id = coalesce(var.route53_zone_id, try(aws_route53_zone.this[0].zone_id, null))
}

# --- JWT signing secret managed outside the module (Secrets Manager), passed by ARN -------------------

data "aws_secretsmanager_random_password" "jwt" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "jwt" {
  #checkov:skip=CKV2_AWS_57:The HMAC signing key is rotated deliberately together with the token issuer, not by a rotation Lambda.
  #checkov:skip=CKV_AWS_149:Example; pass a customer managed key (kms_key_id) in production if your policy requires one.
  name                    = "hermes-example/${terraform.workspace}/jwt-secret"
  description             = "Hermes JWT signing secret (example)"
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id     = aws_secretsmanager_secret.jwt.id
  secret_string = data.aws_secretsmanager_random_password.jwt.random_password

  lifecycle {
    # Generated once; rotate out of band.
    ignore_changes = [secret_string]
  }
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
  enable_client_messages    = true
  client_message_rate_limit = { messages = 10, window_seconds = 10 }

  # Alarms to an on-call topic, and a dashboard.
  create_alarms    = true
  create_dashboard = true
  alarm_actions    = [aws_sns_topic.oncall.arn]

  # Queue consumption.
  batch_size                         = 20
  maximum_batching_window_in_seconds = 1
  maximum_concurrency                = 10
  max_receive_count                  = 3

  # API Gateway.
  throttling_burst_limit             = 200
  throttling_rate_limit              = 400
  create_api_gateway_cloudwatch_role = var.create_api_gateway_cloudwatch_role

  # Custom domain: prod gets ws.<zone>, every other environment ws-<env>.<zone>.
  create_custom_domain = true
  domain_names         = { prod = "ws.${var.zone_name}" }
  domain_name_template = "ws-{env}.${var.zone_name}"
  domain_zone_id       = local.zone_id
}

# --- Backend roles: publishing and token issuing are separate duties -------------------------------------

resource "aws_iam_role" "publisher" {
  name = "hermes-example-${module.hermes.environment}-publisher"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "publisher" {
  name   = "hermes-publisher"
  role   = aws_iam_role.publisher.id
  policy = module.hermes.publisher_policy_json
}

resource "aws_iam_role" "token_issuer" {
  name = "hermes-example-${module.hermes.environment}-token-issuer"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "token_issuer" {
  name   = "hermes-token-issuer"
  role   = aws_iam_role.token_issuer.id
  policy = module.hermes.token_issuer_policy_json
}
