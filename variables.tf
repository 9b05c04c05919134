# --- Naming --------------------------------------------------------------------------------------

variable "name" {
  description = "Name prefix of every resource; resources are named \"<name>-<environment>[-<part>]\"."
  type        = string
  default     = "hermes"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name must be 2-24 characters: lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "environment" {
  description = "Environment name (stage name and name suffix). null uses the current Terraform workspace, except \"default\", which is refused (with remote execution such as HCP Terraform it is always \"default\"): set it explicitly there."
  type        = string
  default     = null

  validation {
    # the environment is this input or, when null, the workspace name (local.environment)
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$", coalesce(var.environment, terraform.workspace)))
    error_message = "The environment (\"${coalesce(var.environment, terraform.workspace)}\", from environment or else the workspace name) must be 1-16 characters: lower-case letters, digits and hyphens, not starting or ending with a hyphen. Rename the workspace or set environment."
  }

  validation {
    condition     = var.environment != null || terraform.workspace != "default"
    error_message = "No environment: var.environment is null and the workspace is \"default\" (always the case with remote execution such as HCP Terraform). Set environment explicitly, or select a named workspace (terraform workspace new dev)."
  }
}

variable "tags" {
  description = "Tags added to every resource (the module adds hermes:name and hermes:environment)."
  type        = map(string)
  default     = {}
  nullable    = false
}

# --- Artifacts (build.py) ------------------------------------------------------------------------

variable "artifacts_dir" {
  description = "Folder holding build.py's manifest.json and zips. null uses the module's own dist/ (committed with each release)."
  type        = string
  default     = null
}

# --- Lambda --------------------------------------------------------------------------------------

variable "runtime" {
  description = "Python runtime of all functions (the layer supports both). The artifacts carry bytecode for one runtime: the committed dist/ for python3.12; with python3.13 and dist/ each cold start compiles the sources (about 1.4x slower imports: bench section 3), so build with `python build.py --runtime python3.13` and set artifacts_dir."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13."
  }
}

variable "architecture" {
  description = "Instruction set of all functions and the dependency layer: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "function_config" {
  description = <<-EOT
    Per-function sizing: memory_size (MB, 128..10240), timeout (s, 1..900) and reserved_concurrent_executions
    (null = unreserved). Defaults: authorizer 1024 MB / 10 s, connect and disconnect 256 MB / 10 s, send_message
    1769 MB (one full vCPU) / 60 s, client_routes (the clients' sendMessage and resume routes) 1024 MB / 29 s
    (API Gateway's integration timeout), tokens (the token function: bcrypt at cost 10, as the authorizer) 1024 MB / 10 s. Reserving concurrency for client_routes caps what clients can take of
    the account's concurrency (the resume_route_throttle already bounds it: rate x ~0.3 s per resume). The authorizer (bcrypt) and send_message (about 1.5-3 ms of botocore CPU per
    post) are CPU bound and Lambda's CPU scales with memory, so more memory makes them faster at about the same
    cost per request (bench/results.md). The queue's visibility timeout follows send_message's timeout.
  EOT
  type = object({
    authorizer = optional(object({
      memory_size                    = optional(number, 1024)
      timeout                        = optional(number, 10)
      reserved_concurrent_executions = optional(number)
    }), {})
    connect = optional(object({
      memory_size                    = optional(number, 256)
      timeout                        = optional(number, 10)
      reserved_concurrent_executions = optional(number)
    }), {})
    disconnect = optional(object({
      memory_size                    = optional(number, 256)
      timeout                        = optional(number, 10)
      reserved_concurrent_executions = optional(number)
    }), {})
    send_message = optional(object({
      memory_size                    = optional(number, 1769)
      timeout                        = optional(number, 60)
      reserved_concurrent_executions = optional(number)
    }), {})
    client_routes = optional(object({
      memory_size                    = optional(number, 1024)
      timeout                        = optional(number, 29)
      reserved_concurrent_executions = optional(number)
    }), {})
    tokens = optional(object({
      memory_size                    = optional(number, 1024)
      timeout                        = optional(number, 10)
      reserved_concurrent_executions = optional(number)
    }), {})
  })
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for f in values(var.function_config) : f.memory_size >= 128 && f.memory_size <= 10240 && f.timeout >= 1 && f.timeout <= 900
    ])
    error_message = "memory_size must be 128..10240 MB and timeout 1..900 s for every function."
  }

  validation {
    condition = alltrue([
      for f in values(var.function_config) : f.reserved_concurrent_executions == null ? true : f.reserved_concurrent_executions >= -1
    ])
    error_message = "reserved_concurrent_executions must be null, -1 or >= 0."
  }
}

