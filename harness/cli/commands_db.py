"""`wardbench db start|stop|status`: the long-lived embedded server for interactive use."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli import app
from harness.cli.options import PgVersion, Profile, make_config
from harness.db import embedded

db_app = typer.Typer(no_args_is_help=True, help="Manage the long-lived embedded PostgreSQL server.")
app.add_typer(db_app, name="db")


@db_app.command("start")
def start(pg_version: PgVersion = None, profile: Profile = None,
          port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free)")] = 0,
          setting: Annotated[list[str] | None, typer.Option(
              "--set", help="server setting KEY=VALUE, repeatable (e.g. shared_buffers=2GB)")] = None) -> None:
    """Start the embedded server (or find the running one) and print its DSN."""
    settings = dict(s.split("=", 1) for s in setting or [] if "=" in s)
    bad = [s for s in setting or [] if "=" not in s]
    if bad:
        raise typer.BadParameter(f"expected KEY=VALUE, got {bad[0]!r}", param_hint="--set")
    cfg = make_config(pg_version=pg_version, profile=profile, server_settings=settings)
    server = embedded.start_persistent(cfg.pg_version, port, dict(cfg.server_settings))
    typer.echo(server.admin_dsn)


@db_app.command("stop")
def stop() -> None:
    """Stop the long-lived embedded server."""
    typer.echo("stopped" if embedded.stop_persistent() else "no embedded server was running")


@db_app.command("status")
def status() -> None:
    """Print the DSN of the running embedded server, or exit 1 when none runs."""
    server = embedded.running_persistent()
    if server is None:
        typer.echo("no embedded server is running")
        raise typer.Exit(1)
    typer.echo(f"running PostgreSQL {server.version} pid {server.postmaster_pid()}: {server.admin_dsn}")
