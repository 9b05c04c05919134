"""``python -m hermes_notifications``: the ``hermes`` command, when another package's ``hermes`` shadows it."""

from .cli import main

raise SystemExit(main())
