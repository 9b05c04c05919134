# Hermes: real-time notifications over API Gateway WebSockets.
#
#   backend --SendMessage--> SQS --ESM--> send_message --post_to_connection--> clients
#                  (large rooms: send_message --chunk jobs--> internal fan-out queue --ESM--> send_message)
#   client --wss://...?token=JWT--> $connect (authorizer) --> connect / disconnect / ping
#                                                             (+ sendMessage when client_messages_enabled)
#   presence_events_enabled: connect / disconnect --hermes.join / hermes.leave--> internal fan-out queue
#
# The module declares no provider block; callers configure hashicorp/aws.

locals {
  environment = coalesce(var.environment, terraform.workspace)
  prefix      = "${var.name}-${local.environment}"

  tags = merge(var.tags, {
    "hermes:name"        = var.name
    "hermes:environment" = local.environment
  })

  # --- build.py artifacts (docs/contract.md "Artifacts") ---
  artifacts_dir = coalesce(var.artifacts_dir, "${path.module}/dist")
  manifest      = jsondecode(file("${local.artifacts_dir}/manifest.json"))
  layer         = try(local.manifest.layers[var.architecture], null)

  # The functions behind the WebSocket API, and the token function beside it (invoked by backends, not routes).
  api_function_keys = ["authorizer", "client_routes", "connect", "disconnect", "send_message"]
  function_keys     = concat(local.api_function_keys, var.token_function_enabled ? ["tokens"] : [])
  function_names = {
    for k in local.function_keys : k => "${local.prefix}-${replace(k, "_", "-")}"
  }
  function_descriptions = {
    authorizer    = "Hermes $connect REQUEST authorizer (JWT + token table)"
    connect       = "Hermes $connect: registers the connection"
    disconnect    = "Hermes $disconnect: removes the connection"
    send_message  = "Hermes fan-out: the work queue and the internal fan-out queue"
    client_routes = "Hermes clients' routes: sendMessage, resume, join and leave"
    tokens        = "Hermes token function: issue, grant, revoke, kick, presence (for backends, by IAM)"
  }

  # --- derived settings ---
  send_message_timeout = var.function_config.send_message.timeout
  # AWS: queue visibility timeout >= 6 x function timeout (+ batching window) for Lambda consumers.
  min_visibility_timeout = 6 * local.send_message_timeout + var.maximum_batching_window_in_seconds
  visibility_timeout     = coalesce(var.queue_visibility_timeout_seconds, local.min_visibility_timeout)

  history_enabled = var.history_retention_seconds > 0

  # Presence events (hermes.join / hermes.leave) go through the internal fan-out queue: the only queue
  # whose records may carry source = "hermes", so publishers cannot forge them (hermes/presence.py).
  presence_env = var.presence_events_enabled ? {
    HERMES_PRESENCE_EVENTS        = "true"
    HERMES_PRESENCE_QUEUE_URL     = module.fanout_queue.queue_url
    HERMES_PRESENCE_MAX_ROOM_SIZE = tostring(var.presence_events_max_room_size)
    # a user's connect/disconnect loop cannot flood the room
    HERMES_PRESENCE_EVENT_LIMIT          = tostring(var.presence_events_per_user.events)
    HERMES_PRESENCE_EVENT_WINDOW_SECONDS = tostring(var.presence_events_per_user.window_seconds)
  } : {}

  # SSM parameters have an exact name. A Secrets Manager secret the module names itself gets a unique
  # suffix (name_prefix): a destroyed secret keeps its name for the recovery window (7-30 days), which would
  # block re-creating the environment. An explicit jwt_secret_name is used as is.
  jwt_secret_name = var.jwt_secret_store == "ssm" ? coalesce(var.jwt_secret_name, "/${var.name}/${local.environment}/jwt-secret") : var.jwt_secret_name
  jwt_secret_name_prefix = (
    var.jwt_secret_store == "secretsmanager" && var.jwt_secret_name == null ? "${var.name}/${local.environment}/jwt-secret-" : null
  )

  # --- IAM role names: IAM is account-wide, so the region is part of the name (the same environment in two
  # regions must not collide). Over IAM's 64 characters the function part is shortened and a hash keeps the
  # names apart.
  region = data.aws_region.current.id # the region name in provider 5.x and 6.x
  role_names = {
    for k, n in local.function_names : k => (
      length("${n}-${local.region}") <= 64
      ? "${n}-${local.region}"
      : "${substr(n, 0, 64 - length(local.region) - 10)}-${substr(sha1(n), 0, 8)}-${local.region}"
    )
  }

  # --- Stage logging: API Gateway refuses access logs and execution logging until the account has its
  # CloudWatch role in this region (new accounts have none). The provider has no data source for that
  # account setting, so modules/account records the role in an SSM parameter that is looked up here.
  account_lookup          = var.stage_access_logs != "off" || var.stage_logging_level != "OFF"
  account_marker_path     = regex("^(.*)/[^/]+$", var.api_gateway_account_parameter_name)[0]
  account_role_registered = local.account_lookup && contains(try(data.aws_ssm_parameters_by_path.account[0].names, []), var.api_gateway_account_parameter_name)
  access_logs_enabled     = var.stage_access_logs == "on" || (var.stage_access_logs == "auto" && local.account_role_registered)

  # --- custom domain naming ---
  # var.custom_domain's validation repeats this lookup (it may not use a local built from its own input).
  environment_domain_name = var.custom_domain == null ? null : lookup(
    var.custom_domain.names,
    local.environment,
    var.custom_domain.name_template == null ? null : replace(var.custom_domain.name_template, "{env}", local.environment),
  )
  custom_domain_enabled = local.environment_domain_name != null && try(var.custom_domain.zone_id, null) != null
}

