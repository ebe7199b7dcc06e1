"""What the delivery jobs share to keep going through faults and load.

- Transient database failures (domain/faults.py: connection lost, shutting down,
  serialization, deadlock, lock or statement timeout) are retried promptly by the job
  itself, with backoff (`retry_transient`), rather than failing and waiting for a sweep.
  A step whose outcome must not be lost (what a receiver answered) is retried in place
  (`persist`): running the job again would find its delivery leased.
- Per-destination concurrency (`Destinations`): one receiver gets at most `limit`
  requests at once from a worker process, and a receiver that is slow does not take the
  worker's job slots from the others: when the queue ahead of a job would keep it more
  than a second (by how long that receiver's requests take lately), it steps aside
  (arq's Retry, after about as long as that queue should take) instead of waiting in a
  slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from arq import Retry

from domain.db import UnitOfWork, discard_if_broken, driver_connection
from domain.faults import backoff_seconds, is_transient

log = logging.getLogger("oms.jobs")

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_CONCURRENCY_PER_DESTINATION = 10
# Retries of a job after a transient failure: from half a second, doubling, at most
# 15 s apart (a PostgreSQL restart takes seconds); arq counts them as tries.
TRANSIENT_BACKOFF = (0.5, 15.0)
# How long `persist` keeps trying a step whose outcome it holds.
PERSIST_SECONDS = 120.0


def retry_transient(
    function: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A job that, on a transient database failure, is tried again after a backoff
    (arq's Retry: the same job, its try count up one)."""

    @functools.wraps(function)
    async def job(*args: P.args, **kwargs: P.kwargs) -> T:
        ctx: dict[str, Any] = args[0]  # type: ignore[assignment]
        try:
            return await function(*args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = backoff_seconds(
                int(ctx.get("job_try") or 1), base=TRANSIENT_BACKOFF[0], cap=TRANSIENT_BACKOFF[1]
            )
            log.warning(
                "%s%s: transient failure (%s: %s); trying again in %.1f s",
                function.__name__,
                args[1:],
                type(exc).__name__,
                str(exc)[:200],
                delay,
            )
            raise Retry(defer=delay) from exc

    return job


async def persist(step: Callable[[], Awaitable[T]], *, within: float = PERSIST_SECONDS) -> T:
    """Run `step` (a whole transaction) until it succeeds, retrying transient failures
    with backoff for at most `within` seconds."""
    deadline = time.monotonic() + within
    attempt = 0
    while True:
        attempt += 1
        try:
            return await step()
        except Exception as exc:
            delay = backoff_seconds(attempt, base=0.2, cap=5.0)
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("transient failure (%s); trying again in %.1f s", exc, delay)
            await asyncio.sleep(delay)


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    active: int = 0  # in flight and waiting
    seconds: float = 0.1  # moving average of how long one takes


class Destinations:
    """Concurrency per destination in one worker process: at most `limit` requests at
    once to one receiver. A job for a receiver whose queue (in flight and waiting) would
    keep it longer than `max_wait` seconds, or that has `max_queue` jobs already, steps
    aside rather than hold a worker slot: a fast receiver's bursts wait their turn in
    place, a slow one's jobs come back later."""

    def __init__(self, limit: int, *, max_wait: float = 1.0, max_queue: int = 50) -> None:
        self.limit = max(1, limit)
        self.max_wait = max_wait
        self.max_queue = max(self.limit, max_queue)
        self._gates: dict[str, _Gate] = {}

    @classmethod
    def from_env(cls) -> Destinations:
        """OMS_DELIVERY_CONCURRENCY: requests at once to one receiver (per worker)."""
        value = os.environ.get("OMS_DELIVERY_CONCURRENCY", "").strip()
        return cls(int(value) if value else DEFAULT_CONCURRENCY_PER_DESTINATION)

    def step_aside(self, destination: str) -> float | None:
        """Seconds a new job for `destination` should wait before trying (its queue is
        long), or None: go ahead."""
        gate = self._gates.get(destination)
        if gate is None or gate.active < self.limit:
            return None
        ahead = gate.active / self.limit * gate.seconds
        if ahead <= self.max_wait and gate.active < self.max_queue:
            return None
        return min(60.0, max(0.5, ahead)) * random.uniform(1.0, 1.5)

    def in_use(self, destination: str) -> int:
        gate = self._gates.get(destination)
        return 0 if gate is None else gate.active

    @contextlib.asynccontextmanager
    async def slot(self, destination: str) -> AsyncIterator[None]:
        gate = self._gates.get(destination)
        if gate is None:
            gate = self._gates[destination] = _Gate(asyncio.Semaphore(self.limit))
        gate.active += 1
        try:
            async with gate.semaphore:
                started = time.monotonic()
                try:
                    yield
                finally:
                    gate.seconds = 0.8 * gate.seconds + 0.2 * (time.monotonic() - started)
        finally:
            gate.active -= 1
            if gate.active == 0 and len(self._gates) > 1000:
                del self._gates[destination]  # forget idle receivers, past a thousand


@contextlib.asynccontextmanager
async def statements(ctx: dict[str, Any]) -> AsyncIterator[Any]:
    """An asyncpg connection outside any transaction, for statements that are atomic on
    their own (a claim, a record of an outcome): one round trip each instead of three
    (BEGIN, the statement, COMMIT). The worker's autocommit sessions (ctx["autocommit"]),
    or a unit of work where there are none."""
    autocommit = ctx.get("autocommit")
    if autocommit is None:
        async with UnitOfWork(ctx["sessionmaker"]) as uow:
            yield await driver_connection(uow.session)
        return
    async with autocommit() as session:
        try:
            yield await driver_connection(session)
        except Exception as exc:
            await discard_if_broken(session, exc)
            raise


def destinations(ctx: dict[str, Any]) -> Destinations:
    """The worker's limits (built at startup), or ones from the environment."""
    found: Destinations | None = ctx.get("destinations")
    if found is None:
        found = ctx["destinations"] = Destinations.from_env()
    return found