variable "log_level" {
  description = "POWERTOOLS_LOG_LEVEL of all functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of Hermes' own metrics (Delivered, StaleConnectionsRemoved, FailedRecords, ...); each deployment writes them with the dimension service = \"<name>-<environment>\"."
  type        = string
  default     = "Hermes"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace: 1-255 of A-Z a-z 0-9 . - _ / # :, not starting with AWS/."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the Lambda log groups and the stage's access and execution log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key ARN encrypting all log groups (its key policy must allow logs.<region>.amazonaws.com). null for default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be a KMS key ARN."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing of all functions: PassThrough or Active (Active adds the X-Ray write permissions)."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be PassThrough or Active."
  }
}

variable "lambda_kms_key_arn" {
  description = "KMS key ARN encrypting the functions' environment variables (required with jwt_secret_plaintext_env). null for the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.lambda_kms_key_arn))
    error_message = "lambda_kms_key_arn must be a KMS key ARN."
  }
}

variable "code_signing_config_arn" {
  description = "Lambda code signing configuration ARN applied to all functions (the zips must then be signed). null disables it."
  type        = string
  default     = null
}

variable "iam_permissions_boundary" {
  description = "Permissions boundary ARN for every IAM role the module creates."
  type        = string
  default     = null
}

variable "extra_layer_arns" {
  description = "Additional layer version ARNs appended after the module's dependency layer (at most 4)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.extra_layer_arns) <= 4
    error_message = "At most 4 extra layers (Lambda allows 5 in total)."
  }
}