data "aws_region" "current" {}

data "aws_ssm_parameters_by_path" "account" {
  count = local.account_lookup ? 1 : 0

  path      = local.account_marker_path
  recursive = false
  # only the names are read: never decrypt a SecureString under the path into the state
  with_decryption = false

  # Checks of the account, not of an input alone (and variable validations cannot use this lookup: its
  # count depends on the same inputs).
  lifecycle {
    postcondition {
      condition     = var.stage_access_logs != "on" || contains(self.names, var.api_gateway_account_parameter_name)
      error_message = "stage_access_logs = \"on\" needs API Gateway's CloudWatch role in this account and region, and none is recorded in ${var.api_gateway_account_parameter_name}: apply examples/account (modules/account) once per account and region (it can also record a role registered elsewhere), or use \"auto\" / \"off\"."
    }
    postcondition {
      condition     = var.stage_logging_level == "OFF" || contains(self.names, var.api_gateway_account_parameter_name)
      error_message = "stage_logging_level = \"${var.stage_logging_level}\" needs API Gateway's CloudWatch role in this account and region, and none is recorded in ${var.api_gateway_account_parameter_name}: apply examples/account (modules/account) once per account and region, or keep stage_logging_level = \"OFF\"."
    }
  }
}

# --- Dependency layer (PyJWT, bcrypt, powertools) for the chosen architecture ----------------------

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "${local.prefix}-deps"
  description              = "Hermes Python dependencies (${var.architecture})"
  filename                 = "${local.artifacts_dir}/${try(local.layer.file, "missing-layer.zip")}"
  source_code_hash         = try(local.layer.source_code_hash, null)
  compatible_runtimes      = ["python3.12", "python3.13"]
  compatible_architectures = [var.architecture]

  lifecycle {
    precondition {
      condition     = try(local.manifest.format, null) == 1
      error_message = "Unsupported artifacts manifest: expected \"format\": 1 in ${local.artifacts_dir}/manifest.json (run python build.py)."
    }
    precondition {
      condition     = local.layer != null
      error_message = "The artifacts manifest has no layer for architecture ${var.architecture}."
    }
    precondition {
      condition     = alltrue([for k in local.function_keys : can(local.manifest.functions[k].file)])
      error_message = "The artifacts manifest must list the functions ${join(", ", local.function_keys)} (run python build.py; a manifest built before 0.4 lacks token)."
    }
  }
}

