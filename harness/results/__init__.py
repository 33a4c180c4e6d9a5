"""The one shape stages and renderers share: `results.json`.

Every section is a dataclass; `dump` and `load` (harness.results.codec) are the only writer and reader,
and harness/results.schema.json is generated from the same types, so code, file and schema cannot drift.
"""

from harness.results.codec import SCHEMA_VERSION, dump, load
from harness.results.core import Comparator, Gate, StageRecord, Verdict, completion_gate_name, write_text_atomic
from harness.results.run import Results

__all__ = ["SCHEMA_VERSION", "Comparator", "Gate", "Results", "StageRecord", "Verdict", "completion_gate_name", "dump",
           "load", "write_text_atomic"]
