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
  description = "Parameter name (ssm, e.g. /hermes/prod/jwt-secret) or secret name (secretsmanager) when created."
  type        = string
  default     = null
}

variable "description" {
  description = "Description of the created parameter/secret."
  type        = string
  default     = "Hermes JWT signing secret (HS256)"
}

variable "value" {
  description = "Secret value for a created secret; null generates a random one once."
  type        = string
  default     = null
  sensitive   = true
}

variable "write_only" {
  description = "Send a provided value through the write-only argument (value_wo / secret_string_wo) so it never enters state. Needs Terraform >= 1.11."
  type        = bool
  default     = false
}

variable "value_version" {
  description = "Version of a write-only value; increment it to push a new value."
  type        = number
  default     = 1
}

variable "generated_length" {
  description = "Length of a generated secret."
  type        = number
  default     = 64
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
