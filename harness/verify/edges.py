"""The deterministic edge rows every seeded table gets first, whatever `--seed` says.

A verdict must not depend on seed luck: a varchar narrowed to 255 has to meet a value of the old full length
every time, not only when the random words happen to be long. So the first rows of every table are built from
fixed values at the ends of each column's range (the "high" row: full length, full precision, large keys, the
latest timestamps, awkward characters; the "low" row: NULL in every nullable column, empty arrays and JSON, the
earliest timestamps, the most negative numbers). `--seed` varies only the rows after them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from harness.verify.seed import ColumnSpec, Hints

Edge = Literal["high", "low"]
EDGES: tuple[Edge, ...] = ("high", "low")  # row 0 and row 1 of every table
# Quotes, a backslash, a comma and braces (array/JSON syntax), non-ASCII letters, a CJK word and an emoji.
AWKWARD = "O'Brien \"quoted\" back\\slash, {brace} Zürich Łódź 東京 🗳️ naïve Straße "
INT_MAX = {"int2": 2**15 - 1, "int4": 2**31 - 1, "int8": 2**63 - 1}
BIG_KEY = 2**31 + 17  # above what int4 can hold: a bigint key narrowed to integer shows
KEY_GAP = 1000  # serial and identity keys jump by this before the high row: keys have gaps
_FLOAT_MAX = {"float4": 3.0e38, "float8": 1.0e300}
_LATEST = {"timestamp": "9999-12-31 23:59:59.999999", "timestamptz": "9999-12-31 23:59:59.999999+00",
           "date": "9999-12-31", "time": "23:59:59.999999", "timetz": "23:59:59.999999+00"}
_EARLIEST = {"timestamp": "0001-01-01 00:00:00", "timestamptz": "0001-01-01 00:00:00+00", "date": "0001-01-01",
             "time": "00:00:00", "timetz": "00:00:00+00"}


def sequence_start(typname: str, last: int) -> int:
    """Where a serial/identity sequence continues before the high row: a gap, and past 2**31 for bigint."""
    return max(last + KEY_GAP, BIG_KEY) if typname == "int8" else min(last + KEY_GAP, INT_MAX.get(typname, 0) // 2)


def text(col: ColumnSpec, edge: Edge, unique_suffix: str) -> str:
    """varchar(n)/char(n): exactly n characters at the high edge; other text a long awkward string; low: ''."""
    length = col.typmod - 4 if col.typmod > 4 and col.typname in ("varchar", "bpchar") else None
    if edge == "low":
        return unique_suffix
    if length is None:
        return AWKWARD * 3 + unique_suffix
    body = (AWKWARD * (length // len(AWKWARD) + 1))[: max(length - len(unique_suffix), 0)]
    return (body + unique_suffix)[-length:]


def numeric(col: ColumnSpec, hints: Hints, edge: Edge, unique: int | None) -> str:
    """Every digit of numeric(p, s) used, within the CHECK bounds; 8s, so rounding never carries into an extra
    digit (a cast of 99.99 to integer overflows numeric(4,2) on the way back, which is not what this tests)."""
    if col.typmod > 4:
        precision, scale = ((col.typmod - 4) >> 16) & 0xFFFF, (col.typmod - 4) & 0xFFFF
    else:
        precision, scale = 30, 9  # unconstrained: more digits than float8 or bigint keep
    whole = "8" * max(precision - scale, 0) or "0"
    value = f"{whole}.{'8' * scale}" if scale else whole
    if unique is not None:  # keep the precision, vary the last whole digits
        value = str(int(whole) - unique) + (f".{'8' * scale}" if scale else "")
    bound = hints.high if edge == "high" else hints.low
    if bound is not None:
        return _fit(bound, scale, edge)
    return value if edge == "high" else "-" + value


def _fit(bound: float, scale: int, edge: Edge) -> str:
    """The CHECK bound at the column's scale (rounded inwards), one unit inside when that leaves no fraction:
    like every seeded numeric it carries fractional digits, so a lossy cast shows."""
    units = int(bound * 10**scale // 1) if edge == "high" else -int(-bound * 10**scale // 1)
    if scale and units % 10**scale == 0:
        units += -1 if edge == "high" else 1
    sign, digits = ("-" if units < 0 else ""), str(abs(units)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}" if scale else f"{sign}{digits}"


def integer(col: ColumnSpec, hints: Hints, edge: Edge, unique: int | None) -> str:
    """The type's extreme (bigint: just past 2**31), or the CHECK bound; unique columns step with gaps."""
    top = INT_MAX.get(col.typname, INT_MAX["int8"])
    if unique is not None:
        base = BIG_KEY if col.typname == "int8" and edge == "high" else 1
        return str(min(base + unique * KEY_GAP // 10, top))
    if edge == "high":
        value = BIG_KEY if col.typname == "int8" else top
        return str(int(hints.high) if hints.high is not None else value)
    return str(int(hints.low) if hints.low is not None else -top - 1 if col.typname != "int8" else -BIG_KEY)


def floating(col: ColumnSpec, hints: Hints, edge: Edge) -> str:
    top = _FLOAT_MAX.get(col.typname, 1.0e300)
    bound = hints.high if edge == "high" else hints.low
    return repr(bound if bound is not None else top if edge == "high" else -top)


def moment(col: ColumnSpec, edge: Edge, unique: int | None) -> str | None:
    """The latest or earliest value the type takes that clients can still read (years 1 and 9999)."""
    value = (_LATEST if edge == "high" else _EARLIEST).get(col.typname)
    if value is None or unique is None:
        return value
    return None  # unique timestamps: the ordinary generator spaces them


def document(edge: Edge, counter: int) -> str:
    """JSON: empty at the low edge, nested with awkward strings and big numbers at the high edge."""
    if edge == "low":
        return "{}"
    return json.dumps({"n": counter, "big": 2**53 + 1, "text": AWKWARD, "empty": [], "nested": {"none": None}},
                      ensure_ascii=False)