variable "extra_environment_variables" {
  description = "Extra environment variables for all functions (e.g. AWS_ENDPOINT_URL for a local runtime). They cannot override HERMES_* variables set by the module, nor Lambda's reserved keys (AWS_REGION, _HANDLER, ...)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.extra_environment_variables) : !startswith(k, "HERMES_") && can(regex("^[A-Za-z][A-Za-z0-9_]*$", k))])
    error_message = "Extra environment variable names must be valid identifiers and must not start with HERMES_."
  }

  # Lambda refuses these keys (Lambda developer guide, "Defined runtime environment variables").
  validation {
    condition = length(setintersection(keys(var.extra_environment_variables), [
      "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
      "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ])) == 0
    error_message = "extra_environment_variables must not set Lambda's reserved keys (_HANDLER, _X_AMZN_TRACE_ID, AWS_DEFAULT_REGION, AWS_REGION, AWS_EXECUTION_ENV, AWS_LAMBDA_*, AWS_ACCESS_KEY(_ID), AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR): Lambda refuses them."
  }
}

# --- Application settings (docs/contract.md "Lambda environment variables") -----------------------

variable "jwt_issuer" {
  description = "HERMES_JWT_ISSUER: expected iss claim; null skips the check."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "HERMES_JWT_AUDIENCE: expected aud claim; null skips the check."
  type        = string
  default     = null
}

variable "jwt_leeway_seconds" {
  description = "HERMES_JWT_LEEWAY_SECONDS: allowed clock skew."
  type        = number
  default     = 30

  validation {
    condition     = var.jwt_leeway_seconds >= 0 && var.jwt_leeway_seconds <= 300
    error_message = "jwt_leeway_seconds must be between 0 and 300."
  }
}

variable "secret_cache_seconds" {
  description = "HERMES_SECRET_CACHE_SECONDS: how long the authorizer caches the signing secret."
  type        = number
  default     = 300

  validation {
    condition     = var.secret_cache_seconds >= 0
    error_message = "secret_cache_seconds must be >= 0."
  }
}

variable "connection_ttl_seconds" {
  description = "HERMES_CONNECTION_TTL_SECONDS: lifetime of a connection record (API Gateway closes connections after 2 h)."
  type        = number
  default     = 7200

  validation {
    condition     = var.connection_ttl_seconds >= 60 && var.connection_ttl_seconds <= 86400
    error_message = "connection_ttl_seconds must be between 60 and 86400."
  }
}

variable "max_connections_per_user" {
  description = "HERMES_MAX_CONNECTIONS_PER_USER: live connections (sockets) one user may hold, all rooms together (tabs, devices: one socket carries every room); a connect beyond it is refused with 429. Atomic: the user's live connection ids are a set written in $connect's transaction (concurrent connects cannot all pass), freed by $disconnect and by the 410 clean-up, and ids whose rows are gone are dropped at the cap (a lost release never locks a user out). 0 = no cap. Replaces 0.2's max_connections_per_user_room."
  type        = number
  default     = 20

  validation {
    condition     = var.max_connections_per_user >= 0 && var.max_connections_per_user <= 1000
    error_message = "max_connections_per_user must be between 0 and 1000."
  }
}

variable "token_function_enabled" {
  description = "Create the token function: backends in any language issue, grant, revoke and kick by invoking it (Lambda Invoke with lambda:InvokeFunction, output token_caller_policy_json) and never hold the signing key. Off: only the direct path (the Python SDK with token_issuer_policy_json) remains."
  type        = bool
  default     = true
  nullable    = false
}

variable "max_rooms_per_connection" {
  description = "HERMES_MAX_ROOMS_PER_CONNECTION: rooms one socket may be in, those of its token and those joined with grants together. A token naming more is refused by the SDK; a join beyond it is refused with 429 and a reason. At most 100 (as AWS AppSync Events' subscriptions per connection)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_rooms_per_connection >= 1 && var.max_rooms_per_connection <= 100
    error_message = "max_rooms_per_connection must be between 1 and 100."
  }
}

variable "join_route_throttle" {
  description = "API Gateway throttle of the join and leave routes for the whole stage (all clients together), each: requests per second and burst. A join verifies a grant (HS512) and writes three items in one transaction; every socket re-joins its granted rooms after a reconnect."
  type = object({
    rate_limit  = optional(number, 100)
    burst_limit = optional(number, 200)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.join_route_throttle.rate_limit >= 0 && var.join_route_throttle.burst_limit >= 0
    error_message = "join_route_throttle limits must be >= 0."
  }
}

variable "history_retention_seconds" {
  description = "How long every message is kept for replay (HERMES_HISTORY_RETENTION_SECONDS): a client that reconnects within it receives what it missed, in order; past it, it is told so (hermes.recovery complete = false). 0 turns history (and the resume route) off."
  type        = number
  default     = 86400

  validation {
    condition     = var.history_retention_seconds >= 0 && var.history_retention_seconds <= 2592000
    error_message = "history_retention_seconds must be between 0 and 2592000 (30 days)."
  }
}

variable "max_replay_bytes" {
  description = "HERMES_MAX_REPLAY_BYTES: most envelope bytes one resume replays, all its streams together (default 1 MiB: ~8 posts of 128 KB, a bounded Query). Past it the answer says more and the client resumes again from where the replay stopped, within resume_rate_limit."
  type        = number
  default     = 1048576

  validation {
    condition     = var.max_replay_bytes >= 131072 && var.max_replay_bytes <= 16777216 && floor(var.max_replay_bytes) == var.max_replay_bytes
    error_message = "max_replay_bytes must be a whole number between 131072 (one 128 KB message) and 16777216 (16 MiB)."
  }
}

variable "resume_rate_limit" {
  description = "Per-connection limit of resumes (HERMES_RESUME_LIMIT per HERMES_RESUME_WINDOW_SECONDS, a fixed window, counted on the connection's row); beyond it the resume is refused with 429 and retry_after, and the JS client asks again then."
  type = object({
    resumes        = optional(number, 10)
    window_seconds = optional(number, 60)
  })
  default  = {}
  nullable = false

  validation {
    condition = (var.resume_rate_limit.resumes >= 1 && var.resume_rate_limit.resumes <= 10000 &&
    var.resume_rate_limit.window_seconds >= 1 && var.resume_rate_limit.window_seconds <= 3600)
    error_message = "resume_rate_limit: resumes 1..10000, window_seconds 1..3600."
  }
}

variable "resume_route_throttle" {
  description = "API Gateway throttle of the resume route for the whole stage (all clients together): requests per second and burst. With max_replay_bytes it bounds what resumes can take of the account's Lambda concurrency (rate x the longest resume, ~0.3 s at 1 MiB)."
  type = object({
    rate_limit  = optional(number, 100)
    burst_limit = optional(number, 200)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.resume_route_throttle.rate_limit >= 0 && var.resume_route_throttle.burst_limit >= 0
    error_message = "resume_route_throttle limits must be >= 0."
  }
}

variable "max_replay_messages" {
  description = "HERMES_MAX_REPLAY: most messages one resume replays per stream; a client further behind is told to refetch its state."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_replay_messages >= 1 && var.max_replay_messages <= 100000
    error_message = "max_replay_messages must be between 1 and 100000."
  }
}

variable "client_messages_enabled" {
  description = "Create the sendMessage route, through which connected clients send to their own room (envelopes marked source = \"client\"). Off by default: then only the backend publishes."
  type        = bool
  default     = false
}

variable "presence_events_enabled" {
  description = "Send hermes.join to a room when a user's first connection there opens and hermes.leave when their last one closes (or is found gone by a 410), as Hermes' own messages (source = \"hermes\", kept in the room's history). Off by default: every event is a post to every connection of the room, so a room of N connections pays N posts per arrival and N per departure (N users each reconnecting once = 2 x N x N posts: 20,000 for N = 100, 2,000,000 for N = 1,000). Rooms above presence_events_max_room_size get none. Turning it on gives connect and disconnect sqs:SendMessage on the internal fan-out queue."
  type        = bool
  default     = false
}

variable "presence_events_max_room_size" {
  description = "With presence_events_enabled: a room with more connections than this gets no join/leave events (HERMES_PRESENCE_MAX_ROOM_SIZE). The check is a COUNT Query that reads at most this many + 1 rows per event, so the bound also caps its own cost. 100 (the default) bounds one event to 100 posts."
  type        = number
  default     = 100

  validation {
    condition     = var.presence_events_max_room_size >= 1 && var.presence_events_max_room_size <= 10000 && floor(var.presence_events_max_room_size) == var.presence_events_max_room_size
    error_message = "presence_events_max_room_size must be a whole number between 1 and 10000."
  }
}

variable "presence_events_per_user" {
  description = "With presence_events_enabled: at most this many hermes.join / hermes.leave per user and room per window (a fixed window); past it the user's events are not sent, so a connect/disconnect loop cannot flood the room or push its history past max_replay_messages. Hermes.presence() stays the truth."
  type = object({
    events         = optional(number, 10)
    window_seconds = optional(number, 60)
  })
  default  = {}
  nullable = false

  validation {
    condition = (var.presence_events_per_user.events >= 1 && var.presence_events_per_user.events <= 10000 &&
    var.presence_events_per_user.window_seconds >= 1 && var.presence_events_per_user.window_seconds <= 3600)
    error_message = "presence_events_per_user: events 1..10000, window_seconds 1..3600."
  }
}

variable "client_message_rate_limit" {
  description = "Per-user limit of client messages (HERMES_CLIENT_MESSAGE_LIMIT per HERMES_CLIENT_MESSAGE_WINDOW_SECONDS, a fixed window shared by all the user's sockets); beyond it the sender gets hermes.refused with status 429 and retry_after."
  type = object({
    messages       = optional(number, 20)
    window_seconds = optional(number, 10)
  })
  default  = {}
  nullable = false

  validation {
    condition = (var.client_message_rate_limit.messages >= 1 && var.client_message_rate_limit.messages <= 10000 &&
    var.client_message_rate_limit.window_seconds >= 1 && var.client_message_rate_limit.window_seconds <= 3600)
    error_message = "client_message_rate_limit: messages 1..10000, window_seconds 1..3600."
  }
}

variable "client_message_route_throttle" {
  description = "API Gateway throttle of the sendMessage route for the whole stage (all clients together): requests per second and burst. Caps what clients can cost before any Lambda runs."
  type = object({
    rate_limit  = optional(number, 100)
    burst_limit = optional(number, 50)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.client_message_route_throttle.rate_limit >= 0 && var.client_message_route_throttle.burst_limit >= 0
    error_message = "client_message_route_throttle limits must be >= 0."
  }
}

variable "fanout_workers" {
  description = "HERMES_FANOUT_WORKERS: concurrent post_to_connection calls per send_message invocation."
  type        = number
  default     = 32

  validation {
    condition     = var.fanout_workers >= 1 && var.fanout_workers <= 256
    error_message = "fanout_workers must be between 1 and 256."
  }
}

variable "post_max_attempts" {
  description = "HERMES_POST_MAX_ATTEMPTS: attempts per post on 429/5xx."
  type        = number
  default     = 4

  validation {
    condition     = var.post_max_attempts >= 1 && var.post_max_attempts <= 10
    error_message = "post_max_attempts must be between 1 and 10."
  }
}

variable "chunk_threshold" {
  description = "HERMES_CHUNK_THRESHOLD: rooms with more connections fan out as chunk jobs through the internal fan-out queue, several send_message invocations side by side. The default comes from the model in README \"Large rooms\" (bench/fanout_model.py)."
  type        = number
  default     = 500

  validation {
    condition     = var.chunk_threshold >= 1
    error_message = "chunk_threshold must be >= 1."
  }
}

variable "chunk_size" {
  description = "HERMES_CHUNK_SIZE: at most this many connections per chunk job (a room is cut into equal chunks). One invocation posts ~1,300/s, so 500 is ~0.4 s of posting per job."
  type        = number
  default     = 500

  validation {
    condition     = var.chunk_size >= 1 && var.chunk_size <= 1000
    error_message = "chunk_size must be between 1 and 1000 (send_message refuses larger chunks: HERMES_CHUNK_SIZE maximum)."
  }
}

variable "management_endpoint" {
  description = "HERMES_MANAGEMENT_ENDPOINT: override of the @connections endpoint send_message posts to (local runtime, private setups). null uses the API's own endpoint: https://<api_endpoint host>/<stage>."
  type        = string
  default     = null

  validation {
    condition     = var.management_endpoint == null ? true : can(regex("^https?://", var.management_endpoint))
    error_message = "management_endpoint must be an http(s) URL."
  }
}

# --- JWT signing secret --------------------------------------------------------------------------

variable "jwt_secret_store" {
  description = "Where the JWT signing secret lives: secretsmanager (default; GetSecretValue allows 10,000 requests/s) or ssm (SecureString parameter; GetParameter's default quota is 40 requests/s per account and region, shared with everything else there, which a reconnect storm of cold authorizers can exceed)."
  type        = string
  default     = "secretsmanager"

  validation {
    condition     = contains(["ssm", "secretsmanager"], var.jwt_secret_store)
    error_message = "jwt_secret_store must be ssm or secretsmanager."
  }
}

variable "create_jwt_secret" {
  description = "Create the secret in jwt_secret_store. false uses jwt_secret_arn (an existing parameter or secret)."
  type        = bool
  default     = true
}

variable "jwt_secret_value" {
  description = "Value of a created secret (e.g. TF_VAR_jwt_secret_value from CI), at least 64 bytes. null generates 128 hex characters (four version-4 UUIDs from crypto/rand: 488 random bits) and writes it write-only: it never enters plan or state, and out-of-band rotations are never reverted."
  type        = string
  default     = null
  sensitive   = true

  # HS512 keys must be at least the hash size, 64 bytes (RFC 7518 section 3.2). base64 of n bytes has
  # 4 * ceil(n / 3) characters, so >= 88 characters means >= 64 bytes (length() counts characters).
  validation {
    condition     = var.jwt_secret_value == null ? true : length(base64encode(var.jwt_secret_value)) >= 88
    error_message = "jwt_secret_value must be at least 64 bytes: HS512 keys are at least the hash size (RFC 7518 section 3.2)."
  }
}

variable "jwt_secret_write_only" {
  description = "Write a provided jwt_secret_value through the write-only argument (value_wo / secret_string_wo), so it never enters plan or state; bump jwt_secret_value_version to push a new value. (A generated value is always written this way.)"
  type        = bool
  default     = false

  validation {
    condition     = !var.jwt_secret_write_only || nonsensitive(var.jwt_secret_value != null)
    error_message = "jwt_secret_write_only applies to a provided jwt_secret_value; set one or disable write-only."
  }
}

variable "jwt_secret_value_version" {
  description = "Version of a write-only value: increment it to push a changed jwt_secret_value, or to generate and write a new random value when jwt_secret_value is null."
  type        = number
  default     = 1
}

variable "jwt_secret_arn" {
  description = "ARN of an existing SSM parameter (arn:...:ssm:...:parameter/...) or Secrets Manager secret matching jwt_secret_store, used when create_jwt_secret = false."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_secret_arn == null ? true : can(regex("^arn:aws[a-z-]*:(ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+|secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)$", var.jwt_secret_arn))
    error_message = "jwt_secret_arn must be an SSM parameter ARN or a Secrets Manager secret ARN."
  }

  validation {
    condition     = var.create_jwt_secret || var.jwt_secret_arn != null
    error_message = "Set jwt_secret_arn when create_jwt_secret = false."
  }

  validation {
    condition     = var.jwt_secret_arn == null ? true : (var.jwt_secret_store == "ssm" ? strcontains(var.jwt_secret_arn, ":ssm:") : strcontains(var.jwt_secret_arn, ":secretsmanager:"))
    error_message = "jwt_secret_arn must belong to jwt_secret_store (an SSM parameter ARN for ssm, a secret ARN for secretsmanager)."
  }
}

variable "jwt_secret_name" {
  description = "Name of a created secret. null uses \"/<name>/<environment>/jwt-secret\" (ssm) or the prefix \"<name>/<environment>/jwt-secret-\" plus a unique suffix (secretsmanager: a deleted secret keeps its name for the recovery window, so an exact name blocks re-creating the environment for up to jwt_secret_recovery_window_in_days; with an explicit name, set that window to 0 if you destroy and re-create)."
  type        = string
  default     = null
}

variable "jwt_secret_kms_key_arn" {
  description = "Customer managed KMS key ARN of the secret (created or existing); readers get kms:Decrypt on it."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_secret_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.jwt_secret_kms_key_arn))
    error_message = "jwt_secret_kms_key_arn must be a KMS key ARN."
  }
}

