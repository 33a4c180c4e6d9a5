"""The CPU's last-level cache and the vector graphs a plan walks: where the cost of a page changes regime.

A query's time is roughly the pages it touches times the cost of one. On the release sweep (this machine, 32 MB
last-level cache, everything in shared_buffers) the cost of a page of a graph search stepped up as the graph grew
from about the cache's size to a few times it: the main post graph 0.95-1.0 us per page at 11-34 MB (10^4-3x10^4
posts), 1.9 us at 112 MB, 2.2-2.3 us at 335 MB-1.1 GB; the AI reports' graph 0.97-1.07 us at 14-42 MB, 2.9 us
at ~140 MB (p95 over the median pages per query). So a graph is within the cache (<= its size), spilling out
of it (up to SPILL x), or far beyond it. A power law fitted across two of these regimes, or extrapolated into
another, carries a step where none continues. A B-tree lookup with its heap row (random ids over one table in
shared_buffers) cost 0.9-1.4 us per page from 4 MB to 3.3 GB: no step, so only graphs are judged by it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg

from harness.db import Database

CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")
LOOPBACK = {"127.0.0.1", "::1"}
SPILL = 4  # a graph up to SPILL x the cache is still spilling out of it (the step was done by ~3.5 x)
REGIMES = ("within the CPU's last-level cache", "spilling out of it", "far beyond it")


def regime(graph_bytes: int | float, cache_bytes: int) -> int:
    """0: the graph fits the cache, 1: it spills out of it, 2: it is far beyond it (an index into REGIMES)."""
    return 0 if graph_bytes <= cache_bytes else 1 if graph_bytes <= SPILL * cache_bytes else 2


def last_level_cache_bytes(caches: Path = CPU_CACHES) -> int | None:
    """Size of this machine's largest data (or unified) CPU cache level, from sysfs; None when not readable."""
    best: tuple[int, int] | None = None
    for entry in sorted(caches.glob("index*")):
        try:
            level = int((entry / "level").read_text())
            kind = (entry / "type").read_text().strip()
            size = _bytes((entry / "size").read_text().strip())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and (best is None or level > best[0]):
            best = (level, size)
    if best is not None:
        return best[1]
    size = os.sysconf("SC_LEVEL3_CACHE_SIZE") if "SC_LEVEL3_CACHE_SIZE" in os.sysconf_names else 0
    return size or None


def _bytes(text: str) -> int:
    """sysfs cache sizes: '32768K', '2M', or plain bytes."""
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    return int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)


def server_cache_bytes(db: Database) -> int | None:
    """The last-level cache of the machine the server runs on, known only when that is this one (a Unix socket
    or a loopback address): a remote server's CPU cannot be read from here."""
    with db.connect() as conn:
        row = conn.execute("SELECT host(inet_server_addr())").fetchone()
    address = row[0] if row else None
    return last_level_cache_bytes() if address is None or address in LOOPBACK else None


def graph_bytes(conn: psycopg.Connection[Any], plan: str | None) -> int | None:
    """Bytes of the vector indexes (HNSW, IVFFlat) a plan shape names ('ix_a + ix_b', as
    harness.bench.plans.shape writes it); None when it names none. A graph search hops between pages all over
    its index, so the whole graph is its working set; a B-tree descent touches a few pages whatever its size."""
    names = [n.strip() for n in (plan or "").split("+") if n.strip()]
    if not names:
        return None
    row = conn.execute("SELECT count(*), sum(pg_relation_size(c.oid)) FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
                       "WHERE c.relkind = 'i' AND a.amname IN ('hnsw', 'ivfflat') AND c.relname = ANY(%s)",
                       (names,)).fetchone()
    return int(row[1]) if row and row[0] else None
