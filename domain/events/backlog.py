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


async def deliveries_owed(conn: Any) -> dict[str, dict[str, float]]:
    """Webhook deliveries and emails still to make: how many are due now, the age of
    the oldest due one, and how many were given up in the last 24 hours."""
    found: dict[str, dict[str, float]] = {}
    for kind, table, given_up in (
        ("webhooks", "webhook_deliveries", "DEAD"),
        ("emails", "notifications", "FAILED"),
    ):
        row = await conn.fetchrow(
            f"""
            SELECT
              (SELECT count(*) FROM {table}
               WHERE status = 'PENDING' AND next_attempt_at <= clock_timestamp()) AS due,
              (SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(next_attempt_at)), 0)
               FROM {table}
               WHERE status = 'PENDING' AND next_attempt_at <= clock_timestamp()) AS oldest,
              (SELECT count(*) FROM {table}
               WHERE status = $1 AND created_at > clock_timestamp() - interval '1 day') AS lost
            """,
            given_up,
        )
        found[kind] = {
            "due": int(row["due"]),
            "oldest_due_seconds": max(0.0, float(row["oldest"])),
            "given_up_last_day": int(row["lost"]),
        }
    return found
