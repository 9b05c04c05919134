"""Publish requests (what a backend or client asks to send) and the envelope clients receive.

Envelope: ``{"id", "type", "source", "room_id", "user_id", "data", "sent_at"}``. ``id`` is stable for one
published message across SQS redeliveries and chunk jobs, so clients drop duplicates by it. ``source`` is
set by Hermes, never by the sender: ``"backend"`` for what arrives through the queue, ``"client"`` for what
a connected client sent, so an app can tell a backend notification from a client's imitation of one.
"""

from __future__ import annotations

import json
import math
import re
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import HermesError
from .ids import validate_id

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit (frames are 32 KB each)
DEFAULT_TYPE = "notification"
MAX_TYPE_LENGTH = 64
MAX_CHUNK_CONNECTIONS = 1000
# sent_at: an RFC 3339 UTC or offset timestamp, as Hermes writes it (utc_now_iso); anything else is refused
SENT_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
BACKEND = "backend"
CLIENT = "client"
# Hermes' own room events (hermes.join / hermes.leave, module input presence_events_enabled): they travel on the
# internal fan-out queue, the only one that may set ``source`` (INTERNAL_FIELDS), so nobody can forge them.
SYSTEM = "hermes"
SOURCES = (BACKEND, CLIENT, SYSTEM)
SYSTEM_TYPES = ("hermes.join", "hermes.leave")
# Hermes' own frames (hermes.sent, hermes.refused, ...) and the ping route's answer: nobody may publish them.
RESERVED_TYPE_PREFIX = "hermes."
RESERVED_TYPES = ("pong",)
# Fields only Hermes sets: on the public queue they are refused (chunk jobs travel on the internal queue).
INTERNAL_FIELDS = ("connection_ids", "source", "stream", "epoch", "position", "attempt")
MAX_DELIVERY_ATTEMPTS = 6  # a message's posts that keep failing: retried by retry jobs 5 times, then the DLQ


class InvalidMessage(HermesError, ValueError):
    """The request cannot be delivered as given; the text says why."""


class MessageTooLarge(InvalidMessage):
    pass


class NonFiniteNumber(InvalidMessage):
    """NaN, Infinity or a number too large for a double (1e999): Python's json takes and writes them, JSON
    has no such values, and a browser's JSON.parse throws on a frame that holds one."""

    def __init__(self, text: str = "a non-finite number"):
        super().__init__(f"{text} is not a JSON number (NaN, Infinity and numbers beyond ±1.8e308 cannot be sent)")


def _refuse_constant(name: str):
    raise NonFiniteNumber(name)


_MAX_DOUBLE = int(sys.float_info.max)
_LONG_INTEGER = re.compile(rb"\d{309}")  # at least 1e308: the only integers that may pass a double's range


def _bounded_int(text: str) -> int:
    """An integer a double can hold (a browser's JSON.parse turns a larger one into Infinity, which
    JSON.stringify then writes as null)."""
    value = int(text)
    if abs(value) > _MAX_DOUBLE:
        raise NonFiniteNumber(f"an integer of {len(text.lstrip('-'))} digits")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(text[:32])
    return value


def new_message_id() -> str:
    return uuid.uuid4().hex


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class PublishRequest:
    data: Any
    type: str = DEFAULT_TYPE
    room_id: str | None = None
    target_user_id: str | None = None  # only this user's connections (in room_id, if given)
    user_id: str | None = None  # the originator, shown to receivers
    id: str | None = None
    exclude_connection_id: str | None = None
    sent_at: str | None = None
    source: str = BACKEND
    connection_ids: tuple[str, ...] | None = field(default=None)  # set on chunk jobs only
    # the message's place in its stream (hermes.history), set once it is kept; chunk jobs carry it along
    stream: str | None = None
    epoch: str | None = None
    position: int | None = None
    # a retry job's attempt (chunk jobs naming only the connections whose posts failed), set by Hermes
    attempt: int | None = None

    def __post_init__(self) -> None:
        if self.room_id is None and self.target_user_id is None and self.connection_ids is None:
            raise InvalidMessage("a message needs room_id or target_user_id")
        for name in ("room_id", "target_user_id", "user_id", "id", "exclude_connection_id"):
            value = getattr(self, name)
            if value is not None:
                try:
                    validate_id(name, value)
                except ValueError as exc:
                    raise InvalidMessage(str(exc)) from None
        if self.sent_at is not None:  # as Hermes writes it (envelope schema): UTC, milliseconds
            object.__setattr__(self, "sent_at", _normalized_sent_at(self.sent_at))
        if not isinstance(self.type, str) or not self.type or len(self.type) > MAX_TYPE_LENGTH:
            raise InvalidMessage(f"type must be a non-empty string of at most {MAX_TYPE_LENGTH} characters")
        if self.source == SYSTEM:
            if self.type not in SYSTEM_TYPES:
                raise InvalidMessage(f"source {SYSTEM!r} carries only {', '.join(SYSTEM_TYPES)}")
        elif self.type.startswith(RESERVED_TYPE_PREFIX) or self.type in RESERVED_TYPES:
            raise InvalidMessage(f"type {self.type!r} is reserved for Hermes ('{RESERVED_TYPE_PREFIX}*', 'pong')")
        if self.source not in SOURCES:
            raise InvalidMessage(f"source must be one of {', '.join(SOURCES)}")
        if self.position is not None and not (
            isinstance(self.position, int)
            and self.position >= 1
            and isinstance(self.stream, str)
            and isinstance(self.epoch, str)
            and self.epoch
        ):
            raise InvalidMessage("position needs a stream and an epoch, and is a positive integer")
        if self.attempt is not None and not (
            isinstance(self.attempt, int) and not isinstance(self.attempt, bool) and 1 <= self.attempt
        ):
            raise InvalidMessage("attempt is a positive integer")
        if self.connection_ids is not None and (
            not self.connection_ids
            or len(self.connection_ids) > MAX_CHUNK_CONNECTIONS
            or not all(isinstance(c, str) and c for c in self.connection_ids)
        ):
            raise InvalidMessage(f"connection_ids must hold 1 to {MAX_CHUNK_CONNECTIONS} connection ids")

    @classmethod
    def from_json(cls, body: str | bytes | None, internal: bool = False) -> PublishRequest:
        """Parse a queued request. ``internal`` (the fan-out queue only Hermes writes to) admits chunk jobs."""
        raw = parse_json(body)
        if not isinstance(raw, dict):
            raise InvalidMessage("body must be a JSON object")
        if "data" not in raw:
            raise InvalidMessage("body has no 'data'")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidMessage(f"unknown fields: {', '.join(unknown)}")
        if not internal and (forbidden := [f for f in INTERNAL_FIELDS if f in raw]):
            raise InvalidMessage(f"{', '.join(forbidden)} can only be set by Hermes itself")
        ids = raw.get("connection_ids")
        if ids is not None:
            if not isinstance(ids, list):
                raise InvalidMessage("connection_ids must be a list")
            raw["connection_ids"] = tuple(ids)
        raw.setdefault("type", DEFAULT_TYPE)
        return cls(**raw)

    def to_json(self) -> str:
        """The queue body; ``source`` is left out unless it is a client's (the public queue refuses it)."""
        # data is always written, null included: a body without it is refused
        fields = {k: v for k, v in asdict(self).items() if v is not None or k == "data"}
        if fields.get("source") == BACKEND:
            del fields["source"]
        if "connection_ids" in fields:
            fields["connection_ids"] = list(fields["connection_ids"])
        return encode_json(fields).decode()


