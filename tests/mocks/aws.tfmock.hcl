# Defaults for values the mocked aws provider would otherwise fill with random strings. Anything a
# resource validates as an ARN or a JSON policy must look real, or apply-mode tests fail validation.

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/hermes-test-role"
  }
}

mock_resource "aws_lambda_layer_version" {
  defaults = {
    arn                         = "arn:aws:lambda:eu-west-1:123456789012:layer:hermes-test-deps:1"
    layer_arn                   = "arn:aws:lambda:eu-west-1:123456789012:layer:hermes-test-deps"
    signing_job_arn             = null
    signing_profile_version_arn = null
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn        = "arn:aws:lambda:eu-west-1:123456789012:function:hermes-test-fn"
    invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:hermes-test-fn/invocations"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/hermes-test-fn"
  }
}

mock_resource "aws_dynamodb_table" {
  defaults = {
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/hermes-test-table"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:hermes-test-messages"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-test-messages"
  }
}

mock_resource "aws_apigatewayv2_api" {
  defaults = {
    id            = "abc123defg"
    api_endpoint  = "wss://abc123defg.execute-api.eu-west-1.amazonaws.com"
    execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123defg"
    arn           = "arn:aws:apigateway:eu-west-1::/apis/abc123defg"
  }
}

mock_resource "aws_apigatewayv2_authorizer" {
  defaults = {
    id = "auth01"
  }
}

mock_resource "aws_ssm_parameter" {
  defaults = {
    arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/hermes/test/jwt-secret"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"
    id  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hermes/test/jwt-secret-AbCdEf"
  }
}

mock_resource "aws_acm_certificate" {
  defaults = {
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    domain_validation_options = [{
      domain_name           = "ws.example.com"
      resource_record_name  = "_abc.ws.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_def.acm-validations.aws."
    }]
  }
}

mock_resource "aws_acm_certificate_validation" {
  defaults = {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  }
}

mock_resource "aws_apigatewayv2_domain_name" {
  defaults = {
    arn = "arn:aws:apigateway:eu-west-1::/domainnames/ws.example.com"
    domain_name_configuration = {
      certificate_arn                        = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
      endpoint_type                          = "REGIONAL"
      security_policy                        = "TLS_1_2"
      ip_address_type                        = "ipv4"
      ownership_verification_certificate_arn = null
      target_domain_name                     = "d-abc123.execute-api.eu-west-1.amazonaws.com"
      hosted_zone_id                         = "Z1U9ULNL0V5AJ3"
    }
  }
}

mock_data "aws_region" {
  defaults = {
    id   = "eu-west-1"
    name = "eu-west-1"
  }
}

# No Hermes account marker by default: a fresh account (runs override it to model a bootstrapped one).
mock_data "aws_ssm_parameters_by_path" {
  defaults = {
    names  = []
    arns   = []
    types  = []
    values = []
  }
}

mock_data "aws_route53_zone" {
  defaults = {
    zone_id = "Z0123456789ABCDEFGHIJ"
    name    = "hermes-example.com"
  }
}
