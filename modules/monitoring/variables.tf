variable "name" {
  description = "Deployment prefix \"<name>-<environment>\": alarm and dashboard names, and the service dimension of Hermes' own metrics."
  type        = string
}

variable "create_alarms" {
  description = "Create the CloudWatch alarms."
  type        = bool
  default     = false
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard."
  type        = bool
  default     = false
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires and when it recovers (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "metrics_namespace" {
  description = "Namespace of Hermes' own metrics (written by send_message with the dimension service = var.name)."
  type        = string
}

variable "api_id" {
  description = "WebSocket API id."
  type        = string
}

variable "stage_name" {
  description = "Stage name."
  type        = string
}

variable "function_names" {
  description = "Function names keyed authorizer, client_routes, connect, disconnect, send_message."
  type        = map(string)
}

variable "queues" {
  description = "Queue names: work, work_dlq, fanout, fanout_dlq."
  type = object({
    work       = string
    work_dlq   = string
    fanout     = string
    fanout_dlq = string
  })
}

variable "thresholds" {
  description = "Alarm thresholds: oldest message age (s) on the work and fan-out queues, stage client errors (4xx) and stale connections removed per 5 minutes."
  type = object({
    queue_age_seconds      = optional(number, 300)
    client_errors_per_5min = optional(number, 100)
    stale_removed_per_5min = optional(number, 1000)
  })
  default = {}
}

variable "tags" {
  description = "Tags for the alarms and the dashboard."
  type        = map(string)
  default     = {}
}
