"""Load options from profiles and the CLI, and the Locust command line they become."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import build_config
from harness.db import Database, ServerHandle
from harness.errors import UsageError
from harness.load.runner import LocustRun, locust_command, locust_percentiles, session_env
from harness.load.stage import LoadOptions, main_run


def test_profile_table_gives_the_ci_defaults_and_overrides_win() -> None:
    cfg = build_config(profile="ci")
    options = LoadOptions.from_config(cfg)
    assert options.duration_s == 20.0 and options.users == 20 and options.rate_per_s is None
    options = LoadOptions.from_config(cfg, users=5, rate_per_s=50.0, writers=None)
    assert options.users == 5 and options.rate_per_s == 50.0


@pytest.mark.parametrize("overrides", [{"rate_per_s": 0.0}, {"users": 0}, {"writers": 20}, {"think_time_s": -1.0}])
def test_bad_load_options_are_usage_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        LoadOptions.from_config(build_config(profile="ci"), **overrides)


def test_mixed_run_has_writers_only_when_write_scenarios_exist() -> None:
    options = LoadOptions(users=10)
    assert main_run(options, {"reader", "writer"}, 1).writers == 2
    assert main_run(options, {"reader"}, 1).classes == ("ReaderUser",)
    assert main_run(LoadOptions(users=10, rate_per_s=80.0), {"reader"}, 1).rate_per_s == 80.0


def test_locust_command_keeps_the_dsn_out_of_argv(tmp_path: Path) -> None:
    run = LocustRun(label="mixed", users=4, duration_s=2.5, processes=2, only=("a", "b"))
    cmd = locust_command(run, tmp_path)
    assert cmd[-2:] == ["ReaderUser", "WriterUser"] and cmd[cmd.index("-t") + 1] == "7s"  # + warm-up 1 s + slack 3 s
    assert cmd[cmd.index("--wb-duration") + 1] == "2.5"
    assert cmd[cmd.index("--processes") + 1] == "2"
    assert cmd[cmd.index("--master-bind-port") + 1] == cmd[cmd.index("--master-port") + 1]
    assert cmd[cmd.index("--wb-only") + 1] == "a,b"
    db = Database("postgresql://u:secret@h:5/d", "d", ServerHandle("postgresql://u:secret@h:5/postgres", "dsn",
                                                                    tmp_path), True)
    env = session_env(db, {"hnsw.ef_search": "100"}, "mixed")
    assert not any("secret" in part for part in cmd)
    assert env["WARDBENCH_DSN"] == db.dsn and env["PGOPTIONS"] == "-c hnsw.ef_search=100"
    assert env["PGAPPNAME"] == "wardbench-load/mixed"


def test_a_masters_run_time_leaves_out_its_wait_for_workers(tmp_path: Path) -> None:
    """Locust starts a master's `-t` clock once its workers are ready: the wait for them (given to Locust as
    --expect-workers-max-wait) added to `-t` kept every remote-worker run going two minutes after its window."""
    cmd = locust_command(LocustRun(label="mixed", users=4, duration_s=3, expect_workers=2, master_port=6000),
                         tmp_path)
    assert cmd[cmd.index("-t") + 1] == "7s"  # + warm-up 1 s + slack 3 s, as with local worker processes
    assert cmd[cmd.index("--expect-workers-max-wait") + 1] == "120"


def test_locust_percentiles_are_read_from_its_stats_csv(tmp_path: Path) -> None:
    csv = tmp_path / "locust_stats.csv"
    csv.write_text('Type,Name,Request Count,95%,99%\nward,dash,10,100,110\n,Aggregated,10,100,110\n')
    assert locust_percentiles(csv) == {"dash": 100.0}
    assert locust_percentiles(tmp_path / "missing.csv") == {}


@pytest.mark.parametrize("args", [["--rate", "0"], ["--duration", "soon"], ["--scenarios", "/nonexistent/dir"]])
def test_bad_load_input_exits_2_with_one_line_before_any_server_starts(args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "load", *args,
                           "--reports-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("wardbench: error:")
    assert not any(tmp_path.iterdir())  # nothing half-written
