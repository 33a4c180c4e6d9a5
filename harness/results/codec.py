"""The one writer and the one reader of results.json, and the JSON Schema generated from the same types.

pydantic's TypeAdapter walks the dataclasses both ways, so a field added to a section is written, read
back and described in the schema without a line here. Derived values (the run's verdict, each gate's
margin) are written for readers outside Python and dropped again on reading.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from harness.errors import UsageError
from harness.results.core import Verdict, write_text_atomic
from harness.results.run import Results

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "results.schema.json"


@cache
def _adapter() -> TypeAdapter[Results]:
    return TypeAdapter(Results)


def dump(results: Results) -> dict[str, Any]:
    """results as JSON-ready data; non-finite floats become null, unknown objects their text."""
    data: dict[str, Any] = _adapter().dump_python(results, mode="json", fallback=str)
    for gate, raw in zip(results.gates, data["gates"], strict=True):
        raw["margin"] = gate.margin
    data["verdict"] = str(results.verdict)
    return data


def write(results: Results, path: Path) -> Path:
    return write_text_atomic(path, json.dumps(dump(results), indent=2) + "\n")


def load(data: object, source: str = "results") -> Results:
    """Results from parsed JSON; an older schema_version or a shape that departs from the types is exit 2."""
    if not isinstance(data, dict):
        raise UsageError(f"{source} is not a wardbench results object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UsageError(f"{source} has results schema_version {version!r}, this wardbench reads "
                         f"{SCHEMA_VERSION}: re-run it with this version (or read it with the one that wrote it)")
    body = {k: v for k, v in data.items() if k != "verdict"}
    body["gates"] = [{k: v for k, v in g.items() if k != "margin"} if isinstance(g, dict) else g
                     for g in body.get("gates", [])]
    try:
        return _adapter().validate_python(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(f"{source} is not a wardbench results file: at {where}: {first['msg']}") from None


def read(path: Path) -> Results:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"results file {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"results file {path} is not valid JSON: {exc}") from exc
    return load(data, f"results file {path}")


def generated_schema() -> dict[str, Any]:
    """The JSON Schema of what `dump` writes, derived from the dataclasses (plus the two derived fields)."""
    schema: dict[str, Any] = _adapter().json_schema(mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": "https://wardbench.invalid/results.schema.json",
              "title": "wardbench results.json", **schema}
    schema["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    verdict = {"enum": [v.value for v in Verdict]}
    schema["properties"]["verdict"] = verdict
    schema["required"] = sorted({*schema.get("required", []), "verdict"})
    gate = schema["$defs"]["Gate"]
    gate["properties"]["margin"] = {"anyOf": [{"type": "number"}, {"type": "null"}],
                                    "description": "relative headroom, positive when passing"}
    gate["required"] = sorted({*gate.get("required", []), "margin"})
    return schema


def schema_text() -> str:
    return json.dumps(generated_schema(), indent=2, sort_keys=True) + "\n"

