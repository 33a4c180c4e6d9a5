"""The capacity sweep: for each data size a fresh database is loaded, each scenario is timed at each
concurrency, and p95 growth is fitted along size (and along concurrency when three or more are given).

One user is timed by the bench stage's pytest-benchmark runner; several concurrencies go through the load
stage's Locust runner for every level (1 included), so points along the concurrency axis share one tool.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from harness import alembic_project
from harness.bench.runner import run_bench
from harness.bench.scenarios import Scenario, default_scenarios_dir
from harness.bench.session import session_settings
from harness.capacity.cache import graph_bytes, server_cache_bytes
from harness.capacity.fit import BACKTEST_BOUND, fit_section
from harness.config import RunConfig
from harness.datagen.loader import load_dataset
from harness.datasets.record import DatasetRecord
from harness.datasets.store import dataset_copy
from harness.db import Database
from harness.db.base import scratch_database
from harness.gates import gate_for
from harness.results import Gate, Results
from harness.results.bench import BenchOptions
from harness.results.capacity import CapacityPoint, CapacitySection, SizeDatabase

STAGE = "capacity"
# Timed rounds per single-user point unless --rounds says otherwise. A fit's backtest must see the growth, not
# the p95's sampling noise: with bench's 200 rounds, sub-millisecond scenarios moved 20-50 % between sizes
# without growing (release sweep 10^4-10^5: quiet ward backtest error 38 %, a ward's AI reports 53 %); with
# 1,000 the same sweep gave 15 % and 28 %, for about 3 minutes instead of 2.
ROUNDS = 1000
METHOD = ("size: least squares of log p95 on log size, intervals from the fit covariance (multivariate t draws, "
          "2.5-97.5 %); users: Universal Scalability Law (non-negative least squares); every fit backtested on "
          "its largest point and not extrapolated past a plan change, a vector graph changing regime against the "
          f"CPU's last-level cache or a backtest error over {BACKTEST_BOUND:.0%}")


def _bench_points(cfg: RunConfig, db: Database, scenarios: list[Scenario], options: BenchOptions,
                  size: SizeDatabase, console: Console) -> list[CapacityPoint]:
    scratch = Results(run_id=cfg.run_id, command="capacity")
    records = run_bench(cfg, db, scratch, scenarios, options, console)
    with db.connect() as conn:
        plans = {r.name: _dominant(r.plan_shapes) for r in records}
        graphs = {name: graph_bytes(conn, plan) for name, plan in plans.items()}
    return [CapacityPoint(scenario=r.name, kind=r.kind, posts=_posts(size), users=1, p95_ms=r.p95_ms,
                          p50_ms=r.p50_ms, count=r.count, errors=r.errors, tool="pytest-benchmark",
                          posts_requested=size.posts, plan=plans[r.name], blocks_p50=r.blocks_p50,
                          graph_bytes=graphs[r.name])
            for r in records]


def _posts(size: SizeDatabase) -> int:
    """Posts actually loaded at this size (the generator rounds), else the size asked for."""
    return int(size.rows.get("posts", size.posts))


def _dominant(shapes: dict[str, int] | None) -> str | None:
    """The plan shape most parameter draws ran under (a minority shape is a parameter effect, not a regime)."""
    return min(shapes, key=lambda s: (-shapes[s], s)) if shapes else None


def _load_points(cfg: RunConfig, db: Database, scenarios: list[Scenario], users: int, duration_s: float,
                 size: SizeDatabase, console: Console) -> list[CapacityPoint]:
    from harness.load.runner import LocustRun, run_locust
    from harness.load.summary import scenario_rows

    own = tuple(sorted({s.source.parent for s in scenarios} - {default_scenarios_dir()}))  # a user's own files
    run = LocustRun(label=f"users_{users}", users=users, duration_s=duration_s, classes=("ReaderUser",),
                    only=tuple(s.name for s in scenarios), scenario_dirs=own, seed=cfg.seed)
    # The profile's session settings (hnsw.ef_search), as the load stage and bench points have them.
    outcome = run_locust(db, run, cfg.run_dir / "load", session_settings(cfg), console)
    kinds = {s.name: s.kind for s in scenarios}
    return [CapacityPoint(scenario=r.name, kind=kinds[r.name], posts=_posts(size), users=users,
                          p95_ms=r.corrected.p95_ms, p50_ms=r.corrected.p50_ms, count=r.count,
                          errors=r.errors, tool="locust (corrected)", posts_requested=size.posts)
            for r in scenario_rows(outcome.merged) if r.name in kinds]


@contextmanager
def _size_database(cfg: RunConfig, db: Database, posts: int, prepared: DatasetRecord | None,
                   console: Console) -> Iterator[tuple[Database, SizeDatabase]]:
    """A fresh database of `posts` posts, dropped after: generated here, or a copy of a prepared dataset."""
    name = f"{db.name}_cap{posts}"[:63]
    started = time.perf_counter()
    if prepared is not None:
        with dataset_copy(db.server, prepared, name) as fresh:
            yield fresh, SizeDatabase(posts=posts, scale_factor=prepared.scale_factor, dataset=prepared.name,
                                      copy_s=round(time.perf_counter() - started, 2), rows=dict(prepared.rows))
        return
    with scratch_database(db.server, name) as fresh:
        alembic_project.upgrade(fresh, "head")
        scale = posts / int(cfg.profile_data["posts"])
        summary = load_dataset(fresh, cfg.profile_data, scale, cfg.seed, console=console,
                               parallel_workers=cfg.maintenance_workers)
        yield fresh, SizeDatabase(posts=posts, scale_factor=scale, load_s=round(time.perf_counter() - started, 2),
                                  rows={t: c.rows for t, c in summary.checksums.items()})


def run_capacity(cfg: RunConfig, db: Database, scenarios: list[Scenario], scales: list[int], users: list[int],
                 duration_s: float = 20.0, options: BenchOptions | None = None,
                 console: Console | None = None, prepared: dict[int, DatasetRecord] | None = None,
                 predict: float | None = None) -> tuple[CapacitySection, list[Gate]]:
    """Measure every (size, concurrency) point, fit p95 growth, predict breaking points; section and gates.
    A size found in `prepared` (posts -> dataset) is copied from that dataset instead of generated."""
    console = console or Console(stderr=True)
    base_posts = int(cfg.profile_data["posts"])
    options = options or BenchOptions.from_config(cfg)
    points: list[CapacityPoint] = []
    loads: list[SizeDatabase] = []
    for posts in scales:
        scale = posts / base_posts
        console.rule(f"[bold]capacity: {posts:,} posts (scale {scale:g} of profile {cfg.profile})")
        with _size_database(cfg, db, posts, (prepared or {}).get(posts), console) as (fresh, made):
            loads.append(made)
            sub = cfg.with_(reports_dir=cfg.run_dir / "capacity", run_id=f"posts_{posts}")
            if users == [1]:
                points += _bench_points(sub, fresh, scenarios, options, made, console)
            else:
                for u in users:
                    points += _load_points(sub, fresh, scenarios, u, duration_s, made, console)
    targets = {s.name: s.target_ms(cfg.targets) for s in scenarios}
    cache = server_cache_bytes(db)
    fits = fit_section(points, "posts", targets, cfg.seed, predict, cache)
    if len(set(users)) >= 3:
        fits += fit_section(points, "users", targets, cfg.seed)
    section = CapacitySection(scales=tuple(scales), users=tuple(users), base_profile=cfg.profile,
                              duration_s=duration_s, tool="pytest-benchmark" if users == [1] else "locust",
                              loads=tuple(loads), points=tuple(points), fits=tuple(fits), method=METHOD,
                              cache_bytes=cache)
    return section, _gates(points, scenarios, cfg.targets)


def _gates(points: list[CapacityPoint], scenarios: list[Scenario], targets: dict[str, float]) -> list[Gate]:
    """Per scenario: its worst measured p95 across the sweep against its target."""
    gates = []
    for s in sorted(scenarios, key=lambda s: s.name):
        values = [p.p95_ms for p in points if p.scenario == s.name and p.p95_ms is not None]
        gates.append(gate_for(s.target_key, f"{s.name} p95 across the sweep", STAGE, max(values, default=None),
                              targets, "no point measured", s.target_p95_ms))
    return gates
