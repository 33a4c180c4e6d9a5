"""`wardbench db start|stop|status`: the long-lived embedded server for interactive use."""

from __future__ import annotations

import socket
from typing import Annotated

import psycopg
import typer
from psycopg import sql

from harness.cli.options import DatasetName, Dsn, PgVersion, Profile, make_config
from harness.db import ServerHandle, embedded
from harness.db.builds import build_for
from harness.errors import UsageError


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def apply_settings(server: embedded.EmbeddedServer, settings: dict[str, str]) -> list[str]:
    """Apply `settings` to the running server (ALTER SYSTEM + reload); return the names changed.

    A setting that takes effect only at server start, or that the server's command line pins (the profile's
    settings are passed as -c), is refused before anything is written: never silently ignored.
    """
    with psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=5) as conn:
        rows = {name: (context, source, current) for name, context, source, current in conn.execute(
            "SELECT name, context, source, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            (list(settings),))}
        changes = {k: v for k, v in settings.items() if k not in rows or rows[k][2] != v}
        for name, value in changes.items():
            if name not in rows:
                raise UsageError(f"--set {name}={value}: the running server has no setting {name!r}")
            context, source, current = rows[name]
            why = "is fixed on the server's command line" if source == "command line" else \
                "takes effect only when the server starts" if context in ("postmaster", "internal") else ""
            if why:
                raise UsageError(f"--set {name}={value}: the running server has {name}={current} and {name} {why}: "
                                 f"run `wardbench db stop`, then `wardbench db start --set {name}={value}`")
        for name, value in changes.items():  # ALTER SYSTEM checks each value before it writes it
            try:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            except psycopg.Error as exc:
                raise UsageError(f"--set {name}={value}: {str(exc).strip().splitlines()[0]}") from None
        if changes:
            conn.execute("SELECT pg_reload_conf()")
    return sorted(changes)


def start(pg_version: PgVersion = None, profile: Profile = None,
          port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free)")] = 0,
          setting: Annotated[list[str] | None, typer.Option(
              "--set", help="server setting KEY=VALUE, repeatable (e.g. shared_buffers=2GB); on a running server "
                            "it is applied by ALTER SYSTEM and a reload, or refused when it needs a restart")] = None,
          dataset: DatasetName = None) -> None:
    """Start the embedded server (or find the running one) and print its DSN.

    With --dataset NAME it prints instead the DSN of a fresh copy of that prepared dataset (database
    wardbench_serve_NAME, replaced at every such start; the dataset itself is never served, so Locust's
    writers cannot change it): `export WARDBENCH_DSN=$(wardbench db start --dataset NAME)`, then
    `locust -f scenarios/locustfile.py` opens the web UI with that database in its Host field.
    """
    settings = dict(s.split("=", 1) for s in setting or [] if "=" in s)
    bad = [s for s in setting or [] if "=" not in s]
    if bad:
        raise typer.BadParameter(f"expected KEY=VALUE, got {bad[0]!r}", param_hint="--set")
    cfg = make_config(pg_version=pg_version, profile=profile, port=port or None, server_settings=settings,
                      writes_reports=False)
    running = embedded.running_persistent()
    if running is not None:
        if port and port != running.port:
            raise UsageError(f"--port {port}: the embedded server already runs on port {running.port}: "
                             "use it, or run `wardbench db stop` first")
        if running.build == build_for(cfg.pg_version) and settings:
            changed = apply_settings(running, settings)
            if changed:
                typer.echo(f"applied to the running server: {', '.join(f'{k}={settings[k]}' for k in changed)}",
                           err=True)
    elif port and not _port_free(port):
        raise UsageError(f"port {port} is in use: choose another --port, or 0 for any free one")
    server = embedded.start_persistent(cfg.pg_version, port, dict(cfg.server_settings))
    if dataset is None:
        typer.echo(server.admin_dsn)
        return
    typer.echo(_serve(server.handle(), dataset))


def _serve(server: ServerHandle, name: str) -> str:
    """Serve a fresh copy of dataset `name` (exit 2 if unknown, or stale: built at another head or by another
    generator than today's; its own profile, seed and scale are taken as they are); return its DSN."""
    from harness.datasets import store
    from harness.datasets.record import Expected, check_fresh, check_name

    check_name(name, "--dataset")
    record = store.find(server.admin_dsn, name)
    check_fresh(record, Expected.as_built(record))
    db = store.serve(server, record)
    typer.echo(f"serving a copy of dataset {name} ({db.dataset.method if db.dataset else '?'} copy): "
               f"database {db.name}; for Locust's web UI: export WARDBENCH_DSN={db.dsn}; "
               "locust -f scenarios/locustfile.py", err=True)
    return db.dsn


def stop() -> None:
    """Stop the long-lived embedded server."""
    typer.echo("stopped" if embedded.stop_persistent() else "no embedded server was running")


def status() -> None:
    """Print the DSN of the running embedded server, or exit 1 when none runs."""
    server = embedded.running_persistent()
    if server is None:
        typer.echo("no embedded server is running")
        raise typer.Exit(1)
    typer.echo(f"running PostgreSQL {server.version} ({server.build.package}) pid {server.postmaster_pid()}: "
               f"{server.admin_dsn}")


def datasets(drop: Annotated[str | None, typer.Option("--drop", help="drop this dataset")] = None,
             dsn: Dsn = None) -> None:
    """List the prepared datasets on the long-lived server (or the --dsn one), each marked fresh or stale;
    --drop NAME removes one."""
    if dsn is not None:
        from harness.db.dsn import open_server

        with open_server(make_config(dsn=dsn, writes_reports=False)) as server:  # unreachable: exit 3
            _list_or_drop(server.admin_dsn, drop)
        return
    running = embedded.running_persistent()
    if running is None:
        raise UsageError("no long-lived embedded server is running, so it lists no datasets: "
                         "start it with `wardbench db start`, or give --dsn")
    _list_or_drop(running.admin_dsn, drop)


def _list_or_drop(admin_dsn: str, drop: str | None) -> None:
    from harness.datasets import store
    from harness.datasets.record import Expected, check_name, mismatches

    if drop is not None:
        record = store.find(admin_dsn, check_name(drop, "--drop"))
        store.drop(admin_dsn, record.database)
        typer.echo(f"dropped dataset {drop}")
        return
    for record in store.list_datasets(admin_dsn):
        stale = mismatches(record, Expected.as_built(record))
        typer.echo(f"{store.describe(record)}: {'STALE: ' + '; '.join(stale) if stale else 'fresh'}")
