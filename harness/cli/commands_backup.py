"""`wardbench backup verify`: dump the loaded database, restore it into a fresh one, compare everything."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from harness.backup.stage import with_kinds
from harness.cli.options import JsonOut, with_config
from harness.cli.run import finish, new_results, run_stage
from harness.config import RunConfig
from harness.errors import UsageError

Physical = Annotated[bool, typer.Option(
    "--physical", help="verify a physical backup instead: pg_basebackup while AI writers run, restored into a "
                       "second embedded server and replayed to a recovery target mid-load")]


@with_config("profile", "backend", "dsn", "in_place", "pg_version", "seed", "scale_factor", "json", "reports_dir",
             "keep_database", ...)
def verify(cfg: RunConfig, json: JsonOut = None, physical: Physical = False) -> None:
    """pg_dump -Fc, pg_restore into a fresh database, compare tables and schema; exit 1 on any difference.

    In a disposable database the schema and data are built first; with --in-place the named
    database is verified as it stands (it is only read). --physical takes a base backup under AI writers
    (embedded backend, disposable database), restores it to a point in time mid-load and compares it with a
    snapshot taken at that moment; amcheck checks every B-tree where the server has it.
    """
    if physical and cfg.backend != "embedded":
        raise UsageError(f"--physical restores into a second embedded server of the same build: use the embedded "
                         f"backend (not {cfg.backend})")
    if physical and cfg.in_place:
        raise UsageError("--physical writes (AI writers) while the backup runs: it needs a disposable database, "
                         "drop --in-place")
    cfg = with_kinds(cfg, ["physical" if physical else "logical"])
    console = Console(stderr=True)
    results = new_results(cfg, "backup verify --physical" if physical else "backup verify")
    run_stage(cfg, results, "backup", console)
    finish(cfg, results, json, console)
