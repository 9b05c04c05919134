# Module tests against a mocked aws provider: offline, plan only. One file on purpose: every test file
# pays Terraform's start-up (configuration + provider schema) once, the runs inside it are cheap.
#
# Sections: naming per workspace/environment · least-privilege IAM · stage logging · custom domain · JWT
# secret · input validation. tests/examples.tftest.hcl plans the examples.

# override_during = plan (Terraform >= 1.9): mocked ARNs are known at plan, so no run needs an apply.
mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

variables {
  artifacts_dir = "tests/fixtures/dist"
  environment   = "test"
}

# Fixed ARNs for the resources the IAM assertions name.
override_resource {
  override_during = plan
  target          = module.connection_store.aws_dynamodb_table.connections
  values = {
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"
  }
}

override_resource {
  override_during = plan
  target          = module.connection_store.aws_dynamodb_table.tokens
  values = {
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-tokens"
  }
}

override_resource {
  override_during = plan
  target          = module.connection_store.aws_dynamodb_table.history
  values = {
    arn  = "arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-history"
    name = "hermes-test-history"
  }
}

override_resource {
  override_during = plan
  target          = module.message_queue.aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-messages"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-messages"
  }
}

override_resource {
  override_during = plan
  target          = module.message_queue.aws_sqs_queue.dlq
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-messages-dlq"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-messages-dlq"
  }
}

override_resource {
  override_during = plan
  target          = module.fanout_queue.aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-fanout"
  }
}

override_resource {
  override_during = plan
  target          = module.fanout_queue.aws_sqs_queue.dlq
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout-dlq"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-fanout-dlq"
  }
}

# --- Naming per workspace / environment --------------------------------------------------------------

run "a_silent_default_workspace_is_refused" {
  command = plan

  # environment = null under `terraform test` (workspace "default"), as with remote execution (HCP Terraform)
  variables {
    environment = null
  }

  expect_failures = [var.environment]
}

run "an_environment_named_default_must_be_asked_for" {
  command = plan

  variables {
    environment = "default"
  }

  assert {
    condition     = output.environment == "default" && output.name_prefix == "hermes-default"
    error_message = "An explicit environment names everything."
  }
  assert {
    condition     = module.websocket_api.stage_name == "default"
    error_message = "The stage must be named after the environment."
  }
  assert {
    condition     = module.function["send_message"].function_name == "hermes-default-send-message" && module.function["authorizer"].function_name == "hermes-default-authorizer"
    error_message = "Function names must be <name>-<environment>-<function>."
  }
  assert {
    condition     = output.connections_table_name == "hermes-default-connections" && output.tokens_table_name == "hermes-default-tokens"
    error_message = "Table names must be <name>-<environment>-<table>."
  }
  assert {
    condition     = module.message_queue.queue_name == "hermes-default-messages.fifo"
    error_message = "Queue name must be <name>-<environment>-messages, FIFO by default."
  }

  assert {
    condition     = output.jwt_secret_source == "secretsmanager" && output.jwt_secret_id == output.jwt_secret_arn
    error_message = "The default secret is a Secrets Manager secret, read by ARN."
  }

  assert {
    condition = module.function["send_message"].role_name == "hermes-default-send-message-eu-west-1" && alltrue([
      for k, f in module.function : endswith(f.role_name, "-eu-west-1")
    ])
    error_message = "Role names carry the region (IAM names are account-wide): ${jsonencode([for f in module.function : f.role_name])}"
  }
}

run "explicit_environment_name_and_sizing" {
  command = plan

  variables {
    name                               = "chat"
    environment                        = "prod"
    function_config                    = { send_message = { timeout = 45 } }
    queue_fifo                         = false # a batching window needs a standard queue
    maximum_batching_window_in_seconds = 5
  }

  assert {
    condition     = output.name_prefix == "chat-prod" && module.websocket_api.stage_name == "prod"
    error_message = "var.environment must win over the workspace."
  }
  assert {
    condition = toset(values(output.function_names)) == toset([
      "chat-prod-authorizer", "chat-prod-client-routes", "chat-prod-connect", "chat-prod-disconnect", "chat-prod-send-message", "chat-prod-tokens",
    ])
    error_message = "Unexpected function names: ${jsonencode(output.function_names)}"
  }
  assert {
    condition     = output.connections_table_name == "chat-prod-connections"
    error_message = "Table names must follow the environment."
  }
  assert {
    condition     = module.function["connect"].environment_variables["HERMES_CONNECTIONS_TABLE"] == "chat-prod-connections"
    error_message = "connect must get HERMES_CONNECTIONS_TABLE."
  }
  assert {
    condition     = module.function["send_message"].environment_variables["HERMES_MANAGEMENT_ENDPOINT"] == "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"
    error_message = "send_message posts to the API's own endpoint plus the stage."
  }
  assert {
    condition     = length(setintersection(keys(module.function["send_message"].environment_variables), ["HERMES_API_ID", "HERMES_STAGE"])) == 0
    error_message = "HERMES_API_ID/HERMES_STAGE are gone (the endpoint is not built from them any more)."
  }

  assert {
    condition = (
      var.function_config.authorizer.memory_size == 1024 && var.function_config.send_message.memory_size == 1769 &&
      var.function_config.send_message.timeout == 45 && var.function_config.connect.memory_size == 256
    )
    error_message = "A partial function_config keeps the other defaults (CPU-bound functions: 1024 / 1769 MB)."
  }
  assert {
    condition     = output.queue_visibility_timeout_seconds == 6 * 45 + 5
    error_message = "Visibility timeout must be 6 x timeout + batching window."
  }
  assert {
    condition     = module.function["authorizer"].environment_variables["HERMES_TOKENS_TABLE"] == "chat-prod-tokens"
    error_message = "authorizer must get HERMES_TOKENS_TABLE."
  }

  assert {
    condition     = length(module.custom_domain) == 0
    error_message = "No custom domain resources when custom_domain = null."
  }
  assert {
    condition     = output.custom_domain_name == null
    error_message = "custom_domain_name must be null when the domain is off."
  }
}