variable "jwt_secret_recovery_window_in_days" {
  description = "Secrets Manager recovery window of a created secret: 0 (delete at once) or 7..30."
  type        = number
  default     = 30

  validation {
    condition     = var.jwt_secret_recovery_window_in_days == 0 || (var.jwt_secret_recovery_window_in_days >= 7 && var.jwt_secret_recovery_window_in_days <= 30)
    error_message = "jwt_secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "jwt_secret_plaintext_env" {
  description = "Explicit opt-in: put the secret itself into the authorizer's HERMES_JWT_SECRET (HERMES_JWT_SECRET_SOURCE=env) instead of reading it from the store. Needs a provided jwt_secret_value (it is then in the Lambda configuration and the state) and lambda_kms_key_arn; the store is still created for the backend."
  type        = bool
  default     = false

  validation {
    condition     = !var.jwt_secret_plaintext_env || (var.create_jwt_secret && nonsensitive(var.jwt_secret_value != null))
    error_message = "jwt_secret_plaintext_env puts the secret itself into the authorizer's environment: it needs a provided jwt_secret_value written to a created store (create_jwt_secret = true). A generated key never passes through Terraform."
  }

  validation {
    condition     = !var.jwt_secret_plaintext_env || var.lambda_kms_key_arn != null
    error_message = "jwt_secret_plaintext_env needs lambda_kms_key_arn: the secret in the functions' environment must be encrypted with a customer managed key."
  }
}

# --- DynamoDB ------------------------------------------------------------------------------------

variable "dynamodb_billing_mode" {
  description = "Billing mode of both tables: PAY_PER_REQUEST or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.dynamodb_billing_mode)
    error_message = "dynamodb_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "dynamodb_read_capacity" {
  description = "Read capacity per table and index (PROVISIONED only)."
  type        = number
  default     = 5

  validation {
    condition     = var.dynamodb_read_capacity >= 1
    error_message = "dynamodb_read_capacity must be >= 1."
  }
}

variable "dynamodb_write_capacity" {
  description = "Write capacity per table and index (PROVISIONED only)."
  type        = number
  default     = 5

  validation {
    condition     = var.dynamodb_write_capacity >= 1
    error_message = "dynamodb_write_capacity must be >= 1."
  }
}

variable "dynamodb_point_in_time_recovery_enabled" {
  description = "Point-in-time recovery on every table (connections, tokens, history)."
  type        = bool
  default     = true
}

variable "dynamodb_deletion_protection_enabled" {
  description = "Deletion protection on every table (connections, tokens, history; recommended for production)."
  type        = bool
  default     = false
}

variable "dynamodb_kms_key_arn" {
  description = "Customer managed KMS key for both tables; null uses the AWS managed key aws/dynamodb. Functions get kms:Decrypt on it."
  type        = string
  default     = null

  validation {
    condition     = var.dynamodb_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.dynamodb_kms_key_arn))
    error_message = "dynamodb_kms_key_arn must be a KMS key ARN."
  }
}

