"""A per-credential budget of query cost per minute, kept in Redis so that every API
process counts against the same budget.

A Redis round trip per request cost the hot queries ~5% of their CPU
(bench/availability.py), so each process counts its charges locally and adds them to
Redis in one pipeline every FLUSH_SECONDS. A caller is over budget when the minute's
total last read from Redis plus what this process has charged since exceeds the
budget: exact within a process, and across processes late by at most one flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain import metrics

log = logging.getLogger("oms.ratelimit")

FLUSH_SECONDS = 0.2
KEY_TTL_SECONDS = 120
RETRY_REDIS_AFTER_SECONDS = 5.0


class CostBudget:
    def __init__(
        self,
        redis: Redis,
        per_minute: int,
        *,
        anonymous_per_minute: int = 1_000,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._redis = redis
        self._per_minute = per_minute
        # Callers without a credential, counted per client address.
        self._anonymous_per_minute = anonymous_per_minute
        self._flush_seconds = flush_seconds
        # (actor, minute) -> cost charged here and not yet added to Redis
        self._pending: dict[tuple[str, int], int] = {}
        # (actor, minute) -> the minute's total across processes, as Redis last said
        self._known: dict[tuple[str, int], int] = {}
        # (actor, minute) -> cost on its way to Redis (sent, no answer yet)
        self._in_flight: dict[tuple[str, int], int] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._skip_until = 0.0

    async def charge(self, actor: str, cost: int, *, anonymous: bool = False) -> bool:
        """True if the caller is within budget. Fails open: a Redis outage must never
        stop orders, so while Redis is unreachable only this process's own count for
        the minute limits (and we try Redis again after a few seconds)."""
        limit = self._anonymous_per_minute if anonymous else self._per_minute
        key = (actor, int(time.time() // 60))
        if key not in self._known and time.monotonic() >= self._skip_until:
            # The first charge of a minute goes straight to Redis: it tells this process
            # what the others have spent already.
            total = await self._send({key: cost})
            # None: Redis is away and _send counted the charge here instead.
            used = total if total is not None else self._known.get(key, 0)
            return used <= limit
        pending = self._pending.get(key, 0) + cost
        self._pending[key] = pending
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        used = self._known.get(key, 0) + self._in_flight.get(key, 0) + pending
        return used <= limit

    def retry_after(self) -> int:
        """Seconds until the next minute, when every budget starts again."""
        return max(1, math.ceil(60 - time.time() % 60))

    async def close(self) -> None:
        """Add what is pending to Redis now (on shutdown)."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def _flush_soon(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self.flush()
            if not self._pending:
                return

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        self._in_flight = batch
        try:
            await self._send(batch)
        finally:
            self._in_flight = {}

    async def _send(self, batch: dict[tuple[str, int], int]) -> int | None:
        """Add the batch to Redis; the last key's new total (None if Redis is away)."""
        now = time.monotonic()
        minute = int(time.time() // 60)
        # Totals of minutes that are over are of no use any more.
        self._known = {k: v for k, v in self._known.items() if k[1] >= minute - 1}
        if now < self._skip_until:
            self._keep_locally(batch)
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (actor, at), cost in batch.items():
                    redis_key = f"oms:cost:{actor}:{at}"
                    pipe.incrby(redis_key, cost)
                    pipe.expire(redis_key, KEY_TTL_SECONDS)
                replies = await pipe.execute()
        except (RedisError, OSError):
            metrics.REDIS_ERRORS.labels("rate_limiter").inc()
            log.warning(
                "rate limiter cannot reach Redis; counting locally for %.0f s",
                RETRY_REDIS_AFTER_SECONDS,
            )
            self._skip_until = now + RETRY_REDIS_AFTER_SECONDS
            self._keep_locally(batch)
            return None
        total = 0
        for charged, reply in zip(batch, replies[::2], strict=True):
            # Concurrent sends may answer out of order: totals only grow.
            total = int(reply)
            self._known[charged] = max(self._known.get(charged, 0), total)
        return total

    def _keep_locally(self, batch: dict[tuple[str, int], int]) -> None:
        for key, cost in batch.items():
            self._known[key] = self._known.get(key, 0) + cost
