"""Renderers on a full synthetic Results: html (also in headless Chromium), markdown, junit, 'not run' sections."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from results_fixture import full_results

from harness.gates import evaluate
from harness.report import write_reports
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.results import Results, StageRecord


def test_html_is_self_contained_with_every_section() -> None:
    html = render_html(full_results())
    assert "PASSED" in html and "<svg" in html
    for marker in ("Scenario latency", "Recall against latency", "Under load", "all readers", "in flight mean",
                   "Migrations", "Capacity", "reads under load", "p95 1.2 -&gt; 200 ms; 4 blocked",
                   "Dataset", "Environment", "AccessExclusiveLock", "18.4", "0.8.5",
                   "Harness overhead per query (p50 over 360 queries): 0.135 ms", "server log"):
        assert marker in html, marker
    assert html.count("<svg") >= 5  # latency, recall, load, migrations, capacity
    # No network: nothing fetched from elsewhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)|@import""", html)
    assert "<script" not in html and "<link" not in html and "<img" not in html


def test_missing_sections_say_not_run() -> None:
    bare = Results(run_id="bare", command="gate", gates=[evaluate("schema at head", "schema", 1.0, 1.0, "", "==")],
                   migrations={"steps": "garbage"}, load={"timeline": [None, 3]}, scenarios=[7, "x"])  # type: ignore[list-item]
    html = render_html(bare)
    for text in ("Load test: not run", "Migration verification: not run", "Capacity sweep: not run",
                 "Vector recall: not run", "Data generation: not run"):
        assert text in html, text
    assert "not run" in render_markdown(bare)


def test_failed_gate_is_red_everywhere() -> None:
    results = full_results(tight_ward_target=True)
    assert results.verdict == "fail" and results.exit_code == 1
    html = render_html(results)
    assert "FAILED" in html and 'class="row-fail"' in html
    md = render_markdown(results)
    assert md.startswith("## ❌") and "❌ | ward_dashboard p95" in md
    assert "0.135 ms against a server-side p50 of 0.417 ms (server time from server log" in md


def test_skipped_stage_makes_the_banner_partial() -> None:
    results = full_results()
    results.selection["not_run"] = ["load"]
    results.stages.append(StageRecord("load", "skipped", 0.0))
    assert "PASSED (PARTIAL RUN)" in render_html(results)
    assert "stages not run: load" in render_markdown(results)
    root = ET.fromstring(render_junit(results))
    assert root.find(".//testcase[@name='stage load']/skipped") is not None


def test_junit_parses_with_one_testcase_per_gate() -> None:
    results = full_results(tight_ward_target=True)
    root = ET.fromstring(render_junit(results))
    cases = root.findall(".//testcase")
    assert len(cases) == len(results.gates)
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == sum(g.verdict == "fail" for g in results.gates) > 0
    assert "target <" in failed[0].find("failure").get("message")  # type: ignore[union-attr]
    suite = root.find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) == len(failed)


def test_junit_parses_with_junitparser(tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser", reason="junitparser not installed")
    paths = write_reports(full_results(tight_ward_target=True), tmp_path)
    xml = junitparser.JUnitXml.fromfile(str(paths["junit.xml"]))
    cases = [case for suite in xml for case in suite]
    assert cases and any(not case.is_passed for case in cases)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _screenshot(html_path: Path, png: Path, width: int = 1200, height: int = 2400) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--screenshot={png}", f"--window-size={width},{height}", html_path.as_uri()],
                       check=True, capture_output=True, timeout=120, env={**os.environ, "HOME": profile})


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/run.sh installs Debian's chromium)")
@pytest.mark.parametrize(("tight", "banner_rgb"), [(False, (0x1a, 0x7f, 0x37)), (True, (0xcf, 0x22, 0x2e))])
def test_report_renders_in_headless_chromium(tmp_path: Path, tight: bool, banner_rgb: tuple[int, int, int]) -> None:
    import matplotlib.image

    paths = write_reports(full_results(tight_ward_target=tight), tmp_path)
    png = tmp_path / "report.png"
    _screenshot(paths["report.html"], png)
    image = (matplotlib.image.imread(png)[:, :, :3] * 255).round().astype(int)
    top = image[10:60, 20:400]
    assert (np.abs(top - np.array(banner_rgb)).sum(axis=2) < 12).mean() > 0.8, "verdict banner colour missing"
    # Plots rendered: below the banner, horizontal bands with many distinct colours (not blank or text only).
    rows_with_ink = (image.std(axis=1).sum(axis=1) > 40)
    assert rows_with_ink[200:].mean() > 0.3
    # The latency plot's boxes use the pass/fail colour with transparency: find plot-coloured pixels.
    green = (np.abs(image - np.array([0x1a, 0x7f, 0x37])).sum(axis=2) < 30)[100:]
    assert green.sum() > 500, "no plot marks in the pass colour below the banner"


