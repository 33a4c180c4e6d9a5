"""Renderers of results.json: report.html, summary.md and junit.xml, written side by side; plus compare."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.results import Results

# Renderer registry: file name -> function of Results returning the file's text.
Renderer = Callable[[Results], str]


def renderers() -> dict[str, Renderer]:
    """Imported lazily: matplotlib and Jinja2 load only when a report is written."""
    from harness.report.html import render_html
    from harness.report.junit import render_junit
    from harness.report.markdown import render_markdown

    return {"report.html": render_html, "summary.md": render_markdown, "junit.xml": render_junit}


def write_text_atomic(path: Path, text: str) -> Path:
    """Temp file + rename, so a crash never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be read by others (CI artifact servers)
    os.replace(tmp, path)
    return path


def write_reports(results: Results, out_dir: Path) -> dict[str, Path]:
    """Render every report of `results` into `out_dir`; all are rendered before any is written."""
    texts = {name: render(results) for name, render in renderers().items()}
    return {name: write_text_atomic(out_dir / name, text) for name, text in texts.items()}
