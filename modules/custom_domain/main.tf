# Optional custom domain for one stage: ACM certificate validated through Route53 (unless a certificate
# ARN is given), a REGIONAL TLS 1.2 API Gateway domain, the API mapping and ALIAS records.

locals {
  create_certificate = var.certificate_arn == null
  certificate_arn    = local.create_certificate ? aws_acm_certificate_validation.this[0].certificate_arn : var.certificate_arn
  # A single-name certificate has exactly one validation record. Indexing it (instead of for_each over
  # domain_validation_options) keeps the resource keys static, so plans work before the certificate
  # exists and under mocked providers.
  validation_option = local.create_certificate ? tolist(aws_acm_certificate.this[0].domain_validation_options)[0] : null
}

resource "aws_acm_certificate" "this" {
  count = local.create_certificate ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"
  key_algorithm     = "RSA_2048"

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  count = local.create_certificate ? 1 : 0

  zone_id         = var.zone_id
  name            = local.validation_option.resource_record_name
  type            = local.validation_option.resource_record_type
  records         = [local.validation_option.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.create_certificate ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [aws_route53_record.validation[0].fqdn]
}

resource "aws_apigatewayv2_domain_name" "this" {
  domain_name = var.domain_name

  domain_name_configuration {
    certificate_arn = local.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
    ip_address_type = var.create_ipv6_record ? "dualstack" : null
  }

  tags = var.tags
}

resource "aws_apigatewayv2_api_mapping" "this" {
  api_id      = var.api_id
  domain_name = aws_apigatewayv2_domain_name.this.id
  stage       = var.stage_name
}

resource "aws_route53_record" "alias" {
  for_each = toset(var.create_ipv6_record ? ["A", "AAAA"] : ["A"])

  zone_id = var.zone_id
  name    = aws_apigatewayv2_domain_name.this.domain_name
  type    = each.key

  alias {
    name                   = aws_apigatewayv2_domain_name.this.domain_name_configuration[0].target_domain_name
    zone_id                = aws_apigatewayv2_domain_name.this.domain_name_configuration[0].hosted_zone_id
    evaluate_target_health = false
  }
}
