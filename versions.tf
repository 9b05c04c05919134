terraform {
  # 1.5: `check` blocks, optional() object attributes with defaults, nonsensitive().
  # Write-only secret values (var.jwt_secret_write_only = true) additionally need Terraform >= 1.11.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.99 is the first 5.x with write-only aws_ssm_parameter.value_wo; 6.x is accepted too.
      version = ">= 5.99, < 7.0"
    }
  }
}
