"""Locust entry point for wardbench: `locust -f scenarios/locustfile.py --host postgresql://...` (web UI).

`wardbench load` runs this same file headless in a subprocess. Options of our own start with --wb-
(see `locust -f scenarios/locustfile.py --help`); the DSN comes from WARDBENCH_DSN or --host.
"""

import locust  # noqa: F401 - first, so gevent patches before psycopg chooses its wait function

from harness.load.user import ReaderUser, WriterUser

__all__ = ["ReaderUser", "WriterUser"]
