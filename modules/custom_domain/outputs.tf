output "domain_name" {
  description = "The custom host name."
  value       = aws_apigatewayv2_domain_name.this.domain_name
}

output "websocket_url" {
  description = "wss:// URL on the custom domain (the stage is mapped at the root)."
  value       = "wss://${aws_apigatewayv2_domain_name.this.domain_name}"
}

output "certificate_arn" {
  description = "ARN of the certificate in use."
  value       = local.certificate_arn
}

output "target_domain_name" {
  description = "Regional API Gateway target the ALIAS records point at."
  value       = aws_apigatewayv2_domain_name.this.domain_name_configuration[0].target_domain_name
}

output "record_fqdns" {
  description = "FQDNs of the ALIAS records keyed by type."
  value       = { for k, r in aws_route53_record.alias : k => r.fqdn }
}
