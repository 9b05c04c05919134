variable "connections_table_name" {
  description = "Name of the connections table (hash key connection_id)."
  type        = string
}

variable "tokens_table_name" {
  description = "Name of the tokens table (hash key user_id, range key room_id)."
  type        = string
}

variable "history_table_name" {
  description = "Name of the message history table; null creates none (history off)."
  type        = string
  default     = null
}

variable "billing_mode" {
  description = "DynamoDB billing mode: PAY_PER_REQUEST or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "read_capacity" {
  description = "Read capacity units per table and per index when billing_mode is PROVISIONED."
  type        = number
  default     = 5
}

variable "write_capacity" {
  description = "Write capacity units per table and per index when billing_mode is PROVISIONED."
  type        = number
  default     = 5
}

variable "point_in_time_recovery_enabled" {
  description = "Enable point-in-time recovery on both tables."
  type        = bool
  default     = true
}

variable "deletion_protection_enabled" {
  description = "Enable DynamoDB deletion protection on both tables."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key ARN for server-side encryption. null uses the AWS managed key (aws/dynamodb)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for both tables."
  type        = map(string)
  default     = {}
}
