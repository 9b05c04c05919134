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
# The smallest useful Hermes: one environment per workspace, a generated JWT secret in Secrets Manager.
# Works on a fresh account; access logs turn on once examples/account has been applied in the region.
#
#   terraform workspace new dev && terraform apply
#   terraform output -json hermes_config

module "hermes" {
  source = "../.."

  # null: the workspace name is the environment; the module's own dist/ holds the Lambda zips.
  environment   = var.environment
  artifacts_dir = var.artifacts_dir
}
