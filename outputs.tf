# Outputs are null-safe (try()) so that consumers and `terraform output` keep working on partial
# states, e.g. after a failed apply or with the custom domain off.

output "environment" {
  description = "Resolved environment (var.environment or the workspace name); also the stage name."
  value       = local.environment
}

output "name_prefix" {
  description = "\"<name>-<environment>\", the prefix of every resource name."
  value       = local.prefix
}

output "websocket_url" {
  description = "URL clients connect to (append ?token=<JWT>): wss://<custom domain> when the custom domain is on, else the API's own endpoint plus the stage (wss://<api_endpoint host>/<stage>)."
  value       = try(module.custom_domain[0].websocket_url, module.websocket_api.websocket_url, null)
}

output "api_id" {
  description = "WebSocket API id."
  value       = try(module.websocket_api.api_id, null)
}

output "api_endpoint" {
  description = "The API's own endpoint as API Gateway returns it, without stage (wss://<api>.execute-api.<region>.<the partition's domain>)."
  value       = try(module.websocket_api.api_endpoint, null)
}

output "api_execution_arn" {
  description = "Execution ARN of the API (for additional IAM policies)."
  value       = try(module.websocket_api.execution_arn, null)
}

output "stage_name" {
  description = "Stage name (= environment)."
  value       = try(module.websocket_api.stage_name, null)
}

output "management_endpoint" {
  description = "@connections management endpoint that send_message posts to (its HERMES_MANAGEMENT_ENDPOINT): the API's own endpoint with https:// plus \"/<stage>\", or var.management_endpoint when overridden."
  value       = try(local.management_endpoint, null)
}

output "custom_domain_name" {
  description = "Custom host name, null when the custom domain is off."
  value       = try(module.custom_domain[0].domain_name, null)
}

output "queue_url" {
  description = "URL of the work queue backends publish to."
  value       = try(module.message_queue.queue_url, null)
}

output "queue_arn" {
  description = "ARN of the work queue."
  value       = try(module.message_queue.queue_arn, null)
}

output "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the work queue (computed as 6 x send_message timeout + batching window unless set)."
  value       = local.visibility_timeout
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = try(module.message_queue.dlq_url, null)
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = try(module.message_queue.dlq_arn, null)
}

output "connections_table_name" {
  description = "Connections table name."
  value       = try(module.connection_store.connections_table_name, null)
}

output "connections_table_arn" {
  description = "Connections table ARN."
  value       = try(module.connection_store.connections_table_arn, null)
}

output "history_table_name" {
  description = "Message history table name (null when history_retention_seconds = 0)."
  value       = try(module.connection_store.history_table_name, null)
}

output "history_table_arn" {
  description = "Message history table ARN (null when history is off): grant dynamodb:Query on it to read a stream's history from a backend (hermes history)."
  value       = try(module.connection_store.history_table_arn, null)
}

output "tokens_table_name" {
  description = "Tokens table name."
  value       = try(module.connection_store.tokens_table_name, null)
}

output "tokens_table_arn" {
  description = "Tokens table ARN."
  value       = try(module.connection_store.tokens_table_arn, null)
}

output "jwt_secret_arn" {
  description = "ARN of the JWT signing secret (Secrets Manager secret or SSM parameter)."
  value       = try(module.secret.arn, null)
}

output "jwt_secret_source" {
  description = "Store of the JWT signing secret: secretsmanager or ssm (what a backend reads to sign tokens)."
  value       = try(module.secret.source, null)
}

output "jwt_secret_id" {
  description = "Identifier a reader passes to the store: secret ARN (secretsmanager) or parameter name (ssm)."
  value       = try(module.secret.id, null)
}

output "function_names" {
  description = "Lambda function names keyed authorizer, connect, disconnect, send_message."
  value       = try({ for k, f in module.function : k => f.function_name }, {})
}

output "function_arns" {
  description = "Lambda function ARNs keyed like function_names."
  value       = try({ for k, f in module.function : k => f.function_arn }, {})
}

output "function_role_arns" {
  description = "Execution role ARNs keyed like function_names (e.g. for KMS key policies)."
  value       = try({ for k, f in module.function : k => f.role_arn }, {})
}

output "function_policies" {
  description = "Inline least-privilege policy JSON of each function, keyed like function_names."
  value       = try({ for k, f in module.function : k => f.policy_json }, {})
}

output "layer_arn" {
  description = "ARN of the dependency layer version."
  value       = try(aws_lambda_layer_version.deps.arn, null)
}

output "access_log_group_name" {
  description = "Log group of the stage's access logs; null when access logs are off (stage_access_logs)."
  value       = try(module.websocket_api.access_log_group_name, null)
}

output "fanout_queue_url" {
  description = "URL of the internal fan-out queue (chunk jobs of large rooms; only send_message writes to it)."
  value       = try(module.fanout_queue.queue_url, null)
}

output "fanout_dlq_url" {
  description = "URL of the fan-out queue's dead-letter queue."
  value       = try(module.fanout_queue.dlq_url, null)
}