# --- Least privilege: every statement scoped to exact ARNs (docs/contract.md "Least privilege per function") ---

run "least_privilege_with_defaults" {
  command = plan

  variables {
    tracing_mode = "PassThrough"
  }

  assert {
    condition = {
      for s in jsondecode(output.function_policies["send_message"]).Statement : s.Sid => s.Resource
      } == {
      WriteOwnLogGroup      = ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/hermes-test-fn:*"]
      ReadDeleteConnections = ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"]
      PostToConnections     = ["arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/POST/@connections/*"]
      ConsumeQueues         = ["arn:aws:sqs:eu-west-1:123456789012:hermes-test-messages", "arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout"]
      # chunk jobs only on the internal queue: never on the queue publishers write to
      EnqueueChunkJobs     = ["arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout"]
      KeepAndReplayHistory = ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-history"]
      # FIFO by default: a record that can never be delivered is parked in the work queue's DLQ at once
      ParkUndeliverableRecords = ["arn:aws:sqs:eu-west-1:123456789012:hermes-test-messages-dlq"]
    }
    error_message = "send_message statements/resources differ: ${output.function_policies["send_message"]}"
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["send_message"]).Statement : s.Sid => s.Action
      } == {
      WriteOwnLogGroup         = ["logs:CreateLogStream", "logs:PutLogEvents"]
      ReadDeleteConnections    = ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
      PostToConnections        = ["execute-api:ManageConnections"]
      ConsumeQueues            = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      EnqueueChunkJobs         = ["sqs:SendMessage"]
      KeepAndReplayHistory     = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      ParkUndeliverableRecords = ["sqs:SendMessage"]
    }
    error_message = "send_message actions differ: ${output.function_policies["send_message"]}"
  }
  assert {
    # the internal fan-out queue: an explicit Deny of sqs:SendMessage to everyone but Hermes' own roles
    condition = jsondecode(module.fanout_queue.queue_policy_json).Statement == [{
      Sid       = "OnlyTheseRolesSend"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:SendMessage"
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout"
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = [module.function["send_message"].role_arn, module.function["client_routes"].role_arn] } }
      }, {
      Sid       = "OnlyTheseRolesConsume"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout"
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = [module.function["send_message"].role_arn] } }
    }] && module.message_queue.queue_policy_json == null
    error_message = "Only send_message and client_routes may write to the internal queue: ${module.fanout_queue.queue_policy_json}"
  }
  assert {
    # the clients' routes deliver as send_message does and consume no queue; join writes a room row and checks
    # a grant (never reads the tokens table) with the signing key, read as the authorizer reads it
    condition = {
      for s in jsondecode(output.function_policies["client_routes"]).Statement : s.Sid => [s.Action, s.Resource]
      } == merge({
        for s in jsondecode(output.function_policies["send_message"]).Statement : s.Sid => [s.Action, s.Resource]
        if !contains(["ConsumeQueues", "ParkUndeliverableRecords"], s.Sid)
        }, {
        JoinRooms     = [["dynamodb:PutItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"]]
        CheckGrants   = [["dynamodb:ConditionCheckItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-tokens"]]
        ReadJwtSecret = [["secretsmanager:GetSecretValue"], ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"]]
    })
    error_message = "client_routes statements differ: ${output.function_policies["client_routes"]}"
  }
  assert {
    condition = alltrue(flatten([
      for k, p in output.function_policies : [for s in jsondecode(p).Statement : !contains(s.Resource, "*")]
    ]))
    error_message = "No statement may use Resource \"*\" unless X-Ray is Active."
  }

  assert {
    condition = {
      for s in jsondecode(output.function_policies["connect"]).Statement : s.Sid => [s.Action, s.Resource]
      if s.Sid != "WriteOwnLogGroup"
      } == {
      PutConnection         = [["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"]]
      CheckTokenStillIssued = [["dynamodb:GetItem", "dynamodb:ConditionCheckItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-tokens"]]
    }
    error_message = "connect may write connection rows, read its token's rooms and check it is unchanged: ${output.function_policies["connect"]}"
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["disconnect"]).Statement : s.Sid => [s.Action, s.Resource]
      }["DeleteConnection"] == [
      ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"],
    ]
    error_message = "disconnect may only delete its rows (DeleteItem: the user row with its rooms, BatchWriteItem: the rooms' rows) and free its cap place (UpdateItem)."
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["authorizer"]).Statement : s.Sid => [s.Action, s.Resource]
      } == {
      WriteOwnLogGroup = [["logs:CreateLogStream", "logs:PutLogEvents"], ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/hermes-test-fn:*"]]
      ReadTokens       = [["dynamodb:GetItem", "dynamodb:UpdateItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-tokens"]]
      ReadJwtSecret    = [["secretsmanager:GetSecretValue"], ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"]]
    }
    error_message = "authorizer policy differs: ${output.function_policies["authorizer"]}"
  }
  assert {
    condition = output.publisher_policy_json == jsonencode({
      Version = "2012-10-17"
      Statement = [
        { Sid = "PublishNotifications", Effect = "Allow", Action = ["sqs:SendMessage"], Resource = ["arn:aws:sqs:eu-west-1:123456789012:hermes-test-messages"] },
      ]
    })
    error_message = "A publisher may only send to the work queue (no tokens, no secret, no fan-out queue): ${output.publisher_policy_json}"
  }
  assert {
    condition = output.token_issuer_policy_json == jsonencode({
      Version = "2012-10-17"
      Statement = [
        { Sid = "IssueAndRevokeTokens", Effect = "Allow", Action = ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], Resource = ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-tokens"] },
        { Sid = "FindAndForgetConnections", Effect = "Allow", Action = ["dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:GetItem"], Resource = ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"] },
        # a room revoked out of a live socket: UpdateItem on user rows only (never the cap, budgets or room rows)
        { Sid = "TakeRoomsOffConnections", Effect = "Allow", Action = ["dynamodb:UpdateItem"], Resource = ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"], Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["user#*"] } } },
        { Sid = "CloseConnections", Effect = "Allow", Action = ["execute-api:ManageConnections"], Resource = ["arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/DELETE/@connections/*", "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/POST/@connections/*"] },
        { Sid = "ReadJwtSecret", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"] },
      ]
    })
    error_message = "token_issuer_policy_json differs: ${output.token_issuer_policy_json}"
  }
  assert {
    condition     = !contains(keys(module.websocket_api.lambda_permission_source_arns), "send_message")
    error_message = "Client messages are off by default: no sendMessage route, no invoke permission for it."
  }

  assert {
    condition = module.websocket_api.lambda_permission_source_arns == {
      authorizer = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/authorizers/auth01"
      connect    = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/$connect"
      disconnect = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/$disconnect"
      # history is on by default: clients resume through a two-way route to client_routes
      resume = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/resume"
      # rooms on a live socket (always)
      join  = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/join"
      leave = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/leave"
    }
    error_message = "Unexpected source ARNs: ${jsonencode(module.websocket_api.lambda_permission_source_arns)}"
  }
  assert {
    condition     = output.management_endpoint == "https://abc123defg.execute-api.eu-west-1.amazonaws.com/test"
    error_message = "management_endpoint must be https://<api>.execute-api.<region>.amazonaws.com/<stage>."
  }
  assert {
    condition     = output.websocket_url == "wss://abc123defg.execute-api.eu-west-1.amazonaws.com/test"
    error_message = "websocket_url without a custom domain is the API endpoint plus the stage."
  }
  assert {
    condition = jsonencode(output.hermes_config) == jsonencode({
      queue_url           = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-messages"
      tokens_table        = "hermes-test-tokens"
      connections_table   = "hermes-test-connections"
      history_table       = "hermes-test-history"
      management_endpoint = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/test"
      jwt_secret_source   = "secretsmanager"
      jwt_secret_id       = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"
      jwt_issuer          = null
      jwt_audience        = null
      region              = "eu-west-1"
      websocket_url       = "wss://abc123defg.execute-api.eu-west-1.amazonaws.com/test"
      token_function_name = "hermes-test-tokens"
      token_function_arn  = module.function["tokens"].function_arn
    })
    error_message = "hermes_config differs: ${jsonencode(output.hermes_config)}"
  }
  assert {
    # a backend that asks the token function holds one permission: invoking that function
    condition = jsondecode(output.token_caller_policy_json).Statement == [{
      Sid      = "AskTheTokenFunction"
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [module.function["tokens"].function_arn]
    }] && output.token_function_arn == module.function["tokens"].function_arn
    error_message = "token_caller_policy_json must allow lambda:InvokeFunction on the token function only: ${output.token_caller_policy_json}"
  }
  assert {
    # the signing key: read by the authorizer (tokens), client_routes (grants, on join) and the token function
    condition = toset([
      for k, p in output.function_policies : k if contains([for s in jsondecode(p).Statement : s.Sid], "ReadJwtSecret")
    ]) == toset(["authorizer", "client_routes", "tokens"])
    error_message = "Only the authorizer, client_routes and the token function may read the signing key."
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["tokens"]).Statement : s.Sid => [s.Action, lookup(s, "Condition", null)]
      } == {
      WriteOwnLogGroup         = [["logs:CreateLogStream", "logs:PutLogEvents"], null]
      IssueAndRevokeTokens     = [["dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], null]
      FindAndForgetConnections = [["dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:GetItem"], null]
      TakeRoomsOffConnections  = [["dynamodb:UpdateItem"], { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["user#*"] } }]
      CloseConnections         = [["execute-api:ManageConnections"], null]
      ReadJwtSecret            = [["secretsmanager:GetSecretValue"], null]
    }
    error_message = "token function statements differ: ${output.function_policies["tokens"]}"
  }
  assert {
    # invoked by backends, never by the API: no route or permission of API Gateway reaches it
    condition     = !contains(values(module.websocket_api.route_functions), module.function["tokens"].function_name)
    error_message = "The token function must not be behind a route."
  }

  assert {
    condition = (
      module.function["authorizer"].environment_variables["HERMES_JWT_SECRET_SOURCE"] == "secretsmanager" &&
      module.function["authorizer"].environment_variables["HERMES_JWT_SECRET_ID"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf" &&
      !contains(keys(module.function["authorizer"].environment_variables), "HERMES_JWT_SECRET")
    )
    error_message = "By default the authorizer reads the Secrets Manager secret by ARN (10,000 GetSecretValue/s; SSM allows 40 GetParameter/s)."
  }
  assert {
    condition     = module.secret.read_actions == ["secretsmanager:GetSecretValue"]
    error_message = "Secrets Manager readers need secretsmanager:GetSecretValue."
  }
}

run "fifo_work_queue" {
  command = plan

  variables {
    queue_fifo = true
  }

  assert {
    condition     = module.message_queue.queue_name == "hermes-test-messages.fifo"
    error_message = "A FIFO work queue (and its DLQ) carry the .fifo suffix."
  }
}

run "fifo_takes_no_batching_window" {
  command = plan

  variables {
    queue_fifo                         = true
    maximum_batching_window_in_seconds = 2
  }

  expect_failures = [var.maximum_batching_window_in_seconds]
}

run "ssm_store_by_choice" {
  command = plan

  variables {
    jwt_secret_store = "ssm"
  }

  assert {
    condition = (
      output.jwt_secret_id == "/hermes/test/jwt-secret" && output.jwt_secret_source == "ssm" &&
      module.function["authorizer"].environment_variables["HERMES_JWT_SECRET_ID"] == "/hermes/test/jwt-secret"
    )
    error_message = "The SSM store is the parameter /<name>/<environment>/jwt-secret, read by name."
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["authorizer"]).Statement : s.Sid => [s.Action, s.Resource]
    }["ReadJwtSecret"] == [["ssm:GetParameter"], ["arn:aws:ssm:eu-west-1:123456789012:parameter/hermes/test/jwt-secret"]]
    error_message = "SSM readers need ssm:GetParameter on that parameter only."
  }
}

run "long_names_keep_role_names_within_iam_limits" {
  command = plan

  variables {
    name        = "notifications-platform-x" # the longest name and environment allowed
    environment = "integration-test"
  }

  override_data {
    target = data.aws_region.current
    values = { id = "ap-southeast-2", name = "ap-southeast-2" }
  }

  assert {
    condition = alltrue([
      for k, f in module.function : length(f.role_name) <= 64 && endswith(f.role_name, "-ap-southeast-2")
    ]) && length(toset([for f in module.function : f.role_name])) == 6
    error_message = "Role names must stay <= 64 characters, distinct and regional: ${jsonencode([for f in module.function : f.role_name])}"
  }
  assert {
    condition     = module.function["connect"].role_name == "notifications-platform-x-integration-test-connect-ap-southeast-2"
    error_message = "Names that fit are kept whole: ${module.function["connect"].role_name}"
  }
  assert {
    condition = (
      length(module.function["send_message"].role_name) == 64 &&
      startswith(module.function["send_message"].role_name, "notifications-platform-x-integration-tes-")
    )
    error_message = "Longer names are shortened, with a hash: ${module.function["send_message"].role_name}"
  }
}

# --- Stage logging: API Gateway logs only with its account-level CloudWatch role (modules/account) ----

run "fresh_account_has_no_stage_logging" {
  command = plan

  # defaults: stage_access_logs = "auto", stage_logging_level = "OFF", no marker (mock)
  assert {
    condition     = output.access_log_group_name == null && output.execution_log_group_name == null
    error_message = "Without the account's CloudWatch role the default plan must not log (API Gateway would refuse the stage)."
  }
}

run "bootstrapped_account_gets_access_logs" {
  command = plan

  variables {
    stage_logging_level = "ERROR"
  }

  override_data {
    target = data.aws_ssm_parameters_by_path.account
    values = { names = ["/hermes/account/api-gateway-cloudwatch-role-arn"] }
  }

  assert {
    condition     = output.access_log_group_name == "/aws/apigateway/hermes-test/test/access"
    error_message = "auto turns access logs on once modules/account recorded the role."
  }
  assert {
    condition     = output.execution_log_group_name == "API-Gateway-Execution-Logs_abc123defg/test"
    error_message = "Execution logging creates API Gateway's execution log group (with the module's retention)."
  }
  assert {
    condition     = data.aws_ssm_parameters_by_path.account[0].with_decryption == false
    error_message = "The marker lookup reads names only: no SecureString under its path may be decrypted into the state."
  }
}

run "access_logs_off_by_choice" {
  command = plan

  variables {
    stage_access_logs = "off"
  }

  override_data {
    target = data.aws_ssm_parameters_by_path.account
    values = { names = ["/hermes/account/api-gateway-cloudwatch-role-arn"] }
  }

  assert {
    condition     = output.access_log_group_name == null
    error_message = "off means off."
  }
}

run "access_logs_on_need_the_account_role" {
  command = plan

  variables {
    stage_access_logs = "on"
  }

  expect_failures = [data.aws_ssm_parameters_by_path.account]
}

run "execution_logging_needs_the_account_role" {
  command = plan

  variables {
    stage_logging_level = "INFO"
  }

  expect_failures = [data.aws_ssm_parameters_by_path.account]
}

run "a_marker_elsewhere_is_not_this_one" {
  command = plan

  variables {
    stage_access_logs                  = "on"
    api_gateway_account_parameter_name = "/platform/apigateway/cloudwatch-role"
  }

  override_data {
    target = data.aws_ssm_parameters_by_path.account
    values = { names = ["/platform/apigateway/other"] }
  }

  expect_failures = [data.aws_ssm_parameters_by_path.account]
}

run "history_off" {
  command = plan

  variables {
    history_retention_seconds = 0
  }

  assert {
    condition     = output.history_table_name == null && !contains(keys(module.websocket_api.lambda_permission_source_arns), "resume")
    error_message = "history_retention_seconds = 0: no history table, no resume route."
  }
  assert {
    condition = (
      !contains(keys(module.function["send_message"].environment_variables), "HERMES_HISTORY_TABLE") &&
      module.function["send_message"].environment_variables["HERMES_HISTORY_RETENTION_SECONDS"] == "0" &&
      !strcontains(output.function_policies["send_message"], "KeepAndReplayHistory")
    )
    error_message = "No history: no table for send_message and no permission on one."
  }
}

run "logs_and_metrics_name_the_deployment" {
  command = plan

  assert {
    condition = alltrue([
      for k in ["authorizer", "client_routes", "connect", "disconnect", "send_message"] :
      module.function[k].environment_variables["POWERTOOLS_SERVICE_NAME"] == "hermes-test" &&
      module.function[k].environment_variables["POWERTOOLS_METRICS_NAMESPACE"] == "Hermes"
    ])
    error_message = "Every function logs and measures as <name>-<environment> in the metrics namespace."
  }
}

run "alarms_and_dashboard_are_opt_in" {
  command = plan

  variables {
    create_alarms    = true
    create_dashboard = true
    alarm_actions    = ["arn:aws:sns:eu-west-1:123456789012:oncall"]
    alarm_thresholds = { queue_age_seconds = 120 }
  }

  assert {
    condition = toset(keys(output.alarm_names)) == toset([
      "work-dlq-depth", "fanout-dlq-depth", "work-queue-age", "fanout-backlog", "send-message-errors",
      "send-message-throttles", "client-routes-errors", "authorizer-errors", "stage-integration-errors", "stage-execution-errors",
      "stage-client-errors", "failed-records", "stale-connections",
    ])
    error_message = "Every alarm of the issue exists: ${jsonencode(keys(output.alarm_names))}"
  }
  assert {
    condition     = output.alarm_names["work-dlq-depth"] == "hermes-test-work-dlq-depth" && output.dashboard_name == "hermes-test"
    error_message = "Alarms and the dashboard are named after the deployment."
  }
  assert {
    condition = (
      jsonencode(module.monitoring.alarms["work-dlq-depth"].dimensions) == jsonencode({ QueueName = "hermes-test-messages-dlq" }) &&
      jsonencode(module.monitoring.alarms["fanout-dlq-depth"].dimensions) == jsonencode({ QueueName = "hermes-test-fanout-dlq" }) &&
      module.monitoring.alarms["fanout-backlog"].metric == "ApproximateAgeOfOldestMessage" &&
      module.monitoring.alarms["fanout-backlog"].threshold == 120 &&
      jsonencode(module.monitoring.alarms["send-message-throttles"].dimensions) == jsonencode({ FunctionName = "hermes-test-send-message" }) &&
      jsonencode(module.monitoring.alarms["stage-integration-errors"].dimensions) == jsonencode({ ApiId = "abc123defg", Stage = "test" }) &&
      module.monitoring.alarms["failed-records"].namespace == "Hermes" &&
      jsonencode(module.monitoring.alarms["failed-records"].dimensions) == jsonencode({ service = "hermes-test" })
    )
    error_message = "Alarms watch this deployment's queues, functions, stage and metrics: ${jsonencode(module.monitoring.alarms)}"
  }
  assert {
    condition     = alltrue([for a in values(module.monitoring.alarms) : jsonencode(a.actions) == jsonencode(["arn:aws:sns:eu-west-1:123456789012:oncall"])])
    error_message = "Every alarm notifies the given actions."
  }
}

run "no_alarms_by_default" {
  command = plan

  assert {
    condition     = output.alarm_names == {} && output.dashboard_name == null
    error_message = "Alarms and dashboard are opt-in."
  }
}

run "client_messages_are_opt_in" {
  command = plan

  variables {
    client_messages_enabled   = true
    client_message_rate_limit = { messages = 5 }
  }

  assert {
    condition     = module.websocket_api.lambda_permission_source_arns["send_message"] == "arn:aws:execute-api:eu-west-1:123456789012:abc123defg/test/sendMessage"
    error_message = "With client messages on, the sendMessage route exists."
  }
  assert {
    condition = (
      module.websocket_api.route_functions["send_message"] == "hermes-test-client-routes" &&
      module.websocket_api.route_functions["resume"] == "hermes-test-client-routes"
    )
    error_message = "The clients' routes run in client_routes, never in send_message: ${jsonencode(module.websocket_api.route_functions)}"
  }
  assert {
    condition = (
      module.function["client_routes"].environment_variables["HERMES_CLIENT_MESSAGES"] == "true" &&
      module.function["client_routes"].environment_variables["HERMES_CLIENT_MESSAGE_LIMIT"] == "5" &&
      module.function["client_routes"].environment_variables["HERMES_CLIENT_MESSAGE_WINDOW_SECONDS"] == "10" &&
      !contains(keys(module.function["send_message"].environment_variables), "HERMES_CLIENT_MESSAGES")
    )
    error_message = "client_routes gets the switch and the per-user rate limit; send_message does not."
  }
  assert {
    condition = {
      for r in module.websocket_api.stage_route_settings : r.route_key => [r.throttling_rate_limit, r.throttling_burst_limit]
      } == {
      sendMessage = [100, 50]
      resume      = [100, 200]
      join        = [100, 200]
      leave       = [100, 200]
    }
    error_message = "Both clients' routes are throttled for the whole stage: ${jsonencode(module.websocket_api.stage_route_settings)}"
  }
  assert {
    condition = (
      module.function["client_routes"].environment_variables["HERMES_RESUME_LIMIT"] == "10" &&
      module.function["client_routes"].environment_variables["HERMES_RESUME_WINDOW_SECONDS"] == "60" &&
      module.function["client_routes"].environment_variables["HERMES_MAX_REPLAY_BYTES"] == "1048576"
    )
    error_message = "Resumes are metered per connection and bounded in bytes by default."
  }
  assert {
    condition     = module.function["connect"].environment_variables["HERMES_MAX_CONNECTIONS_PER_USER"] == "20"
    error_message = "connect caps connections per user (default 20)."
  }
  assert {
    condition = (
      module.function["connect"].environment_variables["HERMES_MAX_ROOMS_PER_CONNECTION"] == "100" &&
      module.function["client_routes"].environment_variables["HERMES_MAX_ROOMS_PER_CONNECTION"] == "100"
    )
    error_message = "connect and the join route bound the rooms of a socket (default 100)."
  }
  assert {
    condition     = contains(keys(module.websocket_api.route_ids), "join") && contains(keys(module.websocket_api.route_ids), "leave")
    error_message = "The join and leave routes always exist: rooms are subscriptions on a live socket."
  }
}

run "presence_events_are_off_by_default" {
  command = plan

  assert {
    condition = alltrue([
      for k in ["connect", "disconnect"] : !strcontains(output.function_policies[k], "sqs:")
    ])
    error_message = "Without presence_events_enabled, connect and disconnect may not send to any queue."
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["disconnect"]).Statement : s.Sid => s.Action if s.Sid != "WriteOwnLogGroup"
    } == { DeleteConnection = ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"] }
    error_message = "Without presence_events_enabled, disconnect only deletes: ${output.function_policies["disconnect"]}"
  }
  assert {
    condition = alltrue([
      for k in ["connect", "disconnect", "send_message"] :
      length([for name in keys(module.function[k].environment_variables) : name if startswith(name, "HERMES_PRESENCE")]) == 0
    ])
    error_message = "Without presence_events_enabled, no function gets HERMES_PRESENCE_* settings."
  }
}

