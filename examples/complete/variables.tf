variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
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

variable "domain_zone_name" {
  description = "Name of your existing, delegated public Route 53 zone (e.g. example.com) for the custom domain ws[-<env>].<zone>. null (and no domain_zone_id) runs without the custom domain."
  type        = string
  default     = null
}

variable "domain_zone_id" {
  description = "Id of your existing, delegated public Route 53 zone; takes precedence over domain_zone_name."
  type        = string
  default     = null
}

variable "stage_access_logs" {
  description = "auto, on or off (see the module). auto turns access logs on once examples/account has been applied in this account and region."
  type        = string
  default     = "auto"
}

variable "stage_logging_level" {
  description = "Execution logging: OFF, ERROR or INFO; anything but OFF needs examples/account applied in this account and region."
  type        = string
  default     = "OFF"
}
