"""Structured logging for the Lambda handlers, shared by the library modules they call.

Two flavours with one line shape (a JSON object per line on stdout: ``level``, ``location``, ``message``,
``timestamp``, ``service``, ``cold_start``, ``function_name``, ``function_memory_size``, ``function_arn``,
``function_request_id``, the call's ``extra`` fields, ``exception``/``exception_name``, ``xray_trace_id``):

- ``handler_logger()``: Powertools' Logger, for send_message (which also uses Powertools' batch processing and
  metrics).
- ``json_logger()``: the same fields from the standard library alone, for the connection handlers (authorizer,
  connect, disconnect). Importing Powertools' Logger costs about as much as the rest of a connect-path handler
  beyond boto3 (bench section 3), and a first connect pays the authorizer's and connect's cold starts in turn.

Imported only by the handlers in lambda_src/functions: the backend SDK and CLI never load either.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

PACKAGE_LOGGER = "hermes_notifications"  # the library modules log under it (hermes_notifications.fanout, ...)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Every attribute a LogRecord has by itself: anything else on a record came from ``extra`` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}

_is_cold_start = True
_context: dict[str, Any] = {}  # the current invocation's fields, shared by every logger of the process


def handler_logger():
    """Powertools' Logger; ``hermes_notifications.*`` library loggers log through the same JSON formatter, with
    the request id and the cold-start flag.

    The service name comes from POWERTOOLS_SERVICE_NAME, which the module sets to "<name>-<environment>", so
    staging and prod in one account are told apart in logs and metrics.
    """
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logger = Logger()
    copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE_LOGGER})
    return logger


def log_level(env: dict[str, str] | None = None) -> str:
    """As Powertools decides: Lambda's advanced logging controls (AWS_LAMBDA_LOG_LEVEL), then
    POWERTOOLS_LOG_LEVEL (the module's ``log_level``), then INFO."""
    env = os.environ if env is None else env
    for name in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"):
        value = (env.get(name) or "").upper()
        if value in LEVELS:
            return value
    return "INFO"


def cold_start() -> bool:
    """True for the first invocation of an on-demand execution environment only (as Powertools counts it)."""
    global _is_cold_start
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency":
        _is_cold_start = False
    first, _is_cold_start = _is_cold_start, False
    return first


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with Powertools' field names (queries and alarms work on both flavours)."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
            + f",{int(record.msecs):03d}+0000",
            "service": self.service,
            **_context,
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_"))
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
        trace = os.environ.get("_X_AMZN_TRACE_ID", "")
        if trace.startswith("Root="):
            line["xray_trace_id"] = trace.split(";")[0].removeprefix("Root=")
        return json.dumps(line, default=str, separators=(",", ":"), ensure_ascii=False)


class StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at the time (Lambda sends stdout to CloudWatch Logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never fail the invocation
            self.handleError(record)


class JsonLogger:
    """The subset of Powertools' Logger the connection handlers use: ``debug`` ... ``exception`` with ``extra``,
    and ``inject_lambda_context``."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def _log(self, level: int, msg: str, args: tuple, kwargs: dict) -> None:
        kwargs.setdefault("stacklevel", 3)  # "location" is the caller's function and line, not this module's
        self.logger.log(level, msg, *args, **kwargs)

    def debug(self, msg: str, *args, **kwargs) -> None:
        self._log(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: str, *args, **kwargs) -> None:
        self._log(logging.INFO, msg, args, kwargs)

    def warning(self, msg: str, *args, **kwargs) -> None:
        self._log(logging.WARNING, msg, args, kwargs)

    def error(self, msg: str, *args, **kwargs) -> None:
        self._log(logging.ERROR, msg, args, kwargs)

    def exception(self, msg: str, *args, **kwargs) -> None:
        kwargs.setdefault("exc_info", True)
        self._log(logging.ERROR, msg, args, kwargs)

    def inject_lambda_context(
        self, handler: Callable | None = None, *, clear_state: bool = True, log_event: bool = False
    ) -> Callable:
        """Set the invocation's fields (request id, cold start, function) on every line logged during it.

        The event itself is never logged (``log_event`` is accepted and must stay False: the authorizer's event
        carries the token); the fields are always replaced at each invocation (``clear_state``).
        """
        if log_event:
            raise ValueError("json_logger never logs events")
        if handler is None:
            return functools.partial(self.inject_lambda_context, clear_state=clear_state, log_event=log_event)

        @functools.wraps(handler)
        def decorated(event, context, *args, **kwargs):
            _context.clear()
            _context.update(
                cold_start=cold_start(),
                function_name=getattr(context, "function_name", None),
                function_memory_size=getattr(context, "memory_limit_in_mb", None),
                function_arn=getattr(context, "invoked_function_arn", None),
                function_request_id=getattr(context, "aws_request_id", None),
            )
            return handler(event, context, *args, **kwargs)

        return decorated


def json_logger(name: str = "handler") -> JsonLogger:
    """A logger for a connection handler: ``hermes_notifications.<name>``, so the handler's lines and the library
    modules' lines go through one handler at one level, in the JSON shape above; the service name comes from
    POWERTOOLS_SERVICE_NAME as for Powertools ("<name>-<environment>", set by the module)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter(os.environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined"))
    package.handlers = [handler]
    package.setLevel(log_level())
    # Lambda's runtime logs root-logger records in its own format: stop here, or every line would show twice.
    package.propagate = False
    return JsonLogger(logging.getLogger(f"{PACKAGE_LOGGER}.{name}"))
