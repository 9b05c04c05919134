variable "role_name" {
  description = "Name of the CloudWatch role API Gateway assumes; the region is appended (\"<role_name>-<region>\") because IAM names are account-wide while the setting is per region."
  type        = string
  default     = "apigateway-cloudwatch-logs"

  validation {
    # 64 (IAM) - 1 - the longest region name (15)
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,48}$", var.role_name))
    error_message = "role_name must be 1-48 characters of letters, digits and +=,.@_- (the region is appended)."
  }
}

variable "existing_role_arn" {
  description = "ARN of a CloudWatch role already registered for API Gateway in this account and region (by other tooling or the console). The module then only records it in marker_parameter_name and leaves the account setting alone; null creates and registers a role."
  type        = string
  default     = null

  validation {
    condition     = var.existing_role_arn == null ? true : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.existing_role_arn))
    error_message = "existing_role_arn must be an IAM role ARN."
  }
}

variable "marker_parameter_name" {
  description = "SSM parameter (String) recording the registered role ARN. The Hermes module reads it to know that stage logging will be accepted; keep it in step with the module's api_gateway_account_parameter_name."
  type        = string
  default     = "/hermes/account/api-gateway-cloudwatch-role-arn"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+){2,}$", var.marker_parameter_name))
    error_message = "marker_parameter_name must be a hierarchical SSM parameter name (at least two levels) such as /hermes/account/api-gateway-cloudwatch-role-arn."
  }
}

variable "permissions_boundary" {
  description = "Permissions boundary ARN for the created role."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the role and the marker parameter."
  type        = map(string)
  default     = {}
}
