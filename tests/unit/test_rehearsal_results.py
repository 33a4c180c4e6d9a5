"""The rehearsal section is typed: it reads back equal, keeps the JSON keys the stage wrote, and the schema
describes every part of it (the live series too)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from results_fixture import rehearsal_section, rehearsal_step

from harness.results import Results
from harness.results.codec import generated_schema
from harness.results.rehearsal import Loss, Series, StepOutcome


def _results() -> Results:
    series = Series(-5.0, 0.1, "p95_ms", {"read": [2.0, None, 900.0]})
    failed = replace(rehearsal_step("003", "upgrade", 0.2), verdict=StepOutcome.UPGRADE_FAILED,
                     error="column exists", failure={"sqlstate": "42701", "table": "posts"},
                     loss=Loss(None, "the upgrade failed (rolled back)"))
    section = rehearsal_section([rehearsal_step("002", "upgrade", series=series, wait_ms=1500.0),
                                 rehearsal_step("002", "downgrade", ran=False), failed])
    return Results(run_id="r", command="migrate rehearse", rehearsal=section)


def test_rehearsal_reads_back_equal_with_the_stage_s_key_names(tmp_path: Path) -> None:
    results = _results()
    path = results.write(tmp_path / "results.json")
    assert Results.read(path) == results
    data = json.loads(path.read_text())["rehearsal"]
    up, down, failed = data["steps"]
    assert data["from"] == "001" and (up["from"], up["to"]) == ("001", "002") and "source" not in up
    assert up["live"]["ran"] is True and up["live"]["series"]["kinds"]["read"] == [2.0, None, 900.0]
    assert up["live"]["longest_wait"]["blocked_by_statement"] == "UPDATE posts SET flag = true"
    assert down["live"] == {"ran": False, "detail": down["live"]["detail"]}
    assert failed["verdict"] == "upgrade_failed" and failed["loss"]["lossless"] is None


def test_schema_describes_the_series_and_the_step_keys() -> None:
    defs = generated_schema()["$defs"]
    series = defs["LiveRun"]["properties"]["series"]
    assert series == {"$ref": "#/$defs/Series", "description": series["description"]}
    assert set(defs["Series"]["required"]) == {"start_s", "bucket_s", "stat", "kinds"}
    assert "from" in defs["Step"]["properties"] and "source" not in defs["Step"]["properties"]
    assert defs["StepOutcome"]["enum"] == ["pass", "fail", "upgrade_failed", "downgrade_failed"]
