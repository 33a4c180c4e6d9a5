"""wardbench: evidence that a PostgreSQL + pgvector application's migrations are safe and its queries fast."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("wardbench")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+checkout"

# The repository root: scenarios/, migrations/ and fixtures/ live beside the package (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent
