"""A per-credential budget of query cost per minute, kept in Redis so that every API
process counts against the same budget."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("oms.ratelimit")


class CostBudget:
    def __init__(self, redis: Redis, per_minute: int) -> None:
        self._redis = redis
        self._per_minute = per_minute
        self._skip_until = 0.0

    async def charge(self, actor: str, cost: int) -> bool:
        """True if the caller is within budget. Fails open: a Redis outage must never
        stop orders, so while Redis is unreachable nobody is limited (and we do not
        wait on it for every request: we try again after a few seconds)."""
        now = time.monotonic()
        if now < self._skip_until:
            return True
        key = f"oms:cost:{actor}:{int(time.time() // 60)}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incrby(key, cost)
                pipe.expire(key, 120)
                used, _ = await pipe.execute()
        except (RedisError, OSError):
            log.warning("rate limiter cannot reach Redis; not limiting for 5 s")
            self._skip_until = now + 5
            return True
        return int(used) <= self._per_minute
