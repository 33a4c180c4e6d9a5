"""Options shared by every command, declared once, and the one place they become a RunConfig.

`with_config` gives a command typed over RunConfig the shared options it names (as sqlite-utils reuses one
option decorator): the command declares only its own. Output paths are checked here, before any server
starts: a run that can only fail at the end, after minutes of work, when it writes its results, must be
refused at the start instead.
"""

from __future__ import annotations

import functools
import inspect
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import EllipsisType
from typing import Annotated, Any, Concatenate

import typer

from harness.config import RunConfig, build_config
from harness.errors import UsageError
from harness.targets import TARGETS

Backend = Annotated[str | None, typer.Option("--backend", help="embedded (default) | dsn | container")]
Dsn = Annotated[str | None, typer.Option("--dsn", help="PostgreSQL URI with pgvector; env WARDBENCH_DSN")]
InPlace = Annotated[bool, typer.Option("--in-place", help="work in the named database itself (destructive)")]
PgVersion = Annotated[int | None, typer.Option("--pg-version", help="embedded/container PostgreSQL: 16 or 18")]
Profile = Annotated[str | None, typer.Option("--profile", help="ci | release | capacity")]
Seed = Annotated[int | None, typer.Option("--seed", help="random seed, 0 or more (same seed, same data)")]
ScaleFactor = Annotated[float | None, typer.Option(
    "--scale-factor", help="multiplies the profile's sizes; refused when the estimated data cannot fit")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="write machine-readable results here")]
ReportsDir = Annotated[Path | None, typer.Option("--reports-dir", help="where reports/<run-id>/ go")]
Keep = Annotated[bool, typer.Option(
    "--keep-database", help="do not drop the disposable database (needs a server that outlives the run: "
                            "--dsn or `wardbench db start`)")]
TargetList = Annotated[list[str] | None, typer.Option(
    "--target", help="override a gate target, KEY=VALUE, repeatable (e.g. ward_p95_ms=50); keys: "
                     + "; ".join(f"{t.key} ({t.unit}, {t.valid_range}, default {t.default:g})" for t in TARGETS))]
DatasetName = Annotated[str | None, typer.Option(
    "--dataset", help="start from a copy of this prepared dataset instead of generating (built once with "
                      "`wardbench generate --keep-dataset NAME`; lives on the long-lived server or the --dsn one)")]

# The options a command takes through `with_config`, by parameter name: (annotation, default).
SHARED: dict[str, tuple[Any, Any]] = {
    "profile": (Profile, None), "backend": (Backend, None), "dsn": (Dsn, None), "in_place": (InPlace, False),
    "pg_version": (PgVersion, None), "seed": (Seed, None), "scale_factor": (ScaleFactor, None),
    "reports_dir": (ReportsDir, None), "keep_database": (Keep, False), "dataset": (DatasetName, None),
    "target": (TargetList, None),
}


Command = Callable[Concatenate[RunConfig, ...], None]


