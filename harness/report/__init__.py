"""Renderers of results.json: report.html, summary.md and junit.xml, written side by side; plus compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.results import Results, write_text_atomic

# Renderer registry: file name -> function of Results returning the file's text.
Renderer = Callable[[Results], str]


def renderers() -> dict[str, Renderer]:
    """Imported lazily: matplotlib and Jinja2 load only when a report is written."""
    from harness.report.html import render_html
    from harness.report.junit import render_junit
    from harness.report.markdown import render_markdown

    return {"report.html": render_html, "summary.md": render_markdown, "junit.xml": render_junit}


def write_reports(results: Results, out_dir: Path) -> dict[str, Path]:
    """Render every report of `results` into `out_dir`; all are rendered before any is written."""
    texts = {name: render(results) for name, render in renderers().items()}
    return {name: write_text_atomic(out_dir / name, text) for name, text in texts.items()}
