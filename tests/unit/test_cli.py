"""The `hermes` command: flags/env/outputs configuration and clear errors on bad input."""

import json

import boto3
import jwt
import pytest

from hermes_notifications.cli import main

from .conftest import SECRET, TOKENS_TABLE


def test_token_prints_a_jwt_for_the_user_and_its_rooms_are_stored(env, capsys):
    assert main(["token", "--user", "u1", "--room", "A", "--room", "B", "--room", "C", "--ttl", "60"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS512"])
    assert (claims["user_id"], claims["exp"] - claims["iat"]) == ("u1", 60)
    item = boto3.client("dynamodb").get_item(
        TableName=TOKENS_TABLE, Key={"user_id": {"S": "u1"}, "room_token": {"S": f"*#{claims['jti']}"}}
    )["Item"]
    assert sorted(item["rooms"]["SS"]) == ["A", "B", "C"]


def test_token_refuses_101_rooms_with_a_reason(env, capsys):
    rooms = [arg for i in range(101) for arg in ("--room", f"r{i}")]
    with pytest.raises(SystemExit) as exited:
        main(["token", "--user", "u1", *rooms])
    assert exited.value.code == 2 and "at most 100 rooms" in capsys.readouterr().err


def test_grant_prints_a_grant_for_the_user_and_room(env, capsys):
    assert main(["grant", "--user", "u1", "--room", "D"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS512"])
    assert (claims["user_id"], claims["room_id"], claims["exp"] - claims["iat"]) == ("u1", "D", 300)


def test_revoke_says_what_happened(env, capsys):
    main(["token", "--user", "u1", "--room", "r1"])
    main(["token", "--user", "u1", "--room", "r1", "--single-use"])
    capsys.readouterr()
    main(["revoke", "--user", "u1", "--room", "r1"])
    main(["revoke", "--user", "u1"])
    assert capsys.readouterr().out.splitlines() == [
        "revoked 2 tokens, closed 0 connections, 0 left the room and stay open",
        "revoked 0 tokens, closed 0 connections",
    ]


def test_publish_queues_json_data_and_prints_the_id(env, capsys):
    assert main(["publish", "--room", "r1", "--type", "job.done", "--data", '{"ok": true}']) == 0
    message_id = capsys.readouterr().out.strip()
    (message,) = boto3.client("sqs").receive_message(QueueUrl=env)["Messages"]
    body = json.loads(message["Body"])
    assert (body["id"], body["room_id"], body["type"], body["data"]) == (message_id, "r1", "job.done", {"ok": True})


def test_publish_reads_data_from_a_file(env, tmp_path, capsys):
    payload = tmp_path / "payload.json"
    payload.write_text('{"from": "file"}')
    main(["publish", "--to-user", "alice", "--data-file", str(payload)])
    body = json.loads(boto3.client("sqs").receive_message(QueueUrl=env)["Messages"][0]["Body"])
    assert body["target_user_id"] == "alice" and body["data"] == {"from": "file"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["publish", "--data", "1"], "publish needs --room or --to-user"),
        (["token", "--user", "", "--room", "r"], "user_id must be 1 to 128 characters"),
        (["token", "--user", "u", "--room", "r#2"], "room_id must be 1 to 128 characters"),
        (["token", "--user", "u", "--room", "r", "--ttl", "0"], "ttl_seconds must be between"),
        (["publish", "--room", "r", "--data", "x" * 140000], "limited to 131072"),
        (["token", "--user", "u", "--room", "r", "--outputs", "/nonexistent.json"], "cannot read terraform outputs"),
    ],
)
def test_bad_input_exits_2_with_a_message(env, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_configuration_is_reported(aws, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("HERMES_TOKENS_TABLE", "HERMES_JWT_SECRET_SOURCE", "HERMES_JWT_SECRET"):
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as exited:
        main(["token", "--user", "u", "--room", "r"])
    assert exited.value.code == 2
    assert "tokens_table is missing (set --tokens-table, HERMES_TOKENS_TABLE" in capsys.readouterr().err


def test_outputs_file_configures_everything_and_flags_win(aws, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("HERMES_TOKENS_TABLE", "HERMES_JWT_SECRET_SOURCE", "HERMES_JWT_SECRET"):
        monkeypatch.delenv(name)
    boto3.client("ssm").put_parameter(Name="/hermes/jwt", Value=SECRET, Type="SecureString")
    outputs = tmp_path / ".hermes" / "local" / "outputs.json"
    outputs.parent.mkdir(parents=True)
    outputs.write_text(
        json.dumps(
            {
                "hermes_config": {
                    "value": {"tokens_table": "wrong-table", "jwt_secret_source": "ssm", "jwt_secret_id": "/hermes/jwt"}
                }
            }
        )
    )
    # the default local outputs file is found without flags; --tokens-table overrides its table
    assert main(["token", "--user", "u", "--room", "r", "--tokens-table", TOKENS_TABLE, "--bcrypt-cost", "4"]) == 0
    assert jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS512"])["user_id"] == "u"
    with pytest.raises(SystemExit) as exited:  # without the flag, the file's (missing) table is used
        main(["token", "--user", "u", "--room", "r"])
    assert exited.value.code == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("token", "revoke", "publish", "local"))


def test_history_prints_json_lines(env, capsys, monkeypatch):
    from hermes_notifications.history import History

    from .conftest import HISTORY_TABLE

    keeper = History(boto3.client("dynamodb"), HISTORY_TABLE, retention_seconds=3600)
    for i in range(3):
        keeper.append("room#r1", lambda p, i=i: json.dumps({"position": p.position, "data": i}).encode())
    assert main(["history", "--room", "r1", "--since", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(m["position"], m["data"]) for m in lines] == [(2, 1), (3, 2)]


def test_an_env_var_equal_to_its_default_still_beats_the_outputs_file(monkeypatch, tmp_path):
    # GIVEN an outputs file saying secretsmanager, and the environment saying ssm (the old default)
    from hermes_notifications.cli import build_parser, load_config

    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps({"hermes_config": {"value": {"jwt_secret_source": "secretsmanager", "jwt_secret_id": "arn:file"}}})
    )
    monkeypatch.setenv("HERMES_JWT_SECRET_SOURCE", "ssm")
    monkeypatch.setenv("HERMES_JWT_SECRET_ID", "/from/env")
    monkeypatch.setenv("HERMES_BCRYPT_COST", "10")  # equal to the default, still set
    args = build_parser().parse_args(["token", "--user", "u", "--room", "r", "--outputs", str(outputs)])
    config = load_config(args)
    # THEN the environment wins for both, never a mix of the two sources
    assert (config.jwt_secret_source, config.jwt_secret_id, config.bcrypt_cost) == ("ssm", "/from/env", 10)
    # AND a flag beats both
    args = build_parser().parse_args(
        ["token", "--user", "u", "--room", "r", "--outputs", str(outputs), "--secret-source", "secretsmanager"]
    )
    assert load_config(args).jwt_secret_source == "secretsmanager"


def test_connections_lists_json_lines(env, capsys):
    from hermes_notifications.store import Connection, ConnectionStore

    from .conftest import CONNECTIONS_TABLE

    ConnectionStore(boto3.client("dynamodb"), CONNECTIONS_TABLE).add(Connection("c1", "r1", "u1", 5))
    assert main(["connections", "--room", "r1"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"connection_id": "c1", "room_id": "r1", "rooms": ["r1"], "user_id": "u1", "connected_at": 5}
    ]