def with_config(*layout: str | EllipsisType, defaults: Mapping[str, Any] | None = None,
                fallbacks: Mapping[str, Any] | None = None,
                outputs: Mapping[str, str] | None = None) -> Callable[[Command], Callable[..., None]]:
    """Give `command(cfg, **own)` the shared options named in `layout` and call it with their RunConfig.

    `layout` orders the --help listing: shared names (SHARED), the command's own parameter names, and `...`
    for its own parameters not named; a parameter of the command's own shadows a shared one of its name.
    The command's own parameters stay its own: a `JsonOut` one (and those in `outputs`, name -> flag) is
    checked writable, a `TargetList` one (the shared `target`, when the command reads it itself) overrides
    targets. `defaults` are shown in --help; `fallbacks` replace an option left out without being shown.
    """

    def decorate(command: Command) -> Callable[..., None]:
        own = {p.name: p for p in list(inspect.signature(command, eval_str=True).parameters.values())[1:]}
        shared = [name for name in layout if isinstance(name, str) and name in SHARED and name not in own]
        params = {name: inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=SHARED[name][0],
                                          default=(defaults or {}).get(name, SHARED[name][1])) for name in shared}
        named = {item for item in layout if isinstance(item, str)}
        rest = [n for n in own if n not in named]
        order = [n for item in (*layout, ...) for n in ([item] if isinstance(item, str) else rest)]
        signature = [params.get(n) or own[n] for n in dict.fromkeys(order)]
        files = {**{n: "--json" for n, p in own.items() if p.annotation is JsonOut}, **(outputs or {})}
        targets = [n for n, p in own.items() if p.annotation is TargetList]

        @functools.wraps(command)
        def run(**options: Any) -> None:
            given = {name: options.pop(name) for name in shared}
            given.update({k: v for k, v in (fallbacks or {}).items() if given.get(k) is None})
            if "target" in given:
                given["targets"] = given.pop("target")
            elif targets:
                given["targets"] = options[targets[0]]
            cfg = make_config(outputs=[(flag, options[name]) for name, flag in files.items()], **given)
            command(cfg, **options)

        run.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY)  # type: ignore[attr-defined]
                                               for p in signature])
        run.__annotations__ = {p.name: p.annotation for p in signature}
        return run

    return decorate


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(directory: Path, what: str) -> None:
    """Create and remove a file in `directory`: the only test that also holds for root and read-only mounts."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".wardbench-probe-")
    except OSError as exc:
        raise UsageError(f"{what}: cannot write in {directory} ({exc.strerror}): choose a writable place") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_dir(path: Path, what: str) -> None:
    """`path` is, or can be created as, a directory this process can write in."""
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise UsageError(f"{what}: {existing} is a file, not a directory: give a directory")
    _probe(existing, what)


def check_output_file(path: Path, what: str) -> None:
    """`path` names a file (not a directory) this process can create or replace."""
    if path.is_dir():
        raise UsageError(f"{what}: {path} is a directory: give a file path, e.g. {path / 'results.json'}")
    if path.exists():
        try:
            with path.open("a"):  # opened, not written: an existing file is left as it was
                pass
        except OSError as exc:
            raise UsageError(f"{what}: cannot write {path} ({exc.strerror}): choose a writable file") from None
        return
    check_output_dir(path.parent, what)


def embedded_home() -> tuple[Path, str]:
    """Where the embedded server lives and how the user named it (mirrors harness.db.embedded.home_dir,
    without creating it)."""
    if os.environ.get("WARDBENCH_HOME"):
        return Path(os.environ["WARDBENCH_HOME"]), "WARDBENCH_HOME"
    return Path(tempfile.gettempdir()) / f"wardbench-{os.getuid()}", "the embedded server's home"


def _long_lived(cfg: RunConfig, home: Path) -> bool:
    """Whether the embedded server this run would use is the long-lived one (`db start`), not a throwaway."""
    from harness.db.builds import build_for
    from harness.db.embedded import running_persistent

    server = running_persistent() if (home / "server.json").is_file() else None  # `db start` records it there
    return server is not None and server.build == build_for(cfg.pg_version)


def _check_keep(cfg: RunConfig, home: Path) -> None:
    """--keep-database on the embedded backend keeps the database only on a server that outlives the run."""
    if not _long_lived(cfg, home):
        raise UsageError("--keep-database: this run's embedded server is throwaway (stopped and deleted when the "
                         "run ends), so no database could be kept: start a long-lived server with "
                         "`wardbench db start` first (runs then use it and the database stays), or use --dsn")


def _check_dataset(cfg: RunConfig, flag: str, name: str, home: Path | None) -> None:
    """A dataset lives in a database on a server that outlives the run: the long-lived embedded one or --dsn."""
    from harness.datasets.record import check_name

    check_name(name, flag)
    if cfg.in_place:
        raise UsageError(f"{flag} {name} and --in-place: a dataset run works in a copy (or builds a new "
                         "database), never in the named one: drop one of them")
    if cfg.backend == "container":
        raise UsageError(f"{flag} {name}: the container backend's server lives only as long as the run, so it "
                         "holds no datasets: use the embedded backend with `wardbench db start`, or --dsn")
    if home is not None and not _long_lived(cfg, home):
        raise UsageError(f"{flag} {name}: datasets live on the long-lived embedded server (PostgreSQL "
                         f"{cfg.pg_version}), which is not running: start it with `wardbench db start"
                         f"{' --pg-version 16' if cfg.pg_version == 16 else ''}` first, or use --dsn")


def _server_home(cfg: RunConfig) -> Path | None:
    """The embedded server's home, checked writable; None on the other backends."""
    if cfg.backend != "embedded":
        return None
    home, name = embedded_home()
    check_output_dir(home, f"{name} {home}")
    return home


