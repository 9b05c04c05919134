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

# Once per account and region, before any Hermes environment there, in a state of its own:
#
#   terraform init && terraform apply -var region=eu-west-1
#
# Registers API Gateway's CloudWatch role (without it API Gateway refuses stage access logs and execution
# logging) and records it for the Hermes module, whose stage_access_logs = "auto" then turns access logs on.
# The setting is shared by every API Gateway API of the region: keep this state as long as any of them logs.

module "account" {
  source = "../../modules/account"

  existing_role_arn = var.existing_role_arn
}
