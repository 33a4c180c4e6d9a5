"""`wardbench report RESULTS.json`: re-render report.html, summary.md and junit.xml offline from a results file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.cli.options import check_output_dir
from harness.report import write_reports
from harness.report.schema import validate_results
from harness.results import Results


def report(results_json: Annotated[Path, typer.Argument(metavar="RESULTS.json", help="a wardbench results file")],
           out: Annotated[Path | None, typer.Option("--out", help="output folder (default: beside the file)")] = None
           ) -> None:
    """Render html/md/junit from saved results, without a database; exit code follows the results' verdict."""
    if out is not None:
        check_output_dir(out, f"--out {out}")
    results = Results.read(results_json)
    validate_results(results.to_dict(), str(results_json))
    written = write_reports(results, out if out is not None else results_json.parent)
    Console(stderr=True).print("wrote: " + ", ".join(str(p) for p in written.values()))
    raise typer.Exit(results.exit_code)
