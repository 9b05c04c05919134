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