def check_datasets(cfg: RunConfig, flag: str, names: Iterable[str]) -> None:
    """Each named dataset can be read by this run (a server that outlives it), as make_config checks one."""
    home = _server_home(cfg)
    for name in names:
        _check_dataset(cfg, flag, name, home)


def make_config(*, outputs: Iterable[tuple[str, Path | None]] = (), writes_reports: bool = True,
                **options: Any) -> RunConfig:
    """Build the RunConfig from command options (flags left at False count as not given) and check, before
    any server starts, that every place the run will write to can be written: `outputs` are (flag, file)
    pairs, the reports directory unless `writes_reports` is False, the embedded server's home.
    `dataset` (--dataset) and `keep_dataset` (generate --keep-dataset) need a server that outlives the run."""
    dataset, keep_dataset = options.pop("dataset", None), options.pop("keep_dataset", None)
    cfg = build_config(**{k: (None if v is False else v) for k, v in options.items()})
    for flag, path in outputs:
        if path is not None:
            check_output_file(path, f"{flag} {path}")
    if writes_reports:
        source = "--reports-dir" if options.get("reports_dir") is not None else \
            "WARDBENCH_REPORTS" if os.environ.get("WARDBENCH_REPORTS") else "reports directory"
        check_output_dir(cfg.reports_dir, f"{source} {cfg.reports_dir}")
    home = _server_home(cfg)
    if cfg.keep_database and not cfg.in_place and home is not None:
        _check_keep(cfg, home)
    for flag, given in (("--dataset", dataset), ("--keep-dataset", keep_dataset)):
        if given is not None:
            _check_dataset(cfg, flag, given, home)
    cfg = cfg.with_(dataset=dataset)
    if "scale_factor" in options:  # the commands that take --scale-factor generate the dataset
        from harness.footprint import check_fits

        check_fits(cfg.profile_data, cfg.scale_factor, home, f"--scale-factor {cfg.scale_factor:g}")
    return cfg


MAX_USERS = 10_000  # every simulated user holds a database connection; far past what any runner here drives
HARNESS_SESSIONS = 10  # the harness's own sessions beside the users (sampler, fidelity peer, superuser reserve)


def check_users(cfg: RunConfig, counts: Iterable[int], flag: str) -> None:
    """Concurrency the server can take: on the embedded server its max_connections, elsewhere MAX_USERS."""
    limit = MAX_USERS
    if cfg.backend == "embedded" and cfg.server_settings.get("max_connections", "").isdigit():
        limit = min(limit, int(cfg.server_settings["max_connections"]) - HARNESS_SESSIONS)
    for count in counts:
        if count > limit:
            raise UsageError(f"{flag} {count}: at most {limit} users here (each holds a connection; the embedded "
                             "server's max_connections minus the harness's own sessions, or "
                             f"{MAX_USERS} on any server): lower it, or raise max_connections with "
                             "`wardbench db start --set max_connections=N` and --dsn")


def check_scenario_dirs(dirs: Iterable[Path] | None) -> None:
    """`--scenarios` names directories of scenario files; a file is refused with what to give instead."""
    for directory in dirs or []:
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"--scenarios {directory} is a file: give the directory that holds your scenario "
                             "TOML files (every *.toml in it is read)")
