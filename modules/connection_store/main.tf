# Two tables, schema fixed by docs/contract.md ("DynamoDB"). No secondary indexes: every read is a
# Query or GetItem on the base table with ConsistentRead (a GSI may lag behind its table, and a
# broadcast must see a connection as soon as its $connect wrote it).

locals {
  provisioned = var.billing_mode == "PROVISIONED"
}

resource "aws_dynamodb_table" "connections" {
  #checkov:skip=CKV_AWS_119:Customer managed KMS key is optional (var.kms_key_arn); without it the table is encrypted with the AWS managed key aws/dynamodb.
  name           = var.connections_table_name
  billing_mode   = var.billing_mode
  read_capacity  = local.provisioned ? var.read_capacity : null
  write_capacity = local.provisioned ? var.write_capacity : null
  # Two rows per connection: pk "room#<room>" and pk "user#<user>", both with range key connection_id.
  hash_key                    = "pk"
  range_key                   = "connection_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "connection_id"
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

resource "aws_dynamodb_table" "tokens" {
  #checkov:skip=CKV_AWS_119:Customer managed KMS key is optional (var.kms_key_arn); without it the table is encrypted with the AWS managed key aws/dynamodb.
  name           = var.tokens_table_name
  billing_mode   = var.billing_mode
  read_capacity  = local.provisioned ? var.read_capacity : null
  write_capacity = local.provisioned ? var.write_capacity : null
  # Many tokens per user and room (one per tab): range key "<room_id>#<token id>".
  hash_key                    = "user_id"
  range_key                   = "room_token"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "user_id"
    type = "S"
  }

  attribute {
    name = "room_token"
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

# Message history (hermes.history): hash "stream" ("room#<room>", "user#<user>", "user#<user>#<room>"),
# range "position" (0 = the stream's head: last position and epoch; 1, 2, ... the envelopes, each with a TTL).
resource "aws_dynamodb_table" "history" {
  #checkov:skip=CKV_AWS_119:Customer managed KMS key is optional (var.kms_key_arn); without it the table is encrypted with the AWS managed key aws/dynamodb.
  count = var.history_table_name == null ? 0 : 1

  name                        = var.history_table_name
  billing_mode                = var.billing_mode
  read_capacity               = local.provisioned ? var.read_capacity : null
  write_capacity              = local.provisioned ? var.write_capacity : null
  hash_key                    = "stream"
  range_key                   = "position"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "stream"
    type = "S"
  }

  attribute {
    name = "position"
    type = "N"
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
