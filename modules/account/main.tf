# One-time bootstrap per account and region: API Gateway's account-level CloudWatch role, without which
# API Gateway refuses stage access logs and execution logging ("CloudWatch Logs role ARN must be set in
# account settings to enable logging"). New accounts have none.
#
# Apply it once per account and region, in a state of its own (never in an environment's workspace): the
# setting is shared by every API of the region, and with aws provider 6.x destroying aws_api_gateway_account
# resets it for all of them.
#
# The aws provider has no data source for API Gateway's account settings, so the role ARN is also written
# to an SSM parameter (the marker) that the Hermes module reads to decide whether stage logging is possible.

data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  create = var.existing_role_arn == null
  # `id` is the region name in provider 5.x and 6.x (`name` is deprecated in 6.x, `region` absent in 5.x).
  region   = data.aws_region.current.id
  role_arn = local.create ? aws_api_gateway_account.this[0].cloudwatch_role_arn : var.existing_role_arn
}

resource "aws_iam_role" "cloudwatch" {
  count = local.create ? 1 : 0

  name                 = "${var.role_name}-${local.region}"
  description          = "API Gateway pushes stage logs to CloudWatch Logs in ${local.region}"
  permissions_boundary = var.permissions_boundary
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ApiGatewayAssumeRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "apigateway.amazonaws.com" }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "cloudwatch" {
  count = local.create ? 1 : 0

  name = "push-to-cloudwatch-logs"
  role = aws_iam_role.cloudwatch[0].id
  # The role serves every API of the account in this region: scoped to the region's log groups (execution
  # logs are API-Gateway-Execution-Logs_<api>/<stage>, access logs any group a stage names).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "PushLogs"
      Effect = "Allow"
      Action = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
      ]
      Resource = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }]
  })
}

resource "aws_api_gateway_account" "this" {
  count = local.create ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.cloudwatch[0].arn

  # API Gateway checks the role's permissions when it is registered.
  depends_on = [aws_iam_role_policy.cloudwatch]

  # The setting is the region's, not this state's: with aws provider 6.x a destroy resets it for every API
  # Gateway API of the account in the region (their stage logging stops). To stop managing it on purpose,
  # forget it first (docs/terraform.md "Stage logging"): terraform state rm 'module.account.aws_api_gateway_account.this[0]'
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_ssm_parameter" "marker" {
  #checkov:skip=CKV2_AWS_34:The value is a role ARN, not a secret; a String parameter lets deployers read it without kms:Decrypt.
  name        = var.marker_parameter_name
  description = "API Gateway's CloudWatch role registered for this account and region (read by the Hermes module)"
  type        = "String"
  value       = local.role_arn

  tags = var.tags
}
