variable "region" {
  description = "AWS region to bootstrap (API Gateway's account settings are per region)."
  type        = string
  default     = "eu-west-1"
}

variable "existing_role_arn" {
  description = "A CloudWatch role already registered for API Gateway in this region (console, landing zone): only record it for Hermes. null creates and registers one."
  type        = string
  default     = null
}