# --- Data -----------------------------------------------------------------------------------------

module "connection_store" {
  source = "./modules/connection_store"

  connections_table_name         = "${local.prefix}-connections"
  tokens_table_name              = "${local.prefix}-tokens"
  history_table_name             = local.history_enabled ? "${local.prefix}-history" : null
  billing_mode                   = var.dynamodb_billing_mode
  read_capacity                  = var.dynamodb_read_capacity
  write_capacity                 = var.dynamodb_write_capacity
  point_in_time_recovery_enabled = var.dynamodb_point_in_time_recovery_enabled
  deletion_protection_enabled    = var.dynamodb_deletion_protection_enabled
  kms_key_arn                    = var.dynamodb_kms_key_arn
  tags                           = local.tags
}

module "secret" {
  source = "./modules/secret"

  store                   = var.jwt_secret_store
  create                  = var.create_jwt_secret
  name                    = local.jwt_secret_name
  name_prefix             = local.jwt_secret_name_prefix
  value                   = var.jwt_secret_value
  write_only              = var.jwt_secret_write_only
  value_version           = var.jwt_secret_value_version
  existing_arn            = var.jwt_secret_arn
  kms_key_arn             = var.jwt_secret_kms_key_arn
  recovery_window_in_days = var.jwt_secret_recovery_window_in_days
  tags                    = local.tags
}

module "message_queue" {
  source = "./modules/message_queue"

  name                               = "${local.prefix}-messages"
  dlq_name                           = "${local.prefix}-messages-dlq"
  fifo                               = var.queue_fifo
  visibility_timeout_seconds         = local.visibility_timeout
  message_retention_seconds          = var.queue_message_retention_seconds
  max_receive_count                  = var.max_receive_count
  kms_key_arn                        = var.sqs_kms_key_arn
  function_arn                       = module.function["send_message"].function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  maximum_concurrency                = var.maximum_concurrency
  tags                               = local.tags
}

# Chunk jobs of large rooms name connections directly, so they travel on a queue only send_message can
# write to: a publisher (sqs:SendMessage on the queue above) can never address connections by id.
module "fanout_queue" {
  source = "./modules/message_queue"

  name                       = "${local.prefix}-fanout"
  dlq_name                   = "${local.prefix}-fanout-dlq"
  visibility_timeout_seconds = local.visibility_timeout
  message_retention_seconds  = var.queue_message_retention_seconds
  max_receive_count          = var.max_receive_count
  kms_key_arn                = var.sqs_kms_key_arn
  function_arn               = module.function["send_message"].function_arn
  # Chunk jobs name connections and carry positions; presence events pass as Hermes itself: nobody but
  # Hermes' own roles may write them, whatever else in the account holds sqs:SendMessage.
  sender_role_arns = [
    for k in concat(["send_message", "client_routes"], var.presence_events_enabled ? ["connect", "disconnect"] : []) :
    module.function[k].role_arn
  ]
  consumer_role_arns = [module.function["send_message"].role_arn] # its event source mapping reads as the role
  # One chunk job per invocation: a batch's records run one after another, so ten jobs in one batch would
  # post 10 × chunk_size in a row while other invocations idle (bench/fanout_model.py: a room of 10,000 in
  # 6.6 s with batches of 10, 1.5 s with 1).
  batch_size                         = 1
  maximum_batching_window_in_seconds = 0
  maximum_concurrency                = var.maximum_concurrency
  tags                               = local.tags
}

# --- Functions ------------------------------------------------------------------------------------