locals {
  kms_policy_statements = {
    for name, statements in {
      queue  = local.sqs_kms_statements
      secret = local.secret_kms_statements
      tables = local.dynamodb_kms_statements
      } : name => [for s in statements : {
        Sid      = s.sid
        Effect   = "Allow"
        Action   = s.actions
        Resource = s.resources
    }]
  }
}

output "alarm_names" {
  description = "CloudWatch alarm names keyed by what they watch (empty unless create_alarms)."
  value       = try(module.monitoring.alarm_names, {})
}

output "dashboard_name" {
  description = "CloudWatch dashboard name (null unless create_dashboard)."
  value       = try(module.monitoring.dashboard_name, null)
}

output "execution_log_group_name" {
  description = "Log group of the stage's execution logs (API-Gateway-Execution-Logs_<api>/<stage>, created with log_retention_in_days); null when stage_logging_level is OFF."
  value       = try(module.websocket_api.execution_log_group_name, null)
}

output "publisher_policy_json" {
  description = "IAM policy JSON for a backend that only publishes notifications: sqs:SendMessage on the work queue (SendMessageBatch is authorized by that action), plus the queue's KMS key when one is set. It cannot issue tokens or address connections. Attach with aws_iam_policy { policy = module.hermes.publisher_policy_json }."
  value = try(jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "PublishNotifications"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [module.message_queue.queue_arn]
      }],
      local.kms_policy_statements.queue,
    )
  }), null)
}

output "token_issuer_policy_json" {
  description = "IAM policy JSON for the backend part that issues connect tokens and grants and revokes them: write/query/delete on the tokens table, read of the JWT signing secret, and for revocation the user's connection rows (a room taken out of a live socket: UpdateItem on user rows only), DeleteConnection and the hermes.left notice on this stage (plus KMS keys when set). Keep it apart from publishers."
  value = try(jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          # UpdateItem/DeleteItem: a room revoked out of a token that names others, or out of its last one
          Sid      = "IssueAndRevokeTokens"
          Effect   = "Allow"
          Action   = ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
          Resource = [module.connection_store.tokens_table_arn]
        },
        {
          # DeleteItem, not BatchWriteItem: a batch write may also put items, and an issuer adds no rows
          Sid      = "FindAndForgetConnections"
          Effect   = "Allow"
          Action   = ["dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:GetItem"]
          Resource = [module.connection_store.connections_table_arn]
        },
        {
          # a room revoked out of a live socket: the room out of its user row's set; never the cap's, the
          # budgets' or a room's items
          Sid      = "TakeRoomsOffConnections"
          Effect   = "Allow"
          Action   = ["dynamodb:UpdateItem"]
          Resource = [module.connection_store.connections_table_arn]
          Condition = {
            "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["user#*"] }
          }
        },
        {
          # DELETE closes a socket; POST tells one that stays open which room it left (hermes.left)
          Sid    = "CloseConnections"
          Effect = "Allow"
          Action = ["execute-api:ManageConnections"]
          Resource = [
            "${local.execution_arn}/${local.environment}/DELETE/@connections/*",
            "${local.execution_arn}/${local.environment}/POST/@connections/*",
          ]
        },
        {
          Sid      = "ReadJwtSecret"
          Effect   = "Allow"
          Action   = module.secret.read_actions
          Resource = [module.secret.arn]
        },
      ],
      local.kms_policy_statements.secret,
      local.kms_policy_statements.tables,
    )
  }), null)
}

output "token_function_name" {
  description = "Name of the token function (null when token_function_enabled = false): invoke it with {\"action\": \"issue\", \"user_id\", \"rooms\"} (docs/contract.md \"Token function\")."
  value       = try(module.function["tokens"].function_name, null)
}

output "token_function_arn" {
  description = "ARN of the token function (null when token_function_enabled = false)."
  value       = try(module.function["tokens"].function_arn, null)
}

output "token_caller_policy_json" {
  description = "IAM policy JSON for a backend that asks the token function for tokens (and grants, revokes, kicks, presence): lambda:InvokeFunction on that one function, nothing else: no table, no signing key. What the README recommends; null when token_function_enabled = false."
  value = try(jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "AskTheTokenFunction"
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [module.function["tokens"].function_arn]
    }]
  }), null)
}

output "hermes_config" {
  description = "Everything the Hermes SDK/CLI needs, as one object (e.g. `terraform output -json hermes_config > hermes.json`)."
  value = {
    queue_url           = try(module.message_queue.queue_url, null)
    tokens_table        = try(module.connection_store.tokens_table_name, null)
    connections_table   = try(module.connection_store.connections_table_name, null)
    history_table       = try(module.connection_store.history_table_name, null)
    management_endpoint = try(coalesce(var.management_endpoint, module.websocket_api.management_endpoint), null)
    jwt_secret_source   = try(module.secret.source, null)
    jwt_secret_id       = try(module.secret.id, null)
    jwt_issuer          = var.jwt_issuer
    jwt_audience        = var.jwt_audience
    region              = try(split(":", module.message_queue.queue_arn)[3], null)
    websocket_url       = try(module.custom_domain[0].websocket_url, module.websocket_api.websocket_url, null)
    token_function_name = try(module.function["tokens"].function_name, null)
    token_function_arn  = try(module.function["tokens"].function_arn, null)
  }
}
