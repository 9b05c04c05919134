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
    condition     = output.hermes_config.tokens_table == "hermes-dev-tokens" && output.jwt_secret_id == "/hermes/dev/jwt-secret"
    error_message = "minimal example outputs differ: ${jsonencode(output.hermes_config)}"
  }
}

run "complete" {
  command = plan

  module {
    source = "./examples/complete"
  }

  variables {
    artifacts_dir = "tests/fixtures/dist"
    environment   = "prod"
  }

  assert {
    condition     = output.websocket_url == "wss://ws.hermes-example.com" && output.custom_domain_name == "ws.hermes-example.com"
    error_message = "prod must be served on ws.<zone>."
  }

  assert {
    condition     = output.hermes_config.jwt_secret_source == "secretsmanager" && output.jwt_secret_arn == output.hermes_config.jwt_secret_id
    error_message = "The complete example reads its Secrets Manager secret by ARN."
  }
}