locals {
  execution_arn = module.websocket_api.execution_arn
  # The @connections endpoint is the API's own endpoint (its domain is the partition's: amazonaws.com,
  # amazonaws.com.cn, ...) plus the stage. Built from the API and the stage *name*, not the stage resource,
  # which depends on the functions.
  management_endpoint = coalesce(
    var.management_endpoint,
    "https://${trimprefix(trimprefix(module.websocket_api.api_endpoint, "wss://"), "https://")}/${local.environment}",
  )

  secret_via_env = var.jwt_secret_plaintext_env

  common_env = merge(var.extra_environment_variables, {
    # "<name>-<environment>": the logs' service field and the metrics' service dimension, so environments
    # sharing an account and a namespace stay apart.
    POWERTOOLS_SERVICE_NAME      = local.prefix
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = var.log_level
  })

  # How the authorizer (tokens) and client_routes (grants) read and check the signing key.
  jwt_env = merge(
    {
      HERMES_JWT_SECRET_SOURCE    = local.secret_via_env ? "env" : module.secret.source
      HERMES_JWT_LEEWAY_SECONDS   = tostring(var.jwt_leeway_seconds)
      HERMES_SECRET_CACHE_SECONDS = tostring(var.secret_cache_seconds)
    },
    # A provided value only (preconditions below): a generated one is never known to Terraform.
    local.secret_via_env ? { HERMES_JWT_SECRET = var.jwt_secret_value } : { HERMES_JWT_SECRET_ID = module.secret.id },
    var.jwt_issuer == null ? {} : { HERMES_JWT_ISSUER = var.jwt_issuer },
    var.jwt_audience == null ? {} : { HERMES_JWT_AUDIENCE = var.jwt_audience },
  )

  environment_variables = {
    authorizer = merge(local.common_env, local.jwt_env, {
      HERMES_TOKENS_TABLE = module.connection_store.tokens_table_name
    })
    connect = merge(local.common_env, local.cap_env, {
      HERMES_CONNECTIONS_TABLE        = module.connection_store.connections_table_name
      HERMES_TOKENS_TABLE             = module.connection_store.tokens_table_name
      HERMES_CONNECTION_TTL_SECONDS   = tostring(var.connection_ttl_seconds)
      HERMES_MAX_ROOMS_PER_CONNECTION = tostring(var.max_rooms_per_connection)
    }, local.presence_env)
    disconnect = merge(local.common_env, local.cap_env, {
      HERMES_CONNECTIONS_TABLE = module.connection_store.connections_table_name
    }, local.presence_env)
    # FIFO: a record that can never be delivered goes to the DLQ at once (a failing head blocks its stream)
    send_message = merge(local.delivery_env, var.queue_fifo ? { HERMES_WORK_DLQ_URL = module.message_queue.dlq_url } : {})
    # the join route verifies grants: the signing key's source, as the authorizer's
    client_routes = merge(local.delivery_env, local.jwt_env, {
      HERMES_TOKENS_TABLE                  = module.connection_store.tokens_table_name
      HERMES_MAX_ROOMS_PER_CONNECTION      = tostring(var.max_rooms_per_connection)
      HERMES_CLIENT_MESSAGES               = tostring(var.client_messages_enabled)
      HERMES_CLIENT_MESSAGE_LIMIT          = tostring(var.client_message_rate_limit.messages)
      HERMES_CLIENT_MESSAGE_WINDOW_SECONDS = tostring(var.client_message_rate_limit.window_seconds)
      HERMES_RESUME_LIMIT                  = tostring(var.resume_rate_limit.resumes)
      HERMES_RESUME_WINDOW_SECONDS         = tostring(var.resume_rate_limit.window_seconds)
      HERMES_MAX_REPLAY_BYTES              = tostring(var.max_replay_bytes)
    })
    # issues what the authorizer checks (the key, the tables), revokes what connect wrote
    tokens = merge(local.common_env, local.jwt_env, {
      HERMES_TOKENS_TABLE             = module.connection_store.tokens_table_name
      HERMES_CONNECTIONS_TABLE        = module.connection_store.connections_table_name
      HERMES_MANAGEMENT_ENDPOINT      = local.management_endpoint
      HERMES_MAX_ROOMS_PER_CONNECTION = tostring(var.max_rooms_per_connection)
    })
  }

  # the cap on connections per user: connect enforces it, disconnect and the 410 clean-up free places
  cap_env = { HERMES_MAX_CONNECTIONS_PER_USER = tostring(var.max_connections_per_user) }

  # What send_message and client_routes both deliver with (hermes_notifications/delivery.py).
  delivery_env = merge(
    local.common_env,
    local.cap_env,
    {
      HERMES_CONNECTIONS_TABLE         = module.connection_store.connections_table_name
      HERMES_MANAGEMENT_ENDPOINT       = local.management_endpoint
      HERMES_FANOUT_QUEUE_URL          = module.fanout_queue.queue_url
      HERMES_FANOUT_QUEUE_ARN          = module.fanout_queue.queue_arn
      HERMES_FANOUT_WORKERS            = tostring(var.fanout_workers)
      HERMES_POST_MAX_ATTEMPTS         = tostring(var.post_max_attempts)
      HERMES_CHUNK_THRESHOLD           = tostring(var.chunk_threshold)
      HERMES_CHUNK_SIZE                = tostring(var.chunk_size)
      HERMES_HISTORY_RETENTION_SECONDS = tostring(var.history_retention_seconds)
      HERMES_MAX_REPLAY                = tostring(var.max_replay_messages)
    },
    local.history_enabled ? { HERMES_HISTORY_TABLE = module.connection_store.history_table_name } : {},
    local.presence_env, # a leave when a 410 removes a user's last connection
  )

  # KMS statements only when a customer managed key is involved (docs/contract.md "Least privilege").
  dynamodb_kms_statements = var.dynamodb_kms_key_arn == null ? [] : [{
    sid       = "DecryptTableKey"
    actions   = ["kms:Decrypt"]
    resources = [var.dynamodb_kms_key_arn]
  }]
  sqs_kms_statements = var.sqs_kms_key_arn == null ? [] : [{
    sid       = "UseQueueKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.sqs_kms_key_arn]
  }]
  secret_kms_statements = var.jwt_secret_kms_key_arn == null ? [] : [{
    sid       = "DecryptSecretKey"
    actions   = ["kms:Decrypt"]
    resources = [var.jwt_secret_kms_key_arn]
  }]

  # With presence_events_enabled only: connect and disconnect look up the user's other connections and the room's
  # size (Query), and queue the event on the internal queue (with its key's use when it has one).
  presence_statements = var.presence_events_enabled ? concat([{
    sid       = "QueuePresenceEvents"
    actions   = ["sqs:SendMessage"]
    resources = [module.fanout_queue.queue_arn]
  }], local.sqs_kms_statements) : []

  policy_statements = {
    authorizer = concat(
      [{
        # UpdateItem marks single-use tokens used (a conditional write).
        sid       = "ReadTokens"
        actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        resources = [module.connection_store.tokens_table_arn]
      }],
      local.secret_via_env ? [] : concat([{
        sid       = "ReadJwtSecret"
        actions   = module.secret.read_actions
        resources = [module.secret.arn]
      }], local.secret_kms_statements),
      local.dynamodb_kms_statements,
    )
    connect = concat([
      {
        # PutItem: the user row and a row per room, in one transaction with UpdateItem: the user's set of live
        # connections (the cap); ConditionCheckItem: the user row, for room rows past the first transaction;
        # Query: at the cap, which of the set's connections still have rows; GetItem/DeleteItem/BatchWriteItem:
        # the rows again when a room was revoked between two transactions...
        sid       = "PutConnection"
        actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
        resources = [module.connection_store.connections_table_arn]
      },
      {
        # ... the token's rooms (GetItem), with a check that it was not revoked or changed meanwhile.
        sid       = "CheckTokenStillIssued"
        actions   = ["dynamodb:GetItem", "dynamodb:ConditionCheckItem"]
        resources = [module.connection_store.tokens_table_arn]
      },
    ], local.presence_statements, local.dynamodb_kms_statements)
    disconnect = concat([{
      # GetItem: the user row (its rooms); BatchWriteItem: the rooms' rows; DeleteItem: the user row, last
      # (returning rooms joined meanwhile); UpdateItem: the connection's place under the cap
      sid       = "DeleteConnection"
      actions   = concat(["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"], var.presence_events_enabled ? ["dynamodb:Query"] : [])
      resources = [module.connection_store.connections_table_arn]
    }], local.presence_statements, local.dynamodb_kms_statements)
    send_message = concat(
      local.delivery_statements,
      [{
        sid       = "ConsumeQueues"
        actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        resources = [module.message_queue.queue_arn, module.fanout_queue.queue_arn]
      }],
      var.queue_fifo ? [{
        sid       = "ParkUndeliverableRecords"
        actions   = ["sqs:SendMessage"]
        resources = [module.message_queue.dlq_arn]
      }] : [],
    )
    tokens = local.token_statements
    # sendMessage, resume, join and leave: no queue to consume
    client_routes = concat(
      local.delivery_statements,
      [
        {
          # join: a room row (PutItem) and the user row's set (UpdateItem) in one transaction with ...
          sid       = "JoinRooms"
          actions   = ["dynamodb:PutItem"]
          resources = [module.connection_store.connections_table_arn]
        },
        {
          # ... a check that the grant exists, matches and has not expired (never a read of the token rows)
          sid       = "CheckGrants"
          actions   = ["dynamodb:ConditionCheckItem"]
          resources = [module.connection_store.tokens_table_arn]
        },
      ],
      local.secret_via_env ? [] : concat([{
        sid       = "ReadJwtSecret"
        actions   = module.secret.read_actions
        resources = [module.secret.arn]
      }], local.secret_kms_statements),
    )
  }

  # The token function: the token issuer's policy (outputs.tf token_issuer_policy_json), held by the stack.
  token_statements = concat(
    [
      {
        # PutItem: a token or a grant; Query/BatchWriteItem/UpdateItem/DeleteItem: revoking them
        sid       = "IssueAndRevokeTokens"
        actions   = ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        resources = [module.connection_store.tokens_table_arn]
      },
      {
        # presence, kick and revoke find the user's (or room's) rows and forget them: no write that adds one
        sid       = "FindAndForgetConnections"
        actions   = ["dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:GetItem"]
        resources = [module.connection_store.connections_table_arn]
      },
      {
        # a room taken off a live socket: its user row's set only
        sid       = "TakeRoomsOffConnections"
        actions   = ["dynamodb:UpdateItem"]
        resources = [module.connection_store.connections_table_arn]
        condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["user#*"] } }
      },
      {
        # DELETE closes a socket; POST tells one that stays open which room it left (hermes.left)
        sid     = "CloseConnections"
        actions = ["execute-api:ManageConnections"]
        resources = [
          "${local.execution_arn}/${local.environment}/DELETE/@connections/*",
          "${local.execution_arn}/${local.environment}/POST/@connections/*",
        ]
      },
    ],
    local.secret_via_env ? [] : concat([{
      sid       = "ReadJwtSecret"
      actions   = module.secret.read_actions
      resources = [module.secret.arn]
    }], local.secret_kms_statements),
    local.dynamodb_kms_statements,
  )

  delivery_statements = concat(
    [
      {
        # Query: a room's or a user's connections; GetItem: the sender's row; DeleteItem/BatchWriteItem: rows
        # of gone connections; UpdateItem: their places under the cap, the client-message and resume budgets.
        sid       = "ReadDeleteConnections"
        actions   = ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
        resources = [module.connection_store.connections_table_arn]
      },
      {
        sid       = "PostToConnections"
        actions   = ["execute-api:ManageConnections"]
        resources = ["${local.execution_arn}/${local.environment}/POST/@connections/*"]
      },
      {
        # SendMessageBatch is authorized by the sqs:SendMessage action.
        sid       = "EnqueueChunkJobs"
        actions   = ["sqs:SendMessage"]
        resources = [module.fanout_queue.queue_arn]
      },
    ],
    local.history_enabled ? [{
      # UpdateItem + PutItem: a position and its envelope, in one transaction; GetItem/Query: replays.
      sid       = "KeepAndReplayHistory"
      actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      resources = [module.connection_store.history_table_arn]
    }] : [],
    local.sqs_kms_statements,
    local.dynamodb_kms_statements,
  )
}