def _normalized_sent_at(value: object) -> str:
    """A publisher's sent_at, as every envelope carries it (2026-01-31T12:00:00.000Z); anything that is not
    an RFC 3339 timestamp is refused (it would reach every client as is)."""
    try:
        if not (isinstance(value, str) and SENT_AT.fullmatch(value)):
            raise ValueError
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise InvalidMessage("sent_at must be an RFC 3339 timestamp such as 2026-01-31T12:00:00.000Z") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_json(body: str | bytes | None) -> Any:
    """Strict JSON (RFC 8259): every bad body is an InvalidMessage (deep nesting, bad UTF-8, and the NaN /
    Infinity / 1e999 that Python's json accepts by default: they could not be sent on as JSON)."""
    try:
        if body is None:
            return None
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except NonFiniteNumber:
        raise
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidMessage(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidMessage("body is nested too deeply") from None


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 strict JSON; data that cannot be sent (a lone surrogate, too deep, NaN or Infinity) is
    an InvalidMessage."""
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        if _LONG_INTEGER.search(encoded):  # rare: read it back strictly, which refuses an integer past a double
            parse_json(encoded)
        return encoded
    except NonFiniteNumber:
        raise
    except UnicodeEncodeError:
        raise InvalidMessage("message contains invalid Unicode (a lone surrogate such as \\ud800)") from None
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise NonFiniteNumber() from None
        raise InvalidMessage(f"message cannot be encoded as JSON: {type(exc).__name__}") from None
    except (RecursionError, TypeError) as exc:
        raise InvalidMessage(f"message cannot be encoded as JSON: {type(exc).__name__}") from None


def build_envelope(request: PublishRequest, default_id: str | None = None) -> bytes:
    """Encode what clients receive; refuse it when API Gateway would (over 128 KB)."""
    envelope = {
        "id": request.id or default_id or new_message_id(),
        "type": request.type,
        "source": request.source,
        "room_id": request.room_id,
        "user_id": request.user_id,
        "data": request.data,
        "sent_at": request.sent_at or utc_now_iso(),
    }
    if request.position is not None:
        envelope.update(stream=request.stream, epoch=request.epoch, position=request.position)
    payload = encode_json(envelope)
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"message is {len(payload)} bytes; API Gateway WebSocket messages are limited to {MAX_MESSAGE_BYTES}"
        )
    return payload


REPLAY_PREFIX = b'{"type":"hermes.replay","messages":['
REPLAY_SUFFIX = b"]}"


def replay_frames(envelopes: list[bytes]) -> list[bytes]:
    """Pack envelopes, in order, into ``hermes.replay`` frames of at most 128 KB (few posts for a long gap);
    an envelope too large to be wrapped travels alone, as it was sent live."""
    frames: list[bytes] = []
    batch: list[bytes] = []
    size = len(REPLAY_PREFIX) + len(REPLAY_SUFFIX)

    def flush() -> None:
        if batch:
            frames.append(REPLAY_PREFIX + b",".join(batch) + REPLAY_SUFFIX)
            batch.clear()

    for envelope in envelopes:
        wrapped = len(REPLAY_PREFIX) + len(envelope) + len(REPLAY_SUFFIX)
        if wrapped > MAX_MESSAGE_BYTES:
            flush()
            size = len(REPLAY_PREFIX) + len(REPLAY_SUFFIX)
            frames.append(envelope)
            continue
        if batch and size + len(envelope) + 1 > MAX_MESSAGE_BYTES:
            flush()
            size = len(REPLAY_PREFIX) + len(REPLAY_SUFFIX)
        size += len(envelope) + (1 if batch else 0)
        batch.append(envelope)
    flush()
    return frames
