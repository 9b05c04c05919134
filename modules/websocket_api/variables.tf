variable "name" {
  description = "API name (also prefixes the authorizer and log group names)."
  type        = string
}

variable "description" {
  description = "API description."
  type        = string
  default     = "Hermes real-time notifications (WebSocket)"
}

variable "stage_name" {
  description = "Stage name (the environment)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name may contain only letters, digits, hyphens and underscores."
  }
}

variable "functions" {
  description = "The Lambda functions, keyed authorizer, client_routes, connect, disconnect, send_message."
  type = map(object({
    function_name = string
    invoke_arn    = string
  }))

  validation {
    condition     = toset(keys(var.functions)) == toset(["authorizer", "client_routes", "connect", "disconnect", "send_message"])
    error_message = "functions must have exactly the keys authorizer, client_routes, connect, disconnect and send_message."
  }
}

variable "identity_sources" {
  description = "Identity sources of the $connect REQUEST authorizer; a missing source rejects the connection with 401 before the Lambda runs."
  type        = list(string)
  default     = ["route.request.querystring.token"]
}

variable "client_messages_enabled" {
  description = "Create the sendMessage route (clients sending to their room)."
  type        = bool
  default     = false
}

variable "resume_enabled" {
  description = "Create the resume route (clients replaying what they missed from the history)."
  type        = bool
  default     = false
}

variable "client_message_throttle" {
  description = "Stage throttle of the sendMessage route (all clients together)."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = { rate_limit = 100, burst_limit = 50 }
}

variable "resume_throttle" {
  description = "Stage throttle of the resume route (all clients together)."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = { rate_limit = 100, burst_limit = 200 }
}

variable "join_throttle" {
  description = "Stage throttle of the join and of the leave route, each (all clients together)."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = { rate_limit = 100, burst_limit = 200 }
}

variable "throttling_burst_limit" {
  description = "Default route burst limit of the stage."
  type        = number
  default     = 500
}

variable "throttling_rate_limit" {
  description = "Default route steady-state rate limit (requests per second) of the stage."
  type        = number
  default     = 1000
}

variable "logging_level" {
  description = "Execution logging level of the stage: OFF, ERROR or INFO. Anything but OFF needs the account's CloudWatch role in this region (modules/account) and creates the execution log group with log_retention_in_days."
  type        = string
  default     = "OFF"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.logging_level)
    error_message = "logging_level must be OFF, ERROR or INFO."
  }
}

variable "data_trace_enabled" {
  description = "Log full request/response data in execution logs (never in production: it logs tokens)."
  type        = bool
  default     = false
}

variable "detailed_metrics_enabled" {
  description = "Per-route CloudWatch metrics."
  type        = bool
  default     = false
}

variable "log_retention_in_days" {
  description = "Retention of the access and execution log groups."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key ARN for the access and execution log groups."
  type        = string
  default     = null
}

variable "access_logs_enabled" {
  description = "JSON access logs to /aws/apigateway/<name>/<stage>/access. API Gateway accepts them only when the account has its CloudWatch role in this region (modules/account)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
