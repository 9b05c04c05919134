variable "store" {
  description = "Where the secret lives: ssm (SecureString parameter) or secretsmanager."
  type        = string
  default     = "ssm"

  validation {
    condition     = contains(["ssm", "secretsmanager"], var.store)
    error_message = "store must be ssm or secretsmanager."
  }
}

variable "create" {
  description = "Create the secret (true) or use existing_arn (false)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Parameter name (ssm, e.g. /hermes/prod/jwt-secret) or exact secret name (secretsmanager) when created."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Secrets Manager only, instead of name: the secret is named this prefix plus a unique suffix, so a destroyed secret waiting out its recovery window never blocks creating a new one."
  type        = string
  default     = null
}

variable "description" {
  description = "Description of the created parameter/secret."
  type        = string
  default     = "Hermes JWT signing secret (HS512)"
}

variable "value" {
  description = "Secret value for a created secret (at least 64 bytes for HS512); null generates a random one, written write-only."
  type        = string
  default     = null
  sensitive   = true
}

variable "write_only" {
  description = "Send a provided value through the write-only argument (value_wo / secret_string_wo) so it never enters state. A generated value always is."
  type        = bool
  default     = false
}

variable "value_version" {
  description = "Version of a write-only value; increment it to push a new provided value or to write a newly generated one."
  type        = number
  default     = 1

  validation {
    condition     = var.value_version >= 1 && floor(var.value_version) == var.value_version
    error_message = "value_version must be a whole number >= 1."
  }
}

variable "generated_length" {
  description = "Length of a generated secret in hex characters: UUIDs (version 4) without their dashes, 122 random bits in each 32 characters, so 128 carry 488 random bits (an HS512 key needs at least 64 bytes: 128 characters are 128 bytes)."
  type        = number
  default     = 128

  validation {
    # HS512 keys must be at least the hash size, 64 bytes (RFC 7518 section 3.2).
    condition     = var.generated_length >= 64 && var.generated_length <= 4096
    error_message = "generated_length must be 64..4096 (an HS512 key has at least 64 bytes)."
  }
}

variable "existing_arn" {
  description = "ARN of an existing SSM parameter or Secrets Manager secret (when create = false)."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Customer managed KMS key ARN encrypting the secret (also granted kms:Decrypt to readers)."
  type        = string
  default     = null
}

variable "recovery_window_in_days" {
  description = "Secrets Manager recovery window (0 deletes immediately, else 7..30)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
