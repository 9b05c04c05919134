"""Hermes: real-time notifications over API Gateway WebSockets.

The runtime modules (config, tokens, signing_keys, store, envelope, fanout, dispatch) are shipped inside every
Lambda zip; ``sdk``, ``cli`` and ``local`` are backend/dev tooling and are never packaged for Lambda.
"""

__version__ = "0.2.0"  # also the release tag v0.2.0 (README "Versions"), clients/js/package.json, CHANGELOG.md