module "function" {
  source   = "./modules/function"
  for_each = toset(local.function_keys)

  function_name                  = local.function_names[each.key]
  role_name                      = local.role_names[each.key]
  description                    = local.function_descriptions[each.key]
  filename                       = "${local.artifacts_dir}/${try(local.manifest.functions[each.key].file, "missing-${each.key}.zip")}"
  source_code_hash               = try(local.manifest.functions[each.key].source_code_hash, "")
  handler                        = try(local.manifest.functions[each.key].handler, "${each.key}.handler")
  runtime                        = var.runtime
  architecture                   = var.architecture
  memory_size                    = var.function_config[each.key].memory_size
  timeout                        = var.function_config[each.key].timeout
  reserved_concurrent_executions = var.function_config[each.key].reserved_concurrent_executions
  layers                         = concat([aws_lambda_layer_version.deps.arn], var.extra_layer_arns)
  environment_variables          = local.environment_variables[each.key]
  policy_statements              = local.policy_statements[each.key]
  tracing_mode                   = var.tracing_mode
  log_retention_in_days          = var.log_retention_in_days
  log_kms_key_arn                = var.log_kms_key_arn
  kms_key_arn                    = var.lambda_kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn
  permissions_boundary           = var.iam_permissions_boundary
  tags                           = local.tags
}

