# One Lambda function with its own execution role, an inline least-privilege policy (statements
# passed in by the caller, scoped to exact ARNs) and its own log group.

locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  tracing_active = var.tracing_mode == "Active"

  logs_statement = {
    Sid      = "WriteOwnLogGroup"
    Effect   = "Allow"
    Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # X-Ray's PutTraceSegments / PutTelemetryRecords have no resource-level permissions: "*" is the
  # only valid resource (AWS service authorization reference for X-Ray).
  xray_statements = local.tracing_active ? [{
    Sid      = "XRayWrite"
    Effect   = "Allow"
    Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    Resource = ["*"]
  }] : []

  caller_statements = [
    for s in var.policy_statements : merge({
      Sid      = s.sid
      Effect   = "Allow"
      Action   = s.actions
      Resource = s.resources
    }, s.condition == null ? {} : { Condition = s.condition })
  ]

  policy_document = {
    Version   = "2012-10-17"
    Statement = concat([local.logs_statement], local.xray_statements, local.caller_statements)
  }
}

resource "aws_iam_role" "this" {
  name                 = coalesce(var.role_name, var.function_name)
  description          = "Execution role of Lambda ${var.function_name}"
  permissions_boundary = var.permissions_boundary
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "LambdaAssumeRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })

  tags = var.tags

  lifecycle {
    # A renamed role (e.g. the region added to the name) is replaced: the function moves to the new one
    # before the old one goes, so it never runs without a role.
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = jsonencode(local.policy_document)
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_in_days (default 30 days to keep costs low); set 365+ where compliance requires it.
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (var.log_kms_key_arn); log groups are always encrypted at rest by CloudWatch Logs.
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only public AWS APIs (DynamoDB, SQS, SSM/Secrets Manager, execute-api); a VPC would add NAT/endpoint cost and cold-start latency without reducing exposure.
  #checkov:skip=CKV_AWS_116:No function is invoked asynchronously (API Gateway invokes synchronously, SQS through an event source mapping); failed queue messages go to the SQS DLQ.
  #checkov:skip=CKV_AWS_272:Code signing is optional through var.code_signing_config_arn; build.py produces unsigned zips.
  #checkov:skip=CKV_AWS_173:Environment variables hold resource names, ids and endpoints; the JWT secret is read from Secrets Manager/SSM. The one opt-in that puts it into the environment (root jwt_secret_plaintext_env) requires a customer managed key (root lambda_kms_key_arn, passed as var.kms_key_arn).
  #checkov:skip=CKV_AWS_50:X-Ray is opt-in through var.tracing_mode = "Active" (default PassThrough: tracing every notification costs money).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is optional (var.reserved_concurrent_executions); reserving it by default would take capacity from the account pool.
  function_name                  = var.function_name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  filename                       = var.filename
  source_code_hash               = var.source_code_hash
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  layers                         = var.layers
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn

  environment {
    variables = var.environment_variables
  }

  dynamic "tracing_config" {
    for_each = var.tracing_mode == null ? [] : [var.tracing_mode]
    content {
      mode = tracing_config.value
    }
  }

  tags = var.tags

  # The log group must exist before the first invocation (else Lambda creates an unmanaged one), and the
  # role policy before anything uses the function (event source mappings validate the role's SQS access).
  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]
}
