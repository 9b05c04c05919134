variable "domain_name" {
  description = "Fully qualified host name of the WebSocket endpoint, e.g. ws.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name)) && length(var.domain_name) <= 253
    error_message = "domain_name must be a lower-case fully qualified host name (no wildcard, no trailing dot)."
  }
}

variable "zone_id" {
  description = "Route53 hosted zone id for the ALIAS record(s) and, when the certificate is created here, its DNS validation record."
  type        = string
}

variable "certificate_arn" {
  description = "Existing ACM certificate ARN (same region as the API) covering domain_name; null creates and DNS-validates one."
  type        = string
  default     = null
}

variable "api_id" {
  description = "WebSocket API id."
  type        = string
}

variable "stage_name" {
  description = "Stage to map at the domain's root."
  type        = string
}

variable "create_ipv6_record" {
  description = "Make the domain dualstack and add an AAAA ALIAS record next to the A record."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
