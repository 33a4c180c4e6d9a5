"""Renderers on a full synthetic Results: html (also in headless Chromium), markdown, junit, 'not run' sections."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from results_fixture import full_results, rehearsal_section, rehearsal_step

from harness.gates import evaluate
from harness.report import write_reports
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.plots import rehearsal_timelines
from harness.results import Results, StageRecord
from harness.results.rehearsal import (
    Hold,
    LockHold,
    LockMode,
    Series,
    ServerStatements,
    Statement,
    StatementSource,
)


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
    bare = Results(run_id="bare", command="gate", gates=[evaluate("schema at head", "schema", 1.0, 1.0, "", "==")])
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
                                             (("stages", 0, "duration_s"), -1),
                                             (("scenarios", 0, "samples_ms"), ["fast"]),
                                             (("scenarios", 0, "samples_ms"), [-1.0]),
                                             (("capacity", "fits", 0, "verdict"), "probably fine")])
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


def test_html_draws_a_timeline_per_rehearsed_step_with_a_series() -> None:
    """Live p95 per kind over time with the statements as bands; a step recorded without a series (an older
    results.json) keeps its table row and gets no figure."""
    spike: list[float | None] = [2.0] * 50 + [900.0] * 12 + [3.0] * 10
    series = Series(-5.0, 0.1, "p95_ms", {"read": spike,
                                          "insert": [None if i % 7 == 0 else 4.0 for i in range(len(spike))]})
    results = full_results()
    results.rehearsal = rehearsal_section([rehearsal_step("002", "upgrade", series=series),
                                           rehearsal_step("002", "downgrade")])
    html = render_html(results)
    section = html[html.index('<section id="rehearsal">'):]
    section = section[:section.index("</section>")]
    assert section.count('class="figure rehearsal-timeline"') == 1
    figure = section[section.index("rehearsal-timeline"):]
    assert "Live latency during upgrade 001 → 002" in figure and "<svg" in figure
    for text in ("read p95", "insert p95", "UPDATE posts SET flag = true", "seconds from the step"):
        assert text in figure, text
    assert "downgrade 002 → 001" in section  # its table row


def test_lock_holds_are_drawn_as_bands_beside_the_statements() -> None:
    """A lane per table and mode with a hold, under the latency plot on the same time axis; a mode seen only at
    commit (no hold recorded) gets no lane."""
    series = Series(-5.0, 0.1, "p95_ms", {"read": [2.0] * 50 + [900.0] * 13})
    locks = {"posts": LockHold("AccessExclusiveLock", 1210.0, {
        "AccessExclusiveLock": LockMode(1200.0, "ALTER TABLE posts ADD COLUMN flag boolean",
                                        [Hold(0.012, 0.3), Hold(0.5, 1.21)]),
        "ShareUpdateExclusiveLock": LockMode(0.0, None, [])})}
    results = full_results()
    results.rehearsal = rehearsal_section([rehearsal_step("002", "upgrade", series=series, locks=locks),
                                           rehearsal_step("002", "downgrade", series=series)])
    up, down = (svg for _, svg in rehearsal_timelines(results.rehearsal))
    assert "posts AccessExclusive" in up and "statements" in up and "posts ShareUpdateExclusive" not in up
    assert "posts AccessExclusive" not in down  # no lock held: the figure has no lock strip
    assert "Live latency during upgrade 001 → 002" in render_html(results)


def test_summary_has_the_rehearsal_timeline_as_a_compact_table() -> None:
    """Per step: live p95 per kind before → during, the longest wait and what it waited behind, the statements
    with the longest; every other figure folded; a pipe inside SQL does not break the table."""
    slow = Statement("UPDATE posts SET body = body || '!'", 0.05, 2.5, 100_000)
    up = replace(rehearsal_step("002", "upgrade", wait_ms=1500.0, statements=[Statement("SELECT 1", 0.0, 0.001, 1),
                                                                               slow]),
                 server_statements=ServerStatements(StatementSource.SERVER_LOG, "the server log (...)", []))
    results = full_results()
    results.rehearsal = rehearsal_section([up, rehearsal_step("002", "downgrade", ran=False)])
    md = render_markdown(results)
    section = md[md.index("### Migration rehearsal"):]
    compact = section[:section.index("<details>")]
    header, _, upgrade, downgrade = [line for line in compact.splitlines() if line.startswith("|")]
    assert header == ("| step | verdict | wall s | live p95 ms before → during | longest live wait | "
                      "statements |")
    assert upgrade.startswith("| upgrade 001 → 002 | pass | 1.3 | read 2 → 900 | 1500 ms on posts (AccessExclusive) "
                              "behind `UPDATE posts SET flag = true` | 2; longest 2.5 s, 100,000 rows: "
                              "`UPDATE posts SET body = body \\|\\| '!'` |"), upgrade
    assert upgrade.count(" | ") == 5  # the SQL's pipes are escaped, so the row keeps its six cells
    assert downgrade.startswith("| downgrade 002 → 001 | pass | 1.3 | not run | not run |")
    assert "locks held (existing tables)" in section[section.index("<details>"):]
    assert "Server-side statement figures (results.json, `server_statements`): server log." in section


def test_html_without_rehearsal_has_no_timeline() -> None:
    assert "rehearsal-timeline" not in render_html(full_results())


def test_the_targets_in_force_are_listed_with_their_meaning() -> None:
    """Every target the run held, its value (and the default it replaced), unit, comparator and description."""
    from harness.targets import REGISTRY

    results = full_results(tight_ward_target=True)
    html, md = render_html(results), render_markdown(results)
    assert "<h3>Targets in force</h3>" in html and "<summary>Targets in force</summary>" in md
    for key in REGISTRY:
        assert f"<td>{key}</td>" in html and f"| {key} |" in md
    assert '<td class="num">0.5 (default 100)</td><td>ms</td><td>&lt; value</td>' in html
    assert "| ward_p95_ms | 0.5 (default 100) | ms | observed < value |" in md
    assert f"| recall_at_10 | 0.95 | recall | observed >= value | {REGISTRY['recall_at_10'].description} |" in md


def test_html_names_the_plan_each_scenario_ran_with() -> None:
    """The plan shape most explained queries of a scenario used is a column of the scenario table."""
    results = full_results()
    results.scenarios[-1] = replace(results.scenarios[-1], plan_shapes={
        "ix_posts_ward_id_id + pk_post_embeddings": 28, "ix_post_embeddings_embedding_hnsw + pk_posts": 2})
    html = render_html(results)
    assert "<th>plan</th>" in html and "<td>ix_posts_ward_id_id + pk_post_embeddings</td>" in html
    assert "<td>ix_post_embeddings_embedding_hnsw + pk_posts</td>" not in html
