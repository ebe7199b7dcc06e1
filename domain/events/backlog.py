"""How far the relay is behind: committed events not yet stamped (for metrics, health)."""

from __future__ import annotations

from typing import Any

# Counted up to this many: past it the number matters less than the alarm it raises,
# and the count stays a bounded walk of the partial index ix_order_events_unstamped.
COUNT_CAP = 100_000


async def unrelayed(conn: Any) -> tuple[int, float]:
    """(events committed and not yet stamped, age in seconds of the oldest, 0 if none)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS n,
               COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(occurred_at)), 0) AS age
        FROM (SELECT occurred_at FROM order_events WHERE stream_seq IS NULL
              ORDER BY id LIMIT $1) unstamped
        """,
        COUNT_CAP,
    )
    return int(row["n"]), max(0.0, float(row["age"]))