run "presence_events_on" {
  command = plan

  variables {
    presence_events_enabled       = true
    presence_events_max_room_size = 250
    sqs_kms_key_arn               = "arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000001"
  }

  assert {
    condition     = length(jsondecode(module.fanout_queue.queue_policy_json).Statement[0].Condition.ArnNotEquals["aws:PrincipalArn"]) == 4
    error_message = "With presence events, connect and disconnect may write to the internal queue too."
  }

  assert {
    condition = alltrue([
      for k in ["connect", "disconnect", "send_message"] :
      module.function[k].environment_variables["HERMES_PRESENCE_EVENTS"] == "true" &&
      module.function[k].environment_variables["HERMES_PRESENCE_QUEUE_URL"] == "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-fanout" &&
      module.function[k].environment_variables["HERMES_PRESENCE_MAX_ROOM_SIZE"] == "250"
    ])
    error_message = "connect, disconnect and send_message (410 clean-up) get the switch, the internal queue and the bound."
  }
  assert {
    condition = alltrue([
      for k in ["connect", "disconnect"] : {
        for s in jsondecode(output.function_policies[k]).Statement : s.Sid => [s.Action, s.Resource]
        if contains(["QueuePresenceEvents", "UseQueueKey"], s.Sid)
        } == {
        # the internal queue only: never the work queue publishers write to
        QueuePresenceEvents = [["sqs:SendMessage"], ["arn:aws:sqs:eu-west-1:123456789012:hermes-test-fanout"]]
        UseQueueKey         = [["kms:Decrypt", "kms:GenerateDataKey"], ["arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000001"]]
      }
    ])
    error_message = "connect/disconnect: sqs:SendMessage on the fan-out queue and the queue key: ${output.function_policies["connect"]}"
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["disconnect"]).Statement : s.Sid => [s.Action, s.Resource]
      }["DeleteConnection"] == [
      ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:Query"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-connections"],
    ]
    error_message = "disconnect also queries the user's other connections and the room's size."
  }
  assert {
    condition = alltrue([
      for k in ["connect", "disconnect"] : !strcontains(output.function_policies[k], "hermes-test-messages")
    ])
    error_message = "Presence events never go to the public work queue."
  }
}

