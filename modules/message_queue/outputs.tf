output "queue_url" {
  description = "Work queue URL."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "Work queue ARN."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Work queue name."
  value       = aws_sqs_queue.this.name
}

output "dlq_url" {
  description = "Dead-letter queue URL."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "Dead-letter queue ARN."
  value       = aws_sqs_queue.dlq.arn
}

output "event_source_mapping_uuid" {
  description = "UUID of the SQS -> send_message event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "event_source_mapping_batching" {
  description = "Records per invocation and batching window of the mapping (batch_size, maximum_batching_window_in_seconds)."
  value = {
    batch_size                         = aws_lambda_event_source_mapping.this.batch_size
    maximum_batching_window_in_seconds = aws_lambda_event_source_mapping.this.maximum_batching_window_in_seconds
  }
}

output "queue_policy_json" {
  description = "The queue policy restricting who may send (null when sender_role_arns is null)."
  value       = try(aws_sqs_queue_policy.senders[0].policy, null)
}
