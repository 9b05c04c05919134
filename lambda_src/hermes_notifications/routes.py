"""The clients' routes: sendMessage (a client's message to its room) and resume (what it missed).

Both are metered before they cost anything: sendMessage against its user's budget (every socket of the user
shares it), resume against the connection's own budget; and both refuse a connection whose rows are gone
(revoked, kicked, disconnected), so a socket revoked while in its handshake cannot read or send through
them. One resume replays at most ``ResumeSettings.max_bytes``; past it the answer says ``more`` and the
client resumes again, within its budget. The stage throttles both routes before any of this runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .dispatch import DeliveryFailed, Result, Splitter, dispatch
from .envelope import CLIENT, InvalidMessage, MessageTooLarge, PublishRequest, parse_json, replay_frames
from .fanout import Fanout, Outcome
from .history import DEFAULT_MAX_REPLAY, MAX_EPOCH_LENGTH, History, HistoryConflict, streams_of_connection
from .store import ConnectionStore, SendSlot, room_key

DEFAULT_MAX_REPLAY_BYTES = 1024 * 1024
MAX_RESUME_STREAMS = 100  # streams named in one resume body (a connection follows 3 today)


@dataclass(frozen=True)
class RouteSettings:
    enabled: bool = False
    limit: int = 20  # client messages per user per window, all the user's sockets together
    window_seconds: int = 10


@dataclass(frozen=True)
class ResumeSettings:
    limit: int = 10  # resumes per connection per window
    window_seconds: int = 60
    user_limit: int = 30  # resumes per user per window, all sockets and reconnects together
    max_replay: int = DEFAULT_MAX_REPLAY  # messages per stream: a longer gap is complete: false
    max_bytes: int = DEFAULT_MAX_REPLAY_BYTES  # envelopes replayed by one resume, all streams together


def respond(status: int, route: str = "sendMessage", **fields) -> dict:
    """The route's answer, which API Gateway sends back to the sender (the route has a route response).

    ``hermes.sent`` carries ``message_id`` (not ``id``: clients de-duplicate envelopes by ``id``, and the
    sender's own copy of the message has that id); ``hermes.refused`` carries the status and the reason.
    Every answer names its ``route``, so a client with a send and a resume in flight knows which one it is.
    """
    kind = "hermes.sent" if status == 200 else "hermes.refused"
    return {"statusCode": status, "body": json.dumps({"type": kind, "status": status, "route": route, **fields})}


def _identity(event: dict) -> tuple[str | None, str | None, str | None]:
    request_context = event.get("requestContext") or {}
    identity = request_context.get("authorizer") or {}
    return request_context.get("connectionId"), identity.get("room_id"), identity.get("user_id")


def handle_route(
    event: dict,
    store: ConnectionStore,
    fanout: Fanout,
    splitter: Splitter | None,
    settings: RouteSettings,
    history: History | None = None,
) -> tuple[dict, Result | None]:
    """A client's ``{"action": "sendMessage", "data": ..., "type"?: ..., "exclude_self"?: bool}``.
    Returns the answer and, when delivered, the result (for metrics)."""
    connection_id, room_id, user_id = _identity(event)
    if not settings.enabled:
        return respond(403, error="client messages are disabled"), None
    if not (connection_id and room_id and user_id):
        return respond(403, error="unknown connection"), None
    try:
        body = parse_json(event.get("body") or "")
    except InvalidMessage as exc:
        return respond(400, error=str(exc)), None
    if not isinstance(body, dict) or "data" not in body:
        return respond(400, error="body must be an object with 'data'"), None
    slot = store.take_send_slot(room_id, connection_id, user_id, settings.limit, settings.window_seconds)
    if slot is SendSlot.UNKNOWN_CONNECTION:  # disconnected, kicked or revoked: its row is gone
        return respond(403, error="unknown connection"), None
    if slot is SendSlot.RATE_LIMITED:
        window = settings.window_seconds
        return respond(429, error=f"at most {settings.limit} messages per {window} s", retry_after=window), None
    try:
        request = PublishRequest(
            data=body["data"],
            type=body.get("type", "message"),
            room_id=room_id,
            user_id=user_id,
            source=CLIENT,
            exclude_connection_id=connection_id if body.get("exclude_self") is True else None,
        )
        result = dispatch(request, store, fanout, splitter, history=history)
    except InvalidMessage as exc:
        return respond(413 if isinstance(exc, MessageTooLarge) else 400, error=str(exc)), None
    except HistoryConflict as exc:
        return respond(503, error=str(exc)), None
    except DeliveryFailed as exc:
        return respond(502, error=str(exc), **(exc.report.as_dict() if exc.report else {})), None
    report = result.report.as_dict() if result.report else {}
    return respond(200, message_id=result.message_id, **report), result


def stream_states(body: object) -> dict[str, tuple[str, int]]:
    """``{"streams": {"<stream>": {"epoch": "...", "position": n}}}`` → {stream: (epoch, position)}."""
    streams = body.get("streams") if isinstance(body, dict) else None
    if streams is None:
        return {}
    if not isinstance(streams, dict):
        raise InvalidMessage("streams must be an object")
    if len(streams) > MAX_RESUME_STREAMS:
        raise InvalidMessage(f"at most {MAX_RESUME_STREAMS} streams in one resume")
    states = {}
    for stream, state in streams.items():
        if not isinstance(state, dict):
            raise InvalidMessage(f"{stream[:64]}: each stream's state must be an object with epoch and position")
        epoch, position = state.get("epoch"), state.get("position")
        if not isinstance(epoch, str) or len(epoch) > MAX_EPOCH_LENGTH:
            raise InvalidMessage(f"{stream[:64]}: epoch must be a string of at most {MAX_EPOCH_LENGTH} characters")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidMessage(f"{stream[:64]}: position must be a non-negative integer")
        states[stream] = (epoch, position)
    return states


def handle_resume(
    event: dict, store: ConnectionStore, history: History | None, fanout: Fanout, settings: ResumeSettings
) -> tuple[dict, int]:
    """``{"action": "resume", "streams": {...}}`` from a client that has (re)connected.

    Only the connection's own streams are read (room, user, user in room); the replay is posted in
    position order before the answer, which carries each stream's head, whether the replay is complete,
    and ``more`` when the byte budget stopped it. Returns the answer and the number of messages replayed.
    """
    if history is None:
        return respond(404, "resume", error="history is off for this deployment"), 0
    connection_id, room_id, user_id = _identity(event)
    if not (connection_id and room_id and user_id):
        return respond(403, "resume", error="unknown connection"), 0
    try:
        states = stream_states(parse_json(event.get("body") or "{}"))
    except InvalidMessage as exc:
        return respond(400, "resume", error=str(exc)), 0
    slot = store.take_resume_slot(
        room_id, connection_id, user_id, settings.limit, settings.window_seconds, settings.user_limit
    )
    if slot is SendSlot.UNKNOWN_CONNECTION:  # revoked or kicked (maybe in its handshake): nothing to read
        return respond(403, "resume", error="unknown connection"), 0
    if slot is SendSlot.RATE_LIMITED:
        window = settings.window_seconds
        error = f"at most {settings.limit} resumes per {window} s per connection, {settings.user_limit} per user"
        return respond(429, "resume", error=error, retry_after=window), 0
    answer: dict[str, dict] = {}
    envelopes: list[bytes] = []
    budget = settings.max_bytes
    for stream in streams_of_connection(user_id, room_id):
        epoch, position = states.get(stream, (None, 0))
        if budget <= 0:  # the budget is spent: this stream waits for the next resume
            head = history.head(stream)
            answer[stream] = {"epoch": head.epoch, "position": head.position, "complete": True, "replayed": 0}
            if epoch is not None and (head.epoch != epoch or head.position != position):
                answer[stream]["more"] = True
            continue
        recovery = history.recover(stream, epoch, position, settings.max_replay, max_bytes=budget)
        answer[stream] = {
            "epoch": recovery.head.epoch,
            "position": recovery.head.position,
            "complete": recovery.complete,
            "replayed": len(recovery.envelopes),
        }
        if recovery.more:
            answer[stream]["more"] = True
        envelopes += recovery.envelopes
        budget -= sum(len(e) for e in recovery.envelopes)
        if recovery.more:
            budget = 0
    for frame in replay_frames(envelopes):
        if fanout.post(connection_id, frame, room_key(room_id)) is not Outcome.DELIVERED:
            return respond(502, "resume", error="replay could not be delivered; resume again"), 0
    body = {"type": "hermes.recovery", "status": 200, "route": "resume", "streams": answer}
    return {"statusCode": 200, "body": json.dumps(body)}, len(envelopes)