run "rooms_per_connection_are_at_most_100" {
  command = plan

  variables {
    max_rooms_per_connection = 101
  }

  expect_failures = [var.max_rooms_per_connection]
}

run "presence_room_size_is_bounded" {
  command = plan

  variables {
    presence_events_max_room_size = 0
  }

  expect_failures = [var.presence_events_max_room_size]
}

run "xray_active_and_customer_managed_keys" {
  command = plan

  variables {
    tracing_mode           = "Active"
    sqs_kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000001"
    jwt_secret_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000002"
  }

  assert {
    condition = alltrue([
      for k, p in output.function_policies : {
        for s in jsondecode(p).Statement : s.Sid => [s.Action, s.Resource]
      }["XRayWrite"] == [["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]]
    ])
    error_message = "Active tracing must add exactly the X-Ray write statement."
  }

  assert {
    condition = {
      for s in jsondecode(output.function_policies["send_message"]).Statement : s.Sid => s.Resource
    }["UseQueueKey"] == ["arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000001"]
    error_message = "send_message needs the queue key."
  }
  assert {
    condition = {
      for s in jsondecode(output.function_policies["authorizer"]).Statement : s.Sid => [s.Action, s.Resource]
    }["DecryptSecretKey"] == [["kms:Decrypt"], ["arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000002"]]
    error_message = "authorizer needs kms:Decrypt on the secret's key."
  }
  assert {
    condition     = !strcontains(output.function_policies["connect"], "kms:")
    error_message = "connect must not get KMS permissions for keys it does not use."
  }
}

# --- Custom domain toggle and host naming (names per environment, template fallback) ----------------

run "prod_uses_the_override" {
  command = plan

  variables {
    environment = "prod"
    custom_domain = {
      zone_id       = "Z0123456789ABCDEFGHIJ"
      names         = { prod = "ws.example.com" }
      name_template = "ws-{env}.example.com"
    }
  }

  assert {
    condition     = length(module.custom_domain) == 1 && output.custom_domain_name == "ws.example.com"
    error_message = "prod must use custom_domain.names[\"prod\"]."
  }

  assert {
    condition     = output.websocket_url == "wss://ws.example.com" && output.hermes_config.websocket_url == "wss://ws.example.com"
    error_message = "websocket_url must use the custom domain when it is on."
  }

  assert {
    condition     = module.custom_domain[0].certificate_arn == "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    error_message = "The domain must use the DNS-validated certificate."
  }

  assert {
    condition     = keys(module.custom_domain[0].record_fqdns) == ["A"]
    error_message = "Only an A record unless IPv6 is enabled."
  }
}

run "staging_uses_the_template_and_a_given_certificate" {
  command = plan

  variables {
    environment = "staging"
    custom_domain = {
      zone_id         = "Z0123456789ABCDEFGHIJ"
      names           = { prod = "ws.example.com" }
      name_template   = "ws-{env}.example.com"
      ipv6_enabled    = true
      certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/99999999-8888-7777-6666-555555555555"
    }
  }

  assert {
    condition     = output.custom_domain_name == "ws-staging.example.com"
    error_message = "Environments without an override use the template."
  }
  assert {
    condition     = output.websocket_url == "wss://ws-staging.example.com"
    error_message = "websocket_url must follow the custom domain."
  }

  assert {
    condition     = module.custom_domain[0].certificate_arn == "arn:aws:acm:eu-west-1:123456789012:certificate/99999999-8888-7777-6666-555555555555"
    error_message = "A given certificate must be used as is."
  }
  assert {
    condition     = toset(keys(module.custom_domain[0].record_fqdns)) == toset(["A", "AAAA"])
    error_message = "IPv6 adds an AAAA record."
  }
}

# --- JWT secret: created (generated or provided) in SSM or Secrets Manager, or given by ARN ----------

run "secrets_manager_created_with_value" {
  command = plan

  variables {
    jwt_secret_store                   = "secretsmanager"
    jwt_secret_value                   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-provided"
    jwt_secret_recovery_window_in_days = 0
  }

  assert {
    condition = (
      module.function["authorizer"].environment_variables["HERMES_JWT_SECRET_SOURCE"] == "secretsmanager" &&
      module.function["authorizer"].environment_variables["HERMES_JWT_SECRET_ID"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"
    )
    error_message = "Secrets Manager secrets are read by ARN."
  }

  assert {
    condition = {
      for s in jsondecode(output.function_policies["authorizer"]).Statement : s.Sid => [s.Action, s.Resource]
    }["ReadJwtSecret"] == [["secretsmanager:GetSecretValue"], ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"]]
    error_message = "authorizer may only GetSecretValue on that secret."
  }
}

run "existing_ssm_parameter_by_arn" {
  command = plan

  variables {
    jwt_secret_store  = "ssm"
    create_jwt_secret = false
    jwt_secret_arn    = "arn:aws:ssm:eu-west-1:123456789012:parameter/shared/hermes/jwt"
  }

  assert {
    condition     = output.jwt_secret_id == "/shared/hermes/jwt" && output.jwt_secret_arn == "arn:aws:ssm:eu-west-1:123456789012:parameter/shared/hermes/jwt"
    error_message = "An existing parameter's name is derived from its ARN."
  }

  assert {
    condition = {
      for s in jsondecode(output.function_policies["authorizer"]).Statement : s.Sid => s.Resource
    }["ReadJwtSecret"] == ["arn:aws:ssm:eu-west-1:123456789012:parameter/shared/hermes/jwt"]
    error_message = "authorizer may only read the given parameter."
  }
}

run "existing_secretsmanager_secret_by_arn" {
  command = plan

  variables {
    jwt_secret_store  = "secretsmanager"
    create_jwt_secret = false
    jwt_secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/jwt-XyZ123"
  }

  assert {
    condition     = output.jwt_secret_id == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/jwt-XyZ123"
    error_message = "An existing secret is read by its ARN."
  }
}

run "plaintext_env_opt_in_with_a_write_only_value" {
  command = plan

  variables {
    jwt_secret_value         = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-plaintext"
    jwt_secret_plaintext_env = true
    jwt_secret_write_only    = true
    jwt_secret_value_version = 2
    lambda_kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000003"
  }

  assert {
    condition = (
      module.function["authorizer"].environment_variables["HERMES_JWT_SECRET_SOURCE"] == "env" &&
      nonsensitive(module.function["authorizer"].environment_variables["HERMES_JWT_SECRET"]) == "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-plaintext"
    )
    error_message = "With the opt-in the authorizer gets the secret itself."
  }
  assert {
    condition     = !strcontains(output.function_policies["authorizer"], "ReadJwtSecret")
    error_message = "An authorizer that does not read the store gets no read permission."
  }
  assert {
    condition     = strcontains(output.token_issuer_policy_json, "secretsmanager:GetSecretValue")
    error_message = "The token issuer still reads the secret from the store."
  }

  assert {
    condition     = output.jwt_secret_id == output.jwt_secret_arn
    error_message = "Write-only mode still creates the secret."
  }
}

run "plaintext_env_needs_a_provided_value" {
  command = plan

  variables {
    jwt_secret_plaintext_env = true
    lambda_kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000003"
  }

  # a generated key is ephemeral: it never passes through Terraform, so it cannot go into the environment
  expect_failures = [var.jwt_secret_plaintext_env]
}

run "plaintext_env_needs_a_kms_key" {
  command = plan

  variables {
    jwt_secret_value         = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-plaintext"
    jwt_secret_plaintext_env = true
  }

  expect_failures = [var.jwt_secret_plaintext_env]
}

run "jwt_secret_value_is_counted_in_bytes" {
  command = plan

  variables {
    # 32 characters, 64 bytes in UTF-8: long enough for HS512
    jwt_secret_value = "éééééééééééééééééééééééééééééééé"
  }

  assert {
    condition     = output.jwt_secret_source == "secretsmanager"
    error_message = "A 64-byte value is accepted."
  }
}

run "jwt_secret_value_shorter_than_64_bytes" {
  command = plan

  variables {
    # 63 bytes: enough for the former 32-character rule (HS256), too short for HS512
    jwt_secret_value = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
  }

  expect_failures = [var.jwt_secret_value]
}

run "reserved_lambda_environment_keys" {
  command = plan

  variables {
    extra_environment_variables = { AWS_ENDPOINT_URL = "http://127.0.0.1:5000", AWS_REGION = "eu-west-1" }
  }

  expect_failures = [var.extra_environment_variables]
}

# --- Large rooms: chunk jobs run side by side (README "Large rooms", bench/fanout_model.py) -------------

run "chunk_jobs_run_one_per_invocation" {
  command = plan

  variables {
    queue_fifo                         = false
    batch_size                         = 10
    maximum_batching_window_in_seconds = 2
  }

  assert {
    condition     = module.fanout_queue.event_source_mapping_batching == { batch_size = 1, maximum_batching_window_in_seconds = 0 }
    error_message = "The fan-out queue must hand one chunk job to each invocation, with no batching window."
  }
  assert {
    condition     = module.message_queue.event_source_mapping_batching == { batch_size = 10, maximum_batching_window_in_seconds = 2 }
    error_message = "The public queue keeps the configured batch size and window."
  }
  assert {
    condition     = module.function["send_message"].environment_variables["HERMES_CHUNK_THRESHOLD"] == "500" && module.function["send_message"].environment_variables["HERMES_CHUNK_SIZE"] == "500"
    error_message = "Chunk defaults are the model's (500 / 500)."
  }
}

run "chunk_size_is_bounded" {
  command = plan
  variables {
    chunk_size = 1001
  }
  expect_failures = [var.chunk_size]
}

# --- Wrong inputs fail at plan with a clear message --------------------------------------------------

run "invalid_variables" {
  command = plan

  variables {
    environment                        = "Prod_1"
    name                               = "Hermes!"
    runtime                            = "python3.11"
    architecture                       = "arm"
    function_config                    = { send_message = { timeout = 1000 } }
    maximum_concurrency                = 1
    maximum_batching_window_in_seconds = 301
    max_receive_count                  = 0
    log_retention_in_days              = 31
    tracing_mode                       = "On"
    jwt_secret_value                   = "too-short"
    jwt_secret_store                   = "vault"
    jwt_secret_recovery_window_in_days = 3
    extra_environment_variables        = { HERMES_STAGE = "x" }
    management_endpoint                = "ftp://example.com"
  }

  expect_failures = [
    var.environment,
    var.name,
    var.runtime,
    var.architecture,
    var.function_config,
    var.maximum_concurrency,
    var.maximum_batching_window_in_seconds,
    var.max_receive_count,
    var.log_retention_in_days,
    var.tracing_mode,
    var.jwt_secret_value,
    var.jwt_secret_store,
    var.jwt_secret_recovery_window_in_days,
    var.extra_environment_variables,
    var.management_endpoint,
  ]
}

# A validation that refers to another input is not evaluated while that input is invalid (Terraform skips
# it), so these two are wrong on their own here.
run "invalid_variables_checked_with_other_inputs" {
  command = plan

  variables {
    batch_size        = 0
    create_jwt_secret = false
    jwt_secret_arn    = "arn:aws:s3:::not-a-secret"
  }

  expect_failures = [var.batch_size, var.jwt_secret_arn]
}

run "existing_secret_needs_arn" {
  command = plan
  variables {
    create_jwt_secret = false
  }
  expect_failures = [var.jwt_secret_arn]
}

run "secret_arn_must_match_store" {
  command = plan
  variables {
    jwt_secret_store  = "ssm"
    create_jwt_secret = false
    jwt_secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/jwt-XyZ123"
  }
  expect_failures = [var.jwt_secret_arn]
}

run "large_batches_need_a_window" {
  command = plan
  variables {
    queue_fifo = false # FIFO's own limit of 10 would fail too
    batch_size = 100
  }
  expect_failures = [var.batch_size]
}

run "visibility_timeout_too_low" {
  command = plan
  variables {
    queue_visibility_timeout_seconds = 30
  }
  expect_failures = [var.queue_visibility_timeout_seconds]
}

run "domain_needs_zone" {
  command = plan
  variables {
    custom_domain = { zone_id = null, names = { test = "ws-test.example.com" } }
  }
  expect_failures = [var.custom_domain]
}

run "domain_needs_a_name_for_the_environment" {
  command = plan
  variables {
    custom_domain = { zone_id = "Z0123456789ABCDEFGHIJ", names = { prod = "ws.example.com" } }
  }
  expect_failures = [var.custom_domain]
}

# Not in invalid_variables: every validation of custom_domain is skipped while environment is invalid.
run "domain_template_needs_env" {
  command = plan
  variables {
    custom_domain = { zone_id = "Z0123456789ABCDEFGHIJ", name_template = "ws.example.com" }
  }
  expect_failures = [var.custom_domain]
}

run "domain_certificate_must_be_an_acm_arn" {
  command = plan
  variables {
    custom_domain = { zone_id = "Z0123456789ABCDEFGHIJ", name_template = "ws-{env}.example.com", certificate_arn = "not-an-arn" }
  }
  expect_failures = [var.custom_domain]
}

run "domain_names_null_uses_the_template" {
  command = plan
  variables {
    custom_domain = { zone_id = "Z0123456789ABCDEFGHIJ", names = null, name_template = "ws-{env}.example.com" }
  }
  assert {
    condition     = output.custom_domain_name == "ws-test.example.com" && length(module.custom_domain) == 1
    error_message = "custom_domain.names = null must fall back to the template."
  }
}

run "write_only_needs_a_value" {
  command = plan
  variables {
    jwt_secret_write_only = true
  }
  expect_failures = [var.jwt_secret_write_only]
}

run "incomplete_manifest_is_explained" {
  command = plan

  variables {
    # format 1, but no arm64 layer and no connect function
    artifacts_dir = "tests/fixtures/dist-incomplete"
    architecture  = "arm64"
  }

  expect_failures = [aws_lambda_layer_version.deps]
}

run "token_function_can_be_left_out" {
  command = plan

  variables {
    token_function_enabled = false
  }

  assert {
    condition = (
      !contains(keys(module.function), "tokens") && output.token_function_name == null &&
      output.token_function_arn == null && output.token_caller_policy_json == null &&
      output.hermes_config.token_function_name == null
    )
    error_message = "token_function_enabled = false: no token function, null outputs."
  }
}

# --- null inputs (issue 22) ------------------------------------------------------------------------------

# A wrapper module passes null for an input it does not set: every collection and object input then takes its
# default (nullable = false), never "attempt to get attribute from null" or a null inside the module.
run "null_collection_and_object_inputs_take_their_defaults" {
  command = plan

  variables {
    create_alarms                 = true
    client_messages_enabled       = true
    tags                          = null
    function_config               = null
    extra_layer_arns              = null
    extra_environment_variables   = null
    join_route_throttle           = null
    resume_rate_limit             = null
    resume_route_throttle         = null
    presence_events_per_user      = null
    client_message_rate_limit     = null
    client_message_route_throttle = null
    custom_domain                 = null
    alarm_actions                 = null
    alarm_thresholds              = null
  }

  assert {
    condition = (
      module.function["client_routes"].environment_variables["HERMES_CLIENT_MESSAGE_LIMIT"] == "20" &&
      module.function["client_routes"].environment_variables["HERMES_CLIENT_MESSAGE_WINDOW_SECONDS"] == "10"
    )
    error_message = "A null client_message_rate_limit is its default (20 per 10 s)."
  }
  assert {
    condition = {
      for r in module.websocket_api.stage_route_settings : r.route_key => [r.throttling_rate_limit, r.throttling_burst_limit]
      } == {
      sendMessage = [100, 50]
      resume      = [100, 200]
      join        = [100, 200]
      leave       = [100, 200]
    }
    error_message = "Null route throttles are their defaults: ${jsonencode(module.websocket_api.stage_route_settings)}"
  }
  assert {
    condition     = module.monitoring.alarms["work-queue-age"].threshold == 300 && length(module.monitoring.alarms["work-queue-age"].actions) == 0
    error_message = "Null alarm_thresholds and alarm_actions are their defaults: ${jsonencode(module.monitoring.alarms)}"
  }
}

run "fifo_takes_at_most_ten_per_batch" {
  command = plan
  variables {
    queue_fifo                         = true
    batch_size                         = 20
    maximum_batching_window_in_seconds = 0
  }
  # FIFO's limit of 10 (and the > 10 rule, which FIFO's window of 0 breaks too), both on the input
  expect_failures = [var.batch_size]
}

run "the_account_lookup_reads_names_only" {
  command = plan

  assert {
    condition     = data.aws_ssm_parameters_by_path.account[0].with_decryption == false && data.aws_ssm_parameters_by_path.account[0].recursive == false
    error_message = "Only the names under the account marker's path are read: a SecureString there must never be decrypted into the state."
  }
}
