"""Lock hazard rules and schema differences from catalog snapshots: no database needed."""

from __future__ import annotations

from harness.results.migrations import Lock
from harness.verify import locks, schema

COLUMN = {"type": "integer", "nullability": "null", "default": "", "identity": "", "owned sequence": ""}
BEFORE = {"column events.id": {**COLUMN, "nullability": "not null"}, "column events.kind": dict(COLUMN)}
SHARE = {"events": Lock(mode="ShareLock", held_ms=12.0)}


def _rules(after: dict[str, dict[str, str]], rows: int = 5, observed: dict[str, Lock] | None = None,
           rewritten: dict[str, int] | None = None) -> list[tuple[str | None, str | None]]:
    found = locks.hazards({"events": rows}, BEFORE, after, SHARE if observed is None else observed, rewritten or {})
    return [(f.rule, f.table) for f in found]


def test_index_on_populated_table_but_not_on_an_empty_or_new_one() -> None:
    after = {**BEFORE, "index events.ix_kind": {"definition": "CREATE INDEX ix_kind ON events (kind)",
                                                "validity": "valid"},
             "column tags.id": dict(COLUMN), "index tags.ix_tags": {"definition": "...", "validity": "valid"}}
    assert _rules(after) == [("create-index-not-concurrently", "events")]
    assert _rules(after, rows=0) == []
    concurrent = {"events": Lock(mode="ShareUpdateExclusiveLock", held_ms=3.0)}
    assert _rules(after, observed=concurrent) == []


def test_safe_patterns_read_from_the_statements_are_not_hazards_despite_a_blocking_lock() -> None:
    """The same upgrade added a column (a brief ACCESS EXCLUSIVE) and then, in autocommit, built an index
    CONCURRENTLY and validated a NOT VALID check: the statements say what built them, not the strongest lock."""
    index = {"definition": "CREATE INDEX ix_kind ON events (kind)", "validity": "valid"}
    check = {"definition": "CHECK ((kind > 0))", "validation": "validated"}
    after = {**BEFORE, "index events.ix_kind": index, "constraint events.ck_kind": check}
    exclusive = {"events": Lock(mode="AccessExclusiveLock", held_ms=4.0)}
    statements = [("ALTER TABLE events ADD COLUMN note text", None),
                  ("ALTER TABLE events ADD CONSTRAINT ck_kind CHECK (kind > 0) NOT VALID", None),
                  ("ALTER TABLE events VALIDATE CONSTRAINT ck_kind", None),
                  ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_kind" ON events (kind)', None)]
    assert locks.hazards({"events": 5}, BEFORE, after, exclusive, {}, statements) == []
    # Without the statements (env.py ran them elsewhere), or with a plain build, both are named.
    assert {f.rule for f in locks.hazards({"events": 5}, BEFORE, after, exclusive, {})} == {
        "create-index-not-concurrently", "constraint-without-not-valid"}
    plain = [("CREATE INDEX ix_kind ON events (kind)", None),
             ("ALTER TABLE events ADD CONSTRAINT ck_kind CHECK (kind > 0)", None)]
    assert {f.rule for f in locks.hazards({"events": 5}, BEFORE, after, exclusive, {}, plain)} == {
        "create-index-not-concurrently", "constraint-without-not-valid"}


def test_set_not_null_needs_a_validated_check_first() -> None:
    after = {**BEFORE, "column events.kind": {**COLUMN, "nullability": "not null"}}
    assert _rules(after) == [("set-not-null-scans-table", "events")]
    proved = {"definition": "CHECK ((kind IS NOT NULL))", "validation": "validated"}
    found = locks.hazards({"events": 5}, {**BEFORE, "constraint events.ck": proved},
                          {**after, "constraint events.ck": proved}, SHARE, {})
    assert found == []


def test_constraints_without_not_valid_and_type_changes() -> None:
    fk = {"definition": "FOREIGN KEY (kind) REFERENCES kinds(id)", "validation": "validated"}
    assert _rules({**BEFORE, "constraint events.fk": fk}) == [("constraint-without-not-valid", "events")]
    assert _rules({**BEFORE, "constraint events.fk": {**fk, "validation": "not valid"}}) == []
    retyped = {**BEFORE, "column events.kind": {**COLUMN, "type": "bigint"}}
    assert _rules(retyped, rewritten={"events": 5}) == [("alter-type-rewrites-table", "events")]
    assert locks.narrows("character varying(300)", "character varying(255)")
    assert locks.narrows("numeric(12,2)", "numeric(10,2)") and locks.narrows("bigint", "integer")
    assert not locks.narrows("character varying(255)", "character varying(300)")


def test_long_blocking_lock_without_another_rule() -> None:
    held = {"events": Lock(mode="AccessExclusiveLock", held_ms=612.0)}
    assert _rules(dict(BEFORE), observed=held) == [("long-exclusive-lock", "events")]
    brief = {"events": Lock(mode="AccessExclusiveLock", held_ms=4.0)}
    assert _rules(dict(BEFORE), observed=brief) == []


def test_schema_differences_ignore_re_deparsed_casts_but_not_a_lost_default() -> None:
    check = {"definition": "CHECK ((balance >= (0)::numeric))", "validation": "validated"}
    recast = {"definition": "CHECK (((balance)::numeric >= (0)::numeric))", "validation": "validated"}
    assert schema.differences({"constraint a.ck": check}, {"constraint a.ck": recast}) == []
    before = {"column t.id": {**COLUMN, "default": "nextval('t_id_seq'::regclass)"}}
    (drift,) = schema.differences(before, {"column t.id": dict(COLUMN)})
    assert schema.describe(drift) == "column t.id: default nextval('t_id_seq'::regclass) -> none"
    assert schema.differences({}, {"extension citext": {"state": "installed"}}) == []
