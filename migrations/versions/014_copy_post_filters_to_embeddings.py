"""Keep each post's ward, publication time and sentiment score on its embedding row: filtered searches read one
table, and the strongly positive and strongly negative bands get HNSW graphs of their own.

Why: at 10^6 posts a search filtered to a busy ward (7,400 posts), a constituency (up to 8,900) or a day (up to
3,800) is answered exactly over the filtered subset, and reaching each embedding through the post's primary
key costs 4-6 us a row (busy ward p95 33-41 ms, a day 67 ms, against the 20 ms bar). With the filter columns on
post_embeddings and a B-tree on each, one bitmap scan reads the subset in heap order at about 1.4 us a row
(busy ward p95 15 ms, same data). Broad windows (7 and 30 days) filter inside the HNSW scan instead of joining
posts for every candidate. A narrow sentiment band (score >= 0.9: 12,800 posts; <= -0.9: 21,600) follows ward
and topic, so HNSW filtered after the fact misses it (recall@10 0.75-0.90) and the exact answer reads too many
rows (p95 70-120 ms): a partial HNSW index per band holds only that band's posts and answers it in milliseconds.

The copies are derived, never written by the application: a BEFORE INSERT OR UPDATE trigger on post_embeddings
sets them from the post and its score; AFTER triggers on posts (ward or time changed) and on sentiment_scores
(scored, re-scored, unscored) pass changes on. So they cannot drift, and a downgrade then upgrade restores
them exactly.

How, without blocking: every DDL statement runs in its own transaction (an autocommit block) and waits at most
LOCK_WAIT for its lock, retrying, so it never holds one table's lock while queued for another's and live queries
never queue behind it for long (a rehearsal under live load measured 1 s waits when the column and the triggers
shared one transaction with a 2 s lock_timeout). The columns are added nullable (catalog only), then the
triggers; then every row is backfilled in committed batches of BATCH ids (the trigger recomputes each copy, so
a row written while the triggers were being created is right too); the indexes are built with CREATE INDEX
CONCURRENTLY. The downgrade drops the indexes CONCURRENTLY, then the triggers, functions and columns, each the
same way. Every statement tolerates a step already done, so an interrupted run is resumed.

Revision ID: 014
Revises: 013
"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "014"
down_revision: str | None = "013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20_000  # post ids per committed backfill batch
BAND_GRAPH = "USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
INDEXES = (("ix_post_embeddings_ward_id", "(ward_id)"),
           ("ix_post_embeddings_published_at", "(published_at)"),
           ("ix_post_embeddings_positive_hnsw", f"{BAND_GRAPH} WHERE sentiment_score >= 0.9"),
           ("ix_post_embeddings_negative_hnsw", f"{BAND_GRAPH} WHERE sentiment_score <= -0.9"))
LOCK_WAIT = "200ms"  # the longest any DDL statement here waits for its lock before it retries
FUNCTIONS = {
    "post_embeddings_from_post": """
        SELECT p.ward_id, p.published_at INTO NEW.ward_id, NEW.published_at FROM posts p WHERE p.id = NEW.post_id;
        NEW.sentiment_score := (SELECT s.score FROM sentiment_scores s WHERE s.post_id = NEW.post_id);
        RETURN NEW;""",
    "posts_to_post_embeddings": """
        UPDATE post_embeddings SET ward_id = NEW.ward_id WHERE post_id = NEW.id;  -- the trigger above copies all
        RETURN NULL;""",
    "sentiment_scores_to_post_embeddings": """
        UPDATE post_embeddings SET sentiment_score = NULL
        WHERE post_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.post_id ELSE NEW.post_id END;
        RETURN NULL;""",
}
TRIGGERS = (
    ("tr_post_embeddings_from_post", "post_embeddings", "BEFORE INSERT OR UPDATE", "post_embeddings_from_post"),
    ("tr_posts_to_post_embeddings", "posts", "AFTER UPDATE OF ward_id, published_at", "posts_to_post_embeddings"),
    ("tr_sentiment_scores_to_post_embeddings", "sentiment_scores", "AFTER INSERT OR DELETE OR UPDATE OF score",
     "sentiment_scores_to_post_embeddings"),
)


def _brief(statement: str, attempts: int = 50) -> None:
    """Run one DDL statement in its own transaction, waiting at most LOCK_WAIT for its lock and retrying:
    live queries queue behind a waiting ALTER, so it never waits long, and never holds one table's lock while
    waiting for another's."""
    for attempt in range(attempts):
        try:
            op.execute(sa.text(statement))
            return
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03" or attempt == attempts - 1:  # lock_not_available
                raise
            time.sleep(0.1 * (attempt + 1))


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(sa.text(f"SET lock_timeout = '{LOCK_WAIT}'"))
        _brief("ALTER TABLE post_embeddings ADD COLUMN IF NOT EXISTS ward_id integer, "
               "ADD COLUMN IF NOT EXISTS published_at timestamptz, ADD COLUMN IF NOT EXISTS sentiment_score real")
        for name, body in FUNCTIONS.items():
            _brief(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$")
        for name, table, when, function in TRIGGERS:
            _brief(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            _brief(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()")
        op.execute(sa.text("RESET lock_timeout"))
        bounds = op.get_bind().execute(sa.text("SELECT min(post_id), max(post_id) FROM post_embeddings")).one()
        if bounds[0] is not None:
            for low in range(bounds[0], bounds[1] + 1, BATCH):
                # Every row, once all triggers exist: the trigger recomputes its copies, so a row written while
                # the triggers were being created is right afterwards too.
                op.execute(sa.text("UPDATE post_embeddings SET post_id = post_id WHERE post_id >= :low "
                                   "AND post_id < :high").bindparams(low=low, high=low + BATCH))
        for name, definition in INDEXES:
            op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))  # an interrupted build is invalid
            op.execute(sa.text(f"CREATE INDEX CONCURRENTLY {name} ON post_embeddings {definition}"))


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, _ in INDEXES:
            op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        op.execute(sa.text(f"SET lock_timeout = '{LOCK_WAIT}'"))
        for name, table, _, _ in TRIGGERS:
            _brief(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in FUNCTIONS:
            _brief(f"DROP FUNCTION IF EXISTS {name}()")
        _brief("ALTER TABLE post_embeddings DROP COLUMN IF EXISTS sentiment_score, "
               "DROP COLUMN IF EXISTS published_at, DROP COLUMN IF EXISTS ward_id")
        op.execute(sa.text("RESET lock_timeout"))
