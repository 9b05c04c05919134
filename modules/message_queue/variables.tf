variable "name" {
  description = "Name of the work queue."
  type        = string
}

variable "dlq_name" {
  description = "Name of the dead-letter queue."
  type        = string
}

variable "fifo" {
  description = "FIFO queues (names get the .fifo suffix): messages of one MessageGroupId are delivered in order, one batch at a time."
  type        = bool
  default     = false
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the work queue; the root module computes it from the consumer's timeout (>= 6x)."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "message_retention_seconds" {
  description = "How long the work queue keeps an unprocessed message (60 .. 1209600 s)."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the DLQ keeps messages (default the maximum, 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for both queues. null uses SQS-managed SSE (SSE-SQS)."
  type        = string
  default     = null
}

variable "kms_data_key_reuse_period_seconds" {
  description = "Data key reuse period when a KMS key is used (60 .. 86400 s)."
  type        = number
  default     = 300
}

variable "function_arn" {
  description = "ARN of the consuming Lambda function (send_message)."
  type        = string
}

variable "event_source_mapping_enabled" {
  description = "Whether the event source mapping polls the queue."
  type        = bool
  default     = true
}

variable "batch_size" {
  description = "Messages per Lambda invocation (1 .. 10000; above 10 needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long to gather records before invoking (0 .. 300 s)."
  type        = number
  default     = 0

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "Maximum concurrent invocations by this event source (2 .. 1000); null for no limit."
  type        = number
  default     = null

  validation {
    condition     = var.maximum_concurrency == null ? true : (var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000)
    error_message = "maximum_concurrency must be null or between 2 and 1000."
  }
}

variable "tags" {
  description = "Tags for the queues."
  type        = map(string)
  default     = {}
}

variable "sender_role_arns" {
  description = "When set, a queue policy denies sqs:SendMessage to every principal but these roles (aws:PrincipalArn), whatever their own policies allow. null: no queue policy."
  type        = list(string)
  default     = null
}

variable "consumer_role_arns" {
  description = "With sender_role_arns: the queue policy also denies receiving, deleting, changing the visibility of and purging messages to every principal but these roles (the consuming function's), so nobody else can read or drop what travels on the queue."
  type        = list(string)
  default     = []
  nullable    = false
}
