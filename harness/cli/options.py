"""Options shared by every command, and the one place they become a RunConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.config import RunConfig, build_config

Backend = Annotated[str | None, typer.Option("--backend", help="embedded (default) | dsn | container")]
Dsn = Annotated[str | None, typer.Option("--dsn", help="PostgreSQL URI with pgvector; env WARDBENCH_DSN")]
InPlace = Annotated[bool, typer.Option("--in-place", help="work in the named database itself (destructive)")]
PgVersion = Annotated[int | None, typer.Option("--pg-version", help="embedded/container PostgreSQL: 16 or 18")]
Profile = Annotated[str | None, typer.Option("--profile", help="ci | release | capacity")]
Seed = Annotated[int | None, typer.Option("--seed", help="random seed (same seed, same data)")]
ScaleFactor = Annotated[float | None, typer.Option("--scale-factor", help="multiplies the profile's sizes")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="write machine-readable results here")]
ReportsDir = Annotated[Path | None, typer.Option("--reports-dir", help="where reports/<run-id>/ go")]
Keep = Annotated[bool, typer.Option("--keep-database", help="do not drop the disposable database")]


def make_config(**options: Any) -> RunConfig:
    """Build the RunConfig from command options (flags left at False count as not given)."""
    return build_config(**{k: (None if v is False else v) for k, v in options.items()})
