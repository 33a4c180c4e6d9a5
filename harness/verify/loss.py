"""Which direction lost the data: the round trip's differences attributed to the upgrade or the downgrade.

The round trip (seed at r-1, upgrade, downgrade) says *that* rows came back different; the checksums and
catalog taken after the upgrade say *who* lost them: "upgrade 003 drops table apikey (24 rows)", "upgrade 008
drops column package.revision_id (12 values)", "downgrade 012 loses the values of the new column x (12 rows)".
When the upgrade moved values into new tables or columns and the downgrade dropped those without copying the
values back, the downgrade is the one that lost them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.results.migrations import Direction, Finding, FindingKind, VerifyDifference
from harness.verify import schema
from harness.verify.checksums import TableChecksum


@dataclass
class AfterUpgrade:
    """What the upgrade left: row counts, the catalog, values per column it changed, values in new objects."""

    sums: dict[str, TableChecksum]
    shape: schema.Snapshot
    changed: dict[str, dict[str, int] | None] = field(default_factory=dict)  # table -> column -> rows (None: no key)
    new_values: dict[str, int] = field(default_factory=dict)  # "table" or "table.column" -> non-null values


def _finding(direction: Direction, obj: str, detail: str) -> Finding:
    return Finding(FindingKind.LOSSY, direction, obj, detail, "error")


def findings(revision: str, differences: list[VerifyDifference], before: dict[str, TableChecksum],
             up: AfterUpgrade, shape_after_down: schema.Snapshot) -> list[Finding]:
    """One lossy finding per cause, each with its direction (upgrade, downgrade, or round_trip when unknown)."""
    moved = {name: n for name, n in up.new_values.items() if n and not _present(shape_after_down, name)}
    moved_text = ", ".join(f"the new {'column' if '.' in name else 'table'} {name} ({n} rows)"
                           for name, n in sorted(moved.items()))
    out: list[Finding] = []
    for d in differences:
        table, text = d.table, describe(d)
        if table not in up.sums and before.get(table) and before[table].rows:
            if moved:
                out.append(_finding("downgrade", ",".join(sorted(moved)), f"downgrade {revision} loses the values "
                                    f"of {moved_text}: {table} comes back without them ({text})"))
            else:
                out.append(_finding("upgrade", table, f"upgrade {revision} drops table {table} "
                                    f"({before[table].rows} rows)"))
            continue
        out += _table_findings(revision, d, before, up, moved, moved_text)
    return _merge(out)


def _table_findings(revision: str, d: VerifyDifference, before: dict[str, TableChecksum], up: AfterUpgrade,
                    moved: dict[str, int], moved_text: str) -> list[Finding]:
    table, out = d.table, []
    kept = schema.columns(up.shape, table)
    upgrade_changed = up.changed.get(table)
    for column, rows in sorted((d.columns or {}).items()):
        name = f"{table}.{column}"
        if column not in kept and moved:
            out.append(_finding("downgrade", ",".join(sorted(moved)), f"downgrade {revision} loses the values of "
                                f"{moved_text}: {name} comes back different in {rows} rows"))
        elif column not in kept:
            out.append(_finding("upgrade", name, f"upgrade {revision} drops column {name} ({rows} values)"))
        elif upgrade_changed and upgrade_changed.get(column):
            out.append(_finding("upgrade", name, f"upgrade {revision} changes the values of {name} "
                                f"({upgrade_changed[column]} rows){_example(d, column)}; the downgrade does not "
                                "restore them"))
        elif upgrade_changed is not None:
            out.append(_finding("downgrade", name, f"downgrade {revision} changes the values of {name} "
                                f"({rows} rows){_example(d, column)}"))
        else:
            out.append(_finding("round_trip", name, f"{name}: {rows} rows differ after upgrade and downgrade"))
    rows_before, rows_up = before[table].rows if table in before else 0, up.sums[table].rows if table in up.sums else 0
    if d.missing:
        direction: Direction = "upgrade" if rows_up < rows_before else "downgrade"
        out.append(_finding(direction, table, f"{direction} {revision} deletes {d.missing} rows of {table}"))
    if d.added:
        out.append(_finding("downgrade", table, f"downgrade {revision} leaves {d.added} rows in {table} "
                            "that were not there before"))
    if not out:  # no key to tell columns apart: the whole table's difference, direction unknown
        out.append(_finding("round_trip", table, describe(d)))
    return out


def _merge(found: list[Finding]) -> list[Finding]:
    """The same cause found through several tables or columns is one finding."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in found:
        seen.setdefault((f.direction, f.object), f)
    return list(seen.values())


def _present(shape: schema.Snapshot, name: str) -> bool:
    if "." in name:
        table, column = name.split(".", 1)
        return column in schema.columns(shape, table)
    return name in schema.tables(shape)


def _example(d: VerifyDifference, column: str) -> str:
    sample = next((s for s in d.samples if s.old and column in s.old), None)
    if sample is None or sample.old is None:
        return ""
    return f", e.g. key {sample.key}: {sample.old[column]} -> {(sample.new or {}).get(column)}"


def describe(d: VerifyDifference) -> str:
    """'accounts: 6 rows differ (6 changed)' or the reason a whole table differs."""
    if d.reason:
        return f"{d.table}: {d.reason}"
    parts = [f"{n} {k}" for k, n in (("changed", d.changed), ("missing", d.missing), ("added", d.added)) if n]
    text = f"{d.table}: {d.rows_differing} rows differ ({', '.join(parts) or 'same values as jsonb'})"
    if d.samples:
        s = d.samples[0]
        text += f", e.g. key {s.key}: {s.old} -> {s.new}"
    return text
