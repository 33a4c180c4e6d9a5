"""results.json has one writer and one reader: what is written reads back equal, and the schema is theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from results_fixture import full_results

from harness.errors import UsageError
from harness.results import SCHEMA_VERSION, Results, Verdict
from harness.results.codec import SCHEMA_PATH, schema_text

V1_RESULTS = Path(__file__).resolve().parents[2] / "fixtures" / "results" / "v1_gate_ci.json"


def test_round_trip_write_read_equal(tmp_path: Path) -> None:
    results = full_results()
    back = Results.read(results.write(tmp_path / "results.json"))
    assert back == results
    assert back.verdict == results.verdict == Verdict.PASS
    assert all(isinstance(g.verdict, Verdict) for g in back.gates)


def test_failing_run_round_trips_with_its_verdict_and_margins(tmp_path: Path) -> None:
    results = full_results(tight_ward_target=True)
    data = json.loads(results.write(tmp_path / "r.json").read_text())
    assert data["verdict"] == "fail"
    assert [g["margin"] for g in data["gates"]] == [g.margin for g in results.gates]
    assert Results.read(tmp_path / "r.json") == results


def test_published_schema_is_generated_from_the_types() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "run `python -m harness.results` and commit the schema"


def test_results_written_before_schema_2_are_refused_with_exit_2(tmp_path: Path) -> None:
    data = json.loads(V1_RESULTS.read_text())
    assert data["schema_version"] == 1 < SCHEMA_VERSION
    with pytest.raises(UsageError, match="schema_version 1"):
        Results.read(V1_RESULTS)
    out = subprocess.run([str(Path(sys.executable).with_name("wardbench")), "report", str(V1_RESULTS),
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 2, out.stderr
    assert "schema_version 1" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir()), "nothing half-written"


@pytest.mark.parametrize(("path", "value"), [(("gates", 0, "verdict"), "maybe"), (("stages", 0, "duration_s"), -1),
                                             (("gates", 0, "target"), "high")])
def test_reader_names_where_a_file_departs_from_the_types(path: tuple[str | int, ...], value: object) -> None:
    data = full_results().to_dict()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(UsageError, match="/".join(str(p) for p in path)):
        Results.from_dict(data)
