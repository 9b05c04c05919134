# Both examples plan offline against the mocked provider (which replaces their provider blocks).

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

run "minimal" {
  command = plan

  module {
    source = "./examples/minimal"
  }

  variables {
    artifacts_dir = "tests/fixtures/dist"
    environment   = "dev"
  }

  assert {
    condition     = output.hermes_config.tokens_table == "hermes-dev-tokens" && output.hermes_config.jwt_secret_source == "secretsmanager"
    error_message = "minimal example outputs differ: ${jsonencode(output.hermes_config)}"
  }

  assert {
    condition     = output.access_log_group_name == null
    error_message = "The defaults must not log on a fresh account (no account marker)."
  }
}

run "complete" {
  command = plan

  module {
    source = "./examples/complete"
  }

  variables {
    artifacts_dir    = "tests/fixtures/dist"
    environment      = "prod"
    domain_zone_name = "hermes-example.com"
  }

  assert {
    condition     = output.websocket_url == "wss://ws.hermes-example.com" && output.custom_domain_name == "ws.hermes-example.com"
    error_message = "prod must be served on ws.<zone>."
  }

  assert {
    condition     = output.zone_id == "Z0123456789ABCDEFGHIJ"
    error_message = "The custom domain lives in the user's existing zone (looked up by name)."
  }

  assert {
    condition     = output.hermes_config.jwt_secret_source == "secretsmanager" && output.jwt_secret_arn == output.hermes_config.jwt_secret_id
    error_message = "The complete example reads its Secrets Manager secret by ARN."
  }

  assert {
    # IAM role names are account-wide: without the region, the same environment in a second region collides
    condition = (
      aws_iam_role.publisher.name == "hermes-example-prod-publisher-eu-west-1" &&
      aws_iam_role.token_issuer.name == "hermes-example-prod-token-issuer-eu-west-1"
    )
    error_message = "Both backend roles of the example carry the region in their names."
  }
}

run "complete_without_a_zone_has_no_custom_domain" {
  command = plan

  module {
    source = "./examples/complete"
  }

  variables {
    artifacts_dir = "tests/fixtures/dist"
    environment   = "staging"
  }

  assert {
    condition     = output.custom_domain_name == null && output.zone_id == null && output.websocket_url == "wss://abc123defg.execute-api.eu-west-1.amazonaws.com/staging"
    error_message = "Without a zone the complete example runs on the API's own endpoint (no zone of its own, no ACM wait)."
  }
}

run "account" {
  command = plan

  module {
    source = "./examples/account"
  }

  assert {
    condition     = output.marker_parameter_name == "/hermes/account/api-gateway-cloudwatch-role-arn"
    error_message = "examples/account records the role where the module looks by default."
  }
}

run "account_records_a_role_registered_elsewhere" {
  command = plan

  module {
    source = "./examples/account"
  }

  variables {
    existing_role_arn = "arn:aws:iam::123456789012:role/landing-zone/apigateway-logs"
  }

  assert {
    condition     = output.cloudwatch_role_arn == "arn:aws:iam::123456789012:role/landing-zone/apigateway-logs" && module.account.cloudwatch_role_name == null
    error_message = "An existing role is only recorded (no role and no aws_api_gateway_account of its own)."
  }
}
