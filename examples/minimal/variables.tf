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
