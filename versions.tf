terraform {
  # 1.11: write-only arguments (value_wo / secret_string_wo) and ephemeral resources, through which a
  # generated JWT key is written without ever entering plan or state (modules/secret).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.99 is the first 5.x with write-only aws_ssm_parameter.value_wo; 6.x is accepted too.
      version = ">= 5.99, < 7.0"
    }
  }
}
