"""summary.md: the verdicts in a form that fits a pull-request comment (GitHub-flavoured Markdown)."""

from __future__ import annotations

from harness.rehearse import render as rehearsal
from harness.report import view
from harness.results import Results

_ICON = {"pass": "✅", "fail": "❌", "not_evaluated": "⚠️"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _gate_table(rows: list[dict[str, str]]) -> list[str]:
    return ["| | gate | target | observed | margin | reason |", "|---|---|---|---|---|---|"] + [
        f"| {_ICON[r['verdict']]} | {_cell(r['name'])} | {_cell(r['target'])} | {_cell(r['observed'])} "
        f"| {_cell(r['margin'])} | {_cell(r['reason'])} |" for r in rows]


def _target_table(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return []
    return ["", "<details><summary>Targets in force</summary>", "", "| key | value | unit | passes when | judges |",
            "|---|---|---|---|---|", *(f"| {r['key']} | {_cell(r['value'])} | {r['unit']} | observed {r['comparator']} "
                                      f"value | {_cell(r['description'])} |" for r in rows), "", "</details>"]


def render_markdown(results: Results) -> str:
    """Banner line, gate table (failures first), a compact scenario table and the environment in one line."""
    b = view.banner(results)
    lines = [f"## {_ICON.get(b.verdict, '')} wardbench {results.command}: {b.title}", "", b.detail, ""]
    rows = view.gate_rows(results)
    attention = [r for r in rows if r["verdict"] != "pass"]
    passed = [r for r in rows if r["verdict"] == "pass"]
    if attention:
        lines += _gate_table(attention)
    if passed:  # folded: a PR comment should lead with what needs attention
        lines += ["", f"<details><summary>{len(passed)} gates passed</summary>", "", *_gate_table(passed), "",
                  "</details>"]
    if not rows:
        lines.append("_No gate was evaluated._")
    scenarios = view.scenarios(results)
    lines += ["", "<details><summary>Scenarios</summary>", ""]
    if scenarios:
        lines += ["| scenario | kind | p50 ms | p95 ms | p99 ms | target ms | recall@10 |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {_cell(s.name)} | {s.kind} | {_num(s.p50_ms)} | {_num(s.p95_ms)} "
                  f"| {_num(s.p99_ms)} | {_num(s.target_ms)} | {_num(s.recall)} |" for s in scenarios]
        fidelity = view.bench_fidelity(results.bench)
        lines += ["", fidelity] if fidelity else []
    else:
        lines.append("Benchmarks: not run.")
    lines += ["", "</details>", *_target_table(view.target_rows(results)), *rehearsal.markdown(results.rehearsal), ""]
    env = results.environment or {}
    facts = [f"PostgreSQL {env.get('postgres_version', '?')}", f"pgvector {env.get('pgvector_version', '?')}",
             f"{env.get('cpu_count', '?')} CPU", f"wardbench {env.get('harness_version', '?')}",
             f"commit {str(env.get('git_commit') or '?')[:10]}"]
    lines.append(f"<sub>run `{results.run_id}` · profile {results.profile.get('name', '?')} · "
                 + " · ".join(facts) + " · full report: report.html</sub>")
    return "\n".join(lines) + "\n"
