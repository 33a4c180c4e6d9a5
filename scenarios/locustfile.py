"""Locust entry point for wardbench: `locust -f scenarios/locustfile.py --host postgresql://...` (web UI).

`wardbench load` runs this same file headless in a subprocess. Options of our own start with --wb-
(see `locust -f scenarios/locustfile.py --help`); the DSN comes from WARDBENCH_DSN or --host, and the web
UI's Host field shows WARDBENCH_DSN when it is set (`export WARDBENCH_DSN=$(wardbench db start --dataset NAME)`).
"""

import os

import locust  # noqa: F401 - first, so gevent patches before psycopg chooses its wait function

from harness.load.user import ReaderUser, WriterUser

# The web UI fills its Host field from the user classes' `host` when they all agree (and --host is not given).
ReaderUser.host = WriterUser.host = os.environ.get("WARDBENCH_DSN") or None

__all__ = ["ReaderUser", "WriterUser"]
