variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "aws_endpoint_url" {
  description = "Send every AWS call to this endpoint (a local moto server, e.g. http://127.0.0.1:5000) with fake credentials. null for real AWS."
  type        = string
  default     = null
}

variable "environment" {
  description = "Environment; null uses the workspace name."
  type        = string
  default     = null
}

variable "artifacts_dir" {
  description = "build.py output folder; null uses the module's dist/."
  type        = string
  default     = null
}

variable "zone_name" {
  description = "DNS zone under which the WebSocket host names live."
  type        = string
  default     = "hermes-example.com"
}

variable "route53_zone_id" {
  description = "Existing (delegated) hosted zone id for zone_name; null creates a new zone."
  type        = string
  default     = null
}

variable "create_api_gateway_cloudwatch_role" {
  description = "Register API Gateway's account-level CloudWatch role (once per account and region)."
  type        = bool
  default     = false
}