# --- SQS -----------------------------------------------------------------------------------------

variable "sqs_kms_key_arn" {
  description = "Customer managed KMS key for the queue and DLQ; null uses SQS-managed encryption (SSE-SQS)."
  type        = string
  default     = null

  validation {
    condition     = var.sqs_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.sqs_kms_key_arn))
    error_message = "sqs_kms_key_arn must be a KMS key ARN."
  }
}

variable "queue_message_retention_seconds" {
  description = "How long the work queue keeps undelivered messages (60..1209600 s). Notifications are perishable: default 1 day."
  type        = number
  default     = 86400

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "queue_fifo" {
  description = "The work queue is FIFO by default: a publisher sets MessageGroupId to the message's stream (room#<room>, user#<user> or user#<user>#<room>; the SDK does), so each stream's positions follow its publish order, each stream has one writer of its history at a time, and a publisher's retry within SQS's 5-minute window is de-duplicated (the SDK sets MessageDeduplicationId to the message id; otherwise the body's hash is used). High throughput mode (per message group). A malformed record goes to the DLQ at once instead of blocking its stream. false: a standard queue; positions then follow processing order, which may differ from publish order (clients still see positions in order, without holes)."
  type        = bool
  default     = true
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the work queue. null computes 6 x send_message timeout + batching window (AWS's guidance for Lambda consumers); an explicit value must not be lower."
  type        = number
  default     = null

  validation {
    condition     = var.queue_visibility_timeout_seconds == null ? true : (var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200)
    error_message = "queue_visibility_timeout_seconds must be between 0 and 43200."
  }

  validation {
    condition     = var.queue_visibility_timeout_seconds == null ? true : var.queue_visibility_timeout_seconds >= local.min_visibility_timeout
    error_message = "queue_visibility_timeout_seconds must be at least 6 x send_message timeout + batching window (${local.min_visibility_timeout} s)."
  }
}

variable "max_receive_count" {
  description = "Receives before a message goes to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "batch_size" {
  description = "SQS messages per send_message invocation from the public queue (1..10000; above 10 needs maximum_batching_window_in_seconds >= 1). The internal fan-out queue always uses 1: its chunk jobs are meant to run side by side."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }

  validation {
    condition     = !var.queue_fifo || var.batch_size <= 10
    error_message = "queue_fifo: a FIFO queue's event source mapping takes at most 10 messages per batch."
  }

  validation {
    condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
    error_message = "batch_size > 10 needs maximum_batching_window_in_seconds >= 1 (SQS event source mapping rule)."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long the event source mapping gathers messages before invoking (0..300 s)."
  type        = number
  default     = 0

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }

  validation {
    condition     = !var.queue_fifo || var.maximum_batching_window_in_seconds == 0
    error_message = "queue_fifo: Lambda's event source mapping takes no batching window for FIFO queues; set maximum_batching_window_in_seconds = 0."
  }
}

variable "maximum_concurrency" {
  description = "Maximum concurrent send_message invocations from the queue (2..1000); null for no limit."
  type        = number
  default     = null

  validation {
    condition     = var.maximum_concurrency == null ? true : (var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000)
    error_message = "maximum_concurrency must be null or between 2 and 1000."
  }
}

# --- API Gateway ---------------------------------------------------------------------------------

variable "throttling_burst_limit" {
  description = "Stage default route burst limit."
  type        = number
  default     = 500

  validation {
    condition     = var.throttling_burst_limit >= 0
    error_message = "throttling_burst_limit must be >= 0."
  }
}

variable "throttling_rate_limit" {
  description = "Stage default route rate limit (requests per second)."
  type        = number
  default     = 1000

  validation {
    condition     = var.throttling_rate_limit >= 0
    error_message = "throttling_rate_limit must be >= 0."
  }
}

variable "stage_access_logs" {
  description = "Stage access logs (JSON, /aws/apigateway/<name>-<env>/<stage>/access): auto (on when the account has API Gateway's CloudWatch role in this region, as recorded by modules/account), on (plan fails when it is not recorded), or off. API Gateway refuses access logs on an account without that role."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "on", "off"], var.stage_access_logs)
    error_message = "stage_access_logs must be auto, on or off."
  }
}

