"""The published JSON Schema of results.json (harness/results.schema.json) and validation against it."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from harness.errors import UsageError


@cache
def results_schema() -> dict[str, Any]:
    """The packaged schema, parsed once."""
    return dict(json.loads(files("harness").joinpath("results.schema.json").read_text()))


def validate_results(data: Any, source: str = "results") -> None:
    """Raise a one-line UsageError naming the first place `data` departs from the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(results_schema(), format_checker=jsonschema.FormatChecker())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UsageError(f"{source} does not match results.schema.json at {where}: {error.message[:200]}")
