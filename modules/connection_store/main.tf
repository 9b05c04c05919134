# Two tables, schema fixed by docs/contract.md ("DynamoDB").

locals {
  provisioned = var.billing_mode == "PROVISIONED"
}

resource "aws_dynamodb_table" "connections" {
  #checkov:skip=CKV_AWS_119:Customer managed KMS key is optional (var.kms_key_arn); without it the table is encrypted with the AWS managed key aws/dynamodb.
  name                        = var.connections_table_name
  billing_mode                = var.billing_mode
  read_capacity               = local.provisioned ? var.read_capacity : null
  write_capacity              = local.provisioned ? var.write_capacity : null
  hash_key                    = "connection_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "connection_id"
    type = "S"
  }

  attribute {
    name = "room_id"
    type = "S"
  }

  attribute {
    name = "user_id"
    type = "S"
  }

  global_secondary_index {
    name            = "room_id-index"
    hash_key        = "room_id"
    projection_type = "KEYS_ONLY"
    read_capacity   = local.provisioned ? var.read_capacity : null
    write_capacity  = local.provisioned ? var.write_capacity : null
  }

  global_secondary_index {
    name               = "user_id-index"
    hash_key           = "user_id"
    projection_type    = "INCLUDE"
    non_key_attributes = ["room_id"]
    read_capacity      = local.provisioned ? var.read_capacity : null
    write_capacity     = local.provisioned ? var.write_capacity : null
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "tokens" {
  #checkov:skip=CKV_AWS_119:Customer managed KMS key is optional (var.kms_key_arn); without it the table is encrypted with the AWS managed key aws/dynamodb.
  name                        = var.tokens_table_name
  billing_mode                = var.billing_mode
  read_capacity               = local.provisioned ? var.read_capacity : null
  write_capacity              = local.provisioned ? var.write_capacity : null
  hash_key                    = "user_id"
  range_key                   = "room_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "user_id"
    type = "S"
  }

  attribute {
    name = "room_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
