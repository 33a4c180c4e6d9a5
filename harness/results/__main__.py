"""`python -m harness.results` rewrites harness/results.schema.json from the dataclasses."""

from harness.results.codec import SCHEMA_PATH, schema_text
from harness.results.core import write_text_atomic

write_text_atomic(SCHEMA_PATH, schema_text())
print(f"wrote {SCHEMA_PATH}")
