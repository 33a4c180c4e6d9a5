"""Chain structure, CHECK hints, regex samples and the JUnit shape: no database needed."""

from __future__ import annotations

import random
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from results_fixture import migrations_section

from harness.errors import UsageError
from harness.results import Results
from harness.results.migrations import MigrationsSection, RoundTripVerdict, StepVerdict, VerifyRoundTrip, VerifyStep
from harness.verify import junit
from harness.verify.chain import load_chain
from harness.verify.seed import parse_hints, regex_sample

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"


def _suite(section: MigrationsSection) -> ET.Element:
    """The <testsuite> of the JUnit file `migrate verify --junit` writes for `section`."""
    root = ET.fromstring(junit.render_migrations_junit(Results("t", "migrate verify", migrations=section)))
    suite = root.find("testsuite")
    assert suite is not None and root.get("errors") == suite.get("errors")
    return suite


def test_reference_chain_structure_is_clean() -> None:
    chain = load_chain(None)
    assert chain.findings == []
    assert [r.revision for r in chain.revisions][0] == "001"


def test_two_heads_refused() -> None:
    with pytest.raises(UsageError, match="2 heads"):
        load_chain(CHAINS / "two_heads" / "alembic.ini")


def test_missing_downgrade_and_bad_names_are_findings(tmp_path: Path) -> None:
    shutil.copytree(CHAINS / "clean", tmp_path / "c")
    versions = tmp_path / "c" / "versions"
    widen = versions / "002_add_account_currency.py"
    text = widen.read_text()
    widen.write_text(text[: text.index("def downgrade")] + "def downgrade() -> None:\n    pass\n")
    (versions / "003_move_notes_to_own_table.py").rename(versions / "005_Move.py")
    chain = load_chain(tmp_path / "c" / "alembic.ini", check_names=True)
    # an empty downgrade under an upgrade that does something is the step's finding, not the structure's
    assert [r.revision for r in chain.revisions if r.empty_downgrade] == ["002"]
    assert chain.findings == ["005_Move.py: name does not follow NNN_descriptive_purpose.py"]
    assert load_chain(tmp_path / "c" / "alembic.ini").findings == []


def test_empty_downgrade_of_an_empty_upgrade_is_no_finding(tmp_path: Path) -> None:
    shutil.copytree(CHAINS / "clean", tmp_path / "c")
    widen = tmp_path / "c" / "versions" / "002_add_account_currency.py"
    text = widen.read_text()
    widen.write_text(text[: text.index("def upgrade")] + "def upgrade() -> None:\n    pass\n\n\n"
                     "def downgrade() -> None:\n    pass\n")
    chain = load_chain(tmp_path / "c" / "alembic.ini")
    assert chain.findings == [] and not any(r.empty_downgrade for r in chain.revisions)


def test_gap_in_numbering_is_a_finding(tmp_path: Path) -> None:
    shutil.copytree(CHAINS / "clean", tmp_path / "c")
    versions = tmp_path / "c" / "versions"
    (versions / "003_move_notes_to_own_table.py").rename(versions / "004_move_notes_to_own_table.py")
    chain = load_chain(tmp_path / "c" / "alembic.ini", check_names=True)
    assert chain.findings == ["004_move_notes_to_own_table.py: number 004 at position 003 (gap or out of order)"]


def test_check_hints_from_catalog_texts() -> None:
    hints = parse_hints([
        "CHECK (((score >= ('-1'::integer)::double precision) AND (score <= (1)::double precision)))",
        "CHECK ((kind = ANY (ARRAY['general'::text, 'by-election'::text])))",
        "CHECK ((((table_name = 'posts'::text) AND (time_column = 'published_at'::text))))",
        "CHECK ((colour ~ '^#[0-9A-Fa-f]{6}$'::text))",
        "CHECK ((area_km2 > (0)::numeric))",
    ])
    assert (hints["score"].low, hints["score"].high) == (-1.0, 1.0)
    assert hints["kind"].choices == ["general", "by-election"]
    assert hints["table_name"].choices == ["posts"] and hints["time_column"].choices == ["published_at"]
    assert hints["area_km2"].low is not None and hints["area_km2"].low > 0
    assert hints["colour"].regex == "^#[0-9A-Fa-f]{6}$"


def test_regex_samples_match() -> None:
    rng = random.Random(1)
    for pattern in ["^#[0-9A-Fa-f]{6}$", r"^[A-Z]{2}\d{3}$", "^(ab|cd)+x?$"]:
        for _ in range(20):
            sample = regex_sample(pattern, rng)
            assert sample is not None and re.fullmatch(pattern, sample), (pattern, sample)
    assert regex_sample(r"^(?=x)y$", rng) is None  # lookahead: not generated, reported instead


def test_junit_one_case_per_step_with_failures() -> None:
    section = replace(migrations_section(), round_trip=VerifyRoundTrip(RoundTripVerdict.IRREVERSIBLE, "raised"),
                      steps=(VerifyStep("001", "base", StepVerdict.LOSSLESS, name="a", duration_s=0.1),
                             VerifyStep("002", "001", StepVerdict.LOSSY, name="b", detail="x: 3 rows"),
                             VerifyStep("003", "002", StepVerdict.IRREVERSIBLE, name="c")))
    suite = _suite(section)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["chain structure", "base -> 001: a", "001 -> 002: b",
                                              "002 -> 003: c", "head -> base -> head"]
    failures = [c.find("failure") for c in cases]
    assert [f.get("type") if f is not None else None for f in failures] == [None, None, "lossy", "irreversible",
                                                                          "irreversible"]
    assert suite.get("tests") == "5" and suite.get("failures") == "3"


def test_missing_link_is_refused_in_one_line(tmp_path: Path) -> None:
    shutil.copytree(CHAINS / "clean", tmp_path / "c")
    move = tmp_path / "c" / "versions" / "003_move_notes_to_own_table.py"
    move.write_text(move.read_text().replace('down_revision = "002"', 'down_revision = "099"'))
    with pytest.raises(UsageError, match="gap.*099") as raised:
        load_chain(tmp_path / "c" / "alembic.ini")
    assert "\n" not in raised.value.message


def test_revision_without_downgrade_function_is_a_finding(tmp_path: Path) -> None:
    shutil.copytree(CHAINS / "clean", tmp_path / "c")
    widen = tmp_path / "c" / "versions" / "002_add_account_currency.py"
    text = widen.read_text()
    widen.write_text(text[: text.index("def downgrade")])
    assert load_chain(tmp_path / "c" / "alembic.ini").findings == [
        "002 (002_add_account_currency.py): no downgrade() function"]