variable "api_gateway_account_parameter_name" {
  description = "SSM parameter in which modules/account (examples/account) records API Gateway's CloudWatch role for this account and region. Read (GetParametersByPath on its folder) unless stage_access_logs = \"off\" and stage_logging_level = \"OFF\"."
  type        = string
  default     = "/hermes/account/api-gateway-cloudwatch-role-arn"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+){2,}$", var.api_gateway_account_parameter_name))
    error_message = "api_gateway_account_parameter_name must be a hierarchical SSM parameter name (at least two levels) such as /hermes/account/api-gateway-cloudwatch-role-arn."
  }
}

variable "stage_logging_level" {
  description = "Stage execution logging: OFF, ERROR or INFO. Anything but OFF needs API Gateway's CloudWatch role (modules/account) and creates API-Gateway-Execution-Logs_<api>/<stage> with log_retention_in_days."
  type        = string
  default     = "OFF"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.stage_logging_level)
    error_message = "stage_logging_level must be OFF, ERROR or INFO."
  }
}

variable "stage_detailed_metrics_enabled" {
  description = "Per-route CloudWatch metrics on the stage."
  type        = bool
  default     = false
}

# --- Custom domain -------------------------------------------------------------------------------

variable "custom_domain" {
  description = <<-EOT
    Serve the stage on a custom domain (ACM + API Gateway domain + Route53 ALIAS); null (the default) serves it on the API's own endpoint.
    zone_id: Route53 hosted zone for the ALIAS records (and the certificate's validation record).
    names: host name per environment, e.g. { prod = "ws.example.com" }; environments not listed use name_template.
    name_template: host name for the others, "{env}" replaced by the environment, e.g. "ws-{env}.example.com".
    certificate_arn: existing ACM certificate for the host name (same region); null creates one with DNS validation in zone_id.
    ipv6_enabled: dualstack domain and an AAAA ALIAS record.
  EOT
  type = object({
    zone_id         = string
    names           = optional(map(string), {})
    name_template   = optional(string)
    certificate_arn = optional(string)
    ipv6_enabled    = optional(bool, false)
  })
  default = null

  validation {
    # The lookup of main.tf's local.environment_domain_name (a validation may not use a local built from its own input).
    condition = var.custom_domain == null ? true : var.custom_domain.zone_id != null && lookup(
      var.custom_domain.names, local.environment, var.custom_domain.name_template
    ) != null
    error_message = "custom_domain needs zone_id and a host name for this environment (names[\"${local.environment}\"] or name_template)."
  }

  validation {
    condition     = try(var.custom_domain.name_template, null) == null ? true : strcontains(var.custom_domain.name_template, "{env}")
    error_message = "custom_domain.name_template must contain {env} (use custom_domain.names for fixed host names)."
  }

  validation {
    condition     = try(var.custom_domain.certificate_arn, null) == null ? true : can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.custom_domain.certificate_arn))
    error_message = "custom_domain.certificate_arn must be an ACM certificate ARN."
  }
}

# --- Monitoring ----------------------------------------------------------------------------------

variable "create_alarms" {
  description = "Create CloudWatch alarms for what means lost or late notifications: DLQ depth, queue age and chunk-job backlog, send_message errors and throttles, authorizer errors, stage integration/execution errors and client errors, failed records, stale connections."
  type        = bool
  default     = false
}

variable "create_dashboard" {
  description = "Create one CloudWatch dashboard for the deployment (connections, errors, delivery, queues, functions)."
  type        = bool
  default     = false
}

variable "alarm_actions" {
  description = "ARNs the alarms notify when they fire and when they recover (e.g. an SNS topic)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:", arn))])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "alarm_thresholds" {
  description = "Alarm thresholds: oldest message age in seconds on the work and fan-out queues (300), stage client errors (100) and stale connections removed (1000) per 5 minutes."
  type = object({
    queue_age_seconds      = optional(number, 300)
    client_errors_per_5min = optional(number, 100)
    stale_removed_per_5min = optional(number, 1000)
  })
  default  = {}
  nullable = false
}
