variable "function_name" {
  description = "Lambda function name; also the log group suffix, and the IAM role name unless role_name is set."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of letters, digits, hyphens and underscores."
  }
}

variable "role_name" {
  description = "Name of the execution role. IAM names are account-wide while functions are regional: include the region when the same function name exists in several regions. null uses function_name."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null ? true : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1-64 characters of letters, digits and +=,.@_-."
  }
}

variable "description" {
  description = "Lambda function description."
  type        = string
  default     = ""
}

variable "filename" {
  description = "Path of the deployment zip."
  type        = string
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip (from build.py's manifest)."
  type        = string
}

variable "handler" {
  description = "Handler, module.function."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13."
  }
}

variable "architecture" {
  description = "Instruction set: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory in MB (128 .. 10240)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds (1 .. 900)."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900."
  }
}

variable "layers" {
  description = "Layer version ARNs (at most 5)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layers) <= 5
    error_message = "A Lambda function can use at most 5 layers."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function."
  type        = map(string)
  default     = {}
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency; null (or -1) leaves the function unreserved, 0 disables it."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null ? true : var.reserved_concurrent_executions >= -1
    error_message = "reserved_concurrent_executions must be null, -1 or >= 0."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing mode: PassThrough or Active (Active also grants xray:PutTraceSegments/PutTelemetryRecords). null omits tracing_config."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = var.tracing_mode == null ? true : contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be null, PassThrough or Active."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key ARN for the log group; null for CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key ARN that encrypts the environment variables; null for the AWS managed key."
  type        = string
  default     = null
}

variable "code_signing_config_arn" {
  description = "Code signing configuration ARN; null disables code signing."
  type        = string
  default     = null
}

variable "permissions_boundary" {
  description = "Permissions boundary policy ARN for the execution role."
  type        = string
  default     = null
}

variable "policy_statements" {
  description = "Allow statements of the inline role policy, each scoped to exact ARNs (condition: an IAM Condition block, operator => key => values). Logs (own log group) and X-Ray (when Active) statements are added by this module."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    condition = optional(map(map(list(string))))
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.resources) > 0])
    error_message = "Each statement needs an alphanumeric sid and at least one action and one resource."
  }
}

variable "tags" {
  description = "Tags for the function, role and log group."
  type        = map(string)
  default     = {}
}