def test_fixture_validates_and_schema_describes_every_results_field() -> None:
    from dataclasses import fields

    from harness.report.schema import results_schema, validate_results

    validate_results(full_results().to_dict())
    described = set(results_schema()["properties"])
    missing = {f.name for f in fields(Results)} - described
    assert not missing, f"add {sorted(missing)} to harness/results.schema.json (properties)"


@pytest.mark.parametrize(("path", "value"), [(("gates", 0, "verdict"), "maybe"), (("schema_version",), 1),
                                             (("stages", 0, "duration_s"), -1)])
def test_schema_rejects_malformed_results(path: tuple[str | int, ...], value: object) -> None:
    from harness.errors import UsageError
    from harness.report.schema import validate_results

    data = full_results().to_dict()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(UsageError, match="does not match results.schema.json"):
        validate_results(data)


def _rehearsal_step(direction: str, series: dict | None) -> dict:
    live = {"ran": True, "before": {"p95_ms": 2.0}, "during": {"p95_ms": 900.0, "count": 300, "errors": 0},
            "kinds": {"read": {"during": {"p95_ms": 900.0}}}, "longest_wait": None}
    if series is not None:
        live["series"] = series
    return {"revision": "002", "from": "001" if direction == "upgrade" else "002",
            "to": "002" if direction == "upgrade" else "001", "direction": direction, "duration_s": 1.3,
            "verdict": "pass", "locks": {}, "live": live, "loss": {"lossless": True},
            "statements": [{"statement": "ALTER TABLE posts ADD COLUMN flag boolean", "start_s": 0.01,
                            "duration_s": 0.002, "rows": None},
                           {"statement": "UPDATE posts SET flag = true", "start_s": 0.05, "duration_s": 1.2,
                            "rows": 100000}]}


def test_html_draws_a_timeline_per_rehearsed_step_with_a_series() -> None:
    """Live p95 per kind over time with the statements as bands; a step recorded without a series (an older
    results.json) keeps its table row and gets no figure."""
    spike = [2.0] * 50 + [900.0] * 12 + [3.0] * 10
    series = {"start_s": -5.0, "bucket_s": 0.1, "stat": "p95_ms",
              "kinds": {"read": spike, "insert": [None if i % 7 == 0 else 4.0 for i in range(len(spike))]}}
    results = full_results()
    results.rehearsal = {"options": {"rows": 100000, "rate_per_s": 200}, "round_trips": [],
                         "steps": [_rehearsal_step("upgrade", series), _rehearsal_step("downgrade", None)]}
    html = render_html(results)
    section = html[html.index('<section id="rehearsal">'):]
    section = section[:section.index("</section>")]
    assert section.count('class="figure rehearsal-timeline"') == 1
    figure = section[section.index("rehearsal-timeline"):]
    assert "Live latency during upgrade 001 → 002" in figure and "<svg" in figure
    for text in ("read p95", "insert p95", "UPDATE posts SET flag = true", "seconds from the step"):
        assert text in figure, text
    assert "downgrade 002 → 001" in section  # its table row


def test_html_without_rehearsal_has_no_timeline() -> None:
    assert "rehearsal-timeline" not in render_html(full_results())


def test_html_names_the_plan_each_scenario_ran_with() -> None:
    """The plan shape most explained queries of a scenario used is a column of the scenario table."""
    results = full_results()
    results.scenarios[-1]["plan_shapes"] = {"ix_posts_ward_id_id + pk_post_embeddings": 28,
                                            "ix_post_embeddings_embedding_hnsw + pk_posts": 2}
    html = render_html(results)
    assert "<th>plan</th>" in html and "<td>ix_posts_ward_id_id + pk_post_embeddings</td>" in html
    assert "<td>ix_post_embeddings_embedding_hnsw + pk_posts</td>" not in html