# --- WebSocket API --------------------------------------------------------------------------------

module "websocket_api" {
  source = "./modules/websocket_api"

  name       = local.prefix
  stage_name = local.environment
  functions = {
    for k in local.api_function_keys : k => {
      function_name = module.function[k].function_name
      invoke_arn    = module.function[k].invoke_arn
    }
  }
  client_messages_enabled  = var.client_messages_enabled
  resume_enabled           = local.history_enabled
  client_message_throttle  = var.client_message_route_throttle
  resume_throttle          = var.resume_route_throttle
  join_throttle            = var.join_route_throttle
  throttling_burst_limit   = var.throttling_burst_limit
  throttling_rate_limit    = var.throttling_rate_limit
  access_logs_enabled      = local.access_logs_enabled
  logging_level            = var.stage_logging_level
  detailed_metrics_enabled = var.stage_detailed_metrics_enabled
  log_retention_in_days    = var.log_retention_in_days
  log_kms_key_arn          = var.log_kms_key_arn
  tags                     = local.tags
}

module "custom_domain" {
  source = "./modules/custom_domain"
  # An incomplete domain configuration is reported by the custom_domain validation instead of provider errors.
  count = local.custom_domain_enabled ? 1 : 0

  domain_name        = local.environment_domain_name
  zone_id            = var.custom_domain.zone_id
  certificate_arn    = var.custom_domain.certificate_arn
  api_id             = module.websocket_api.api_id
  stage_name         = module.websocket_api.stage_name
  create_ipv6_record = var.custom_domain.ipv6_enabled
  tags               = local.tags
}

# --- Cross-input checks -------------------------------------------------------------------------

# Cross-input checks are variable validations (Terraform >= 1.9 lets them refer to other inputs), so an
# error names the input; the stage-logging checks of the account are postconditions of its lookup. The
# terraform_data that held them as preconditions leaves existing states, and nothing else changes.
removed {
  from = terraform_data.checks

  lifecycle {
    destroy = false
  }
}

# --- Alarms and dashboard (off by default) --------------------------------------------------------

module "monitoring" {
  source = "./modules/monitoring"

  name              = local.prefix
  create_alarms     = var.create_alarms
  create_dashboard  = var.create_dashboard
  alarm_actions     = var.alarm_actions
  thresholds        = var.alarm_thresholds
  metrics_namespace = var.metrics_namespace
  api_id            = module.websocket_api.api_id
  stage_name        = module.websocket_api.stage_name
  function_names    = { for k in local.function_keys : k => module.function[k].function_name }
  queues = {
    work       = module.message_queue.queue_name
    work_dlq   = element(split(":", module.message_queue.dlq_arn), 5)
    fanout     = module.fanout_queue.queue_name
    fanout_dlq = element(split(":", module.fanout_queue.dlq_arn), 5)
  }
  tags = local.tags
}
