"""Hermes: real-time notifications over API Gateway WebSockets.

The runtime modules (config, tokens, signing_keys, store, envelope, fanout, dispatch, history) are shipped inside
every Lambda zip; ``sdk`` and ``cli`` are backend tooling and never packaged for Lambda (build.py's allowlist).
The SDK's names are importable from here, loaded on first use, so a Lambda importing this package pays nothing
for them: ``from hermes_notifications import Hermes``.
"""

from typing import Any

__version__ = "0.2.0"  # also the release tag v0.2.0 (README "Versions"), clients/js/package.json, CHANGELOG.md

_SDK_NAMES = ("Hermes", "HermesConfig", "PublishRequest", "PublishError", "Revoked")
__all__ = ["HermesError", *_SDK_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        from . import sdk

        return getattr(sdk, name)
    if name == "HermesError":
        from .errors import HermesError

        return HermesError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
