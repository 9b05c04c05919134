"""Structured logging for the Lambda handlers (Powertools), shared by the library modules they call.

Imported only by the handlers in lambda_src/functions: the backend SDK and CLI never load Powertools.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers


def handler_logger() -> Logger:
    """The handler's logger; ``hermes.*`` library loggers (fanout, dispatch, signing_keys, ...) log through the
    same JSON formatter, with the request id and the cold-start flag.

    The service name comes from POWERTOOLS_SERVICE_NAME, which the module sets to "<name>-<environment>", so
    staging and prod in one account are told apart in logs and metrics.
    """
    logger = Logger()
    copy_config_to_registered_loggers(source_logger=logger, include={"hermes_notifications"})
    return logger
