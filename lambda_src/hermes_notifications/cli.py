"""The ``hermes`` command: issue/revoke connect tokens, publish notifications, run the local AWS.

Configuration, strongest first: flags, environment variables (HERMES_*, AWS_*), a ``terraform output
-json`` file (--outputs or HERMES_OUTPUTS; by default .hermes/local/outputs.json when present).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .config import ConfigError
from .envelope import DEFAULT_TYPE, InvalidMessage, NonFiniteNumber, PublishRequest, parse_json
from .errors import HermesError
from .sdk import DEFAULT_GRANT_TTL_SECONDS, DEFAULT_TTL_SECONDS


def _config_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("configuration (flags override HERMES_* env vars, which override --outputs)")
    g.add_argument(
        "--outputs",
        metavar="FILE",
        help="`terraform output -json` of the Hermes module "
        "[env HERMES_OUTPUTS; default .hermes/local/outputs.json if it exists]",
    )
    g.add_argument(
        "--token-function",
        help="the stack's token function: token, grant, revoke, kick ask it and read no key [HERMES_TOKEN_FUNCTION]",
    )
    g.add_argument("--tokens-table", help="tokens table name [HERMES_TOKENS_TABLE]")
    g.add_argument("--connections-table", help="connections table name [HERMES_CONNECTIONS_TABLE]")
    g.add_argument("--history-table", help="history table name [HERMES_HISTORY_TABLE]")
    g.add_argument("--queue-url", help="SQS queue URL [HERMES_QUEUE_URL]")
    g.add_argument(
        "--management-endpoint",
        help="API Gateway @connections endpoint, for revoke/kick [HERMES_MANAGEMENT_ENDPOINT]",
    )
    g.add_argument(
        "--secret-source",
        choices=["secretsmanager", "ssm", "env"],
        help="where the JWT secret lives [HERMES_JWT_SECRET_SOURCE, default secretsmanager]",
    )
    g.add_argument("--secret-id", help="secret ARN or SSM parameter name [HERMES_JWT_SECRET_ID]")
    g.add_argument("--region", help="AWS region [AWS_REGION]")
    g.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local moto server [AWS_ENDPOINT_URL]")
    g.add_argument("--bcrypt-cost", type=int, help="bcrypt cost for new tokens [HERMES_BCRYPT_COST, default 10]")
    return p


def build_parser() -> argparse.ArgumentParser:
    config = _config_options()
    parser = argparse.ArgumentParser(prog="hermes", description="Hermes real-time notifications: backend tools.")
    parser.add_argument("--version", action="version", version=f"hermes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = sub.add_parser("token", parents=[config], help="issue a connect token (prints the JWT)")
    token.add_argument("--user", required=True, help="user id")
    token.add_argument(
        "--room",
        action="append",
        default=[],
        dest="rooms",
        help="a room the connection joins (repeat for more, up to 100; none: the user's own messages only)",
    )
    token.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help=f"lifetime in seconds (default {DEFAULT_TTL_SECONDS})"
    )
    token.add_argument("--single-use", action="store_true", help="the token works for one connect only")

    grant = sub.add_parser(
        "grant", parents=[config], help="a grant for a user's live socket to join a room (prints it)"
    )
    grant.add_argument("--user", required=True, help="user id")
    grant.add_argument("--room", required=True, help="room id")
    grant.add_argument(
        "--ttl",
        type=int,
        default=DEFAULT_GRANT_TTL_SECONDS,
        help=f"lifetime in seconds (default {DEFAULT_GRANT_TTL_SECONDS})",
    )

    revoke = sub.add_parser(
        "revoke",
        parents=[config],
        help="revoke a user: every token, every socket closed; with --room, that room out of their tokens and sockets",
    )
    revoke.add_argument("--user", required=True)
    revoke.add_argument("--room", help="only this room (default: every room)")

    kick = sub.add_parser(
        "kick",
        parents=[config],
        help="close a user's live connections (--room: take that room off them); tokens stay valid",
    )
    kick.add_argument("--user", required=True)
    kick.add_argument("--room", help="only this room (default: every room)")

    publish = sub.add_parser("publish", parents=[config], help="publish a notification through the queue")
    publish.add_argument("--room", help="room to notify")
    publish.add_argument("--to-user", help="notify all connections of this user (in --room, if given)")
    publish.add_argument("--type", default=DEFAULT_TYPE, help=f"message type (default {DEFAULT_TYPE})")
    publish.add_argument("--from-user", help="originator user id shown to receivers")
    data = publish.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="JSON payload (a bare word is sent as a string)")
    data.add_argument("--data-file", type=argparse.FileType("r"), help="file with the JSON payload, - for stdin")

    history = sub.add_parser("history", parents=[config], help="print a stream's kept messages (JSON lines)")
    history.add_argument("--room", help="a room's stream (with --user: the user's stream in that room)")
    history.add_argument("--user", help="a user's stream")
    history.add_argument("--since", type=int, default=0, help="after this position (default 0: from the start)")
    history.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")

    connections = sub.add_parser("connections", parents=[config], help="list live connections (JSON lines)")
    connections.add_argument("--room", help="a room's connections (with --user: that user's in the room)")
    connections.add_argument("--user", help="a user's connections")

    local = sub.add_parser("local", help="local development stack (moto-based AWS)")
    local.add_argument(
        "what",
        choices=["aws", "up", "demo"],
        help="aws: the patched moto server; up: the whole stack (moto, terraform apply, gateway, poller); "
        "demo: the stack, one notification end to end, then stop",
    )
    local.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def load_config(args: argparse.Namespace):
    from .sdk import LOCAL_OUTPUTS, HermesConfig

    outputs = args.outputs or os.environ.get("HERMES_OUTPUTS")
    if outputs is None and LOCAL_OUTPUTS.exists() and not os.environ.get("HERMES_TOKENS_TABLE"):
        outputs = str(LOCAL_OUTPUTS)
    # First value set wins, as botocore resolves its settings: flags > environment > outputs file > defaults.
    base = HermesConfig.from_terraform_outputs(outputs) if outputs else HermesConfig()
    return base.merged(**HermesConfig.env_values()).merged(
        token_function=args.token_function,
        tokens_table=args.tokens_table,
        connections_table=args.connections_table,
        history_table=args.history_table,
        queue_url=args.queue_url,
        management_endpoint=args.management_endpoint,
        jwt_secret_source=args.secret_source,
        jwt_secret_id=args.secret_id,
        region=args.region,
        endpoint_url=args.endpoint_url,
        bcrypt_cost=args.bcrypt_cost,
    )


def parse_data(args: argparse.Namespace):
    raw = args.data_file.read() if args.data_file else args.data
    try:
        return parse_json(raw)  # strict: NaN / Infinity / 1e999 are refused, never sent
    except NonFiniteNumber:
        raise
    except InvalidMessage:
        if args.data_file:
            raise InvalidMessage(f"{args.data_file.name} is not JSON") from None
        return raw  # `--data hello` sends the string "hello"


def run(args: argparse.Namespace) -> int:
    from .sdk import Hermes

    client = Hermes(load_config(args))
    if args.command == "token":
        print(client.issue_token(args.user, args.rooms, ttl_seconds=args.ttl, single_use=args.single_use))
    elif args.command == "grant":
        print(client.grant(args.user, args.room, ttl_seconds=args.ttl))
    elif args.command == "revoke":
        revoked = client.revoke(args.user, args.room)
        left = f", {revoked.left} left the room and stay open" if args.room else ""
        print(f"revoked {revoked.tokens} tokens, closed {revoked.connections} connections{left}")
        for connection_id, code in revoked.failed:
            print(f"hermes: could not close {connection_id} ({code}); its rows are deleted", file=sys.stderr)
        if revoked.failed:
            return 1
    elif args.command == "history":
        for envelope in client.history(args.room, user_id=args.user, since=args.since, limit=args.limit):
            print(json.dumps(envelope, ensure_ascii=False))
    elif args.command == "connections":
        for connection in client.connections(args.room, user_id=args.user):
            print(json.dumps(connection))
    elif args.command == "kick":
        print(f"kicked {client.kick(args.user, args.room)} connections")
    elif args.command == "publish":
        if not args.room and not args.to_user:
            raise InvalidMessage("publish needs --room or --to-user")
        request = PublishRequest(
            data=parse_data(args),
            type=args.type,
            room_id=args.room,
            target_user_id=args.to_user,
            user_id=args.from_user,
        )
        print(client.publish_request(request))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "local":
        try:
            import moto  # noqa: F401 - only to tell a missing extra from a bug
            import websockets  # noqa: F401
        except ModuleNotFoundError as missing:
            parser.exit(
                2,
                f"hermes local needs the local-stack extra ({missing.name} is missing): "
                "pip install 'hermes-notifications[local]'\n",
            )
        if args.what == "up":
            from hermes_local.stack import up

            return up(args.rest)
        if args.what == "demo":
            from hermes_local.demo import main as demo

            return demo()
        from hermes_local import aws

        return aws.main(args.rest)
    try:
        return run(args)
    except (ConfigError, InvalidMessage, ValueError) as exc:
        parser.exit(2, f"hermes: error: {exc}\n")
    except HermesError as exc:  # the call ran and part of it failed (kick: some connections not closed)
        parser.exit(1, f"hermes: {exc}\n")
    except Exception as exc:  # noqa: BLE001 - AWS errors end the command with their message, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError):
            parser.exit(1, f"hermes: AWS error: {exc}\n")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
