"""The relay: from committed order events to everything that follows them.

It stamps committed events with their stream positions (see domain/events/stream.py),
lets each consumer turn them into durable rows in the same transaction (webhook
deliveries, notifications, ...), and after commit hands the resulting jobs to arq.
If enqueueing fails (Redis down), nothing is lost: the rows are in PostgreSQL and the
consumers' sweeps enqueue them again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.db import UnitOfWork, driver_connection
from domain.events.stream import StreamEvent, stamp_pending
from domain.notifications.service import fan_out as notification_fan_out
from domain.ports import EventConsumer, Job, JobQueue
from domain.webhooks.service import fan_out as webhook_fan_out

log = logging.getLogger("oms.relay")

CONSUMERS: list[EventConsumer] = []


def register(consumer: EventConsumer) -> EventConsumer:
    if consumer not in CONSUMERS:
        CONSUMERS.append(consumer)
    return consumer


register(notification_fan_out)
register(webhook_fan_out)


async def relay_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue | None,
    *,
    limit: int = 1000,
    patience: float = 0.0,
) -> list[StreamEvent] | None:
    """Stamp and fan out one batch of committed events; returns the batch, or None if
    another process was stamping (its pass covers what had committed when it began).

    The relay never waits on another's lock; with `patience` it looks again every few
    milliseconds, that long at most, for a pass of its own (tests and tools that need
    everything committed so far relayed when it returns)."""
    deadline = time.monotonic() + patience
    while True:
        jobs: list[Job] = []
        async with UnitOfWork(sessionmaker) as uow:
            conn = await driver_connection(uow.session)
            events = await stamp_pending(conn, limit)
            if events:
                for consumer in CONSUMERS:
                    jobs.extend(await consumer(conn, events))
        if events is not None or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.02)
    await enqueue_all(queue, jobs)
    return events


async def enqueue_all(queue: JobQueue | None, jobs: Sequence[Job]) -> None:
    if queue is None or not jobs:
        return
    many = getattr(queue, "enqueue_many", None)
    if many is not None:  # one round trip for the batch (see jobs/queue.py)
        try:
            await many(jobs)
        except Exception as exc:  # Redis down: the sweeps will find the rows again
            # One line, no traceback: during an outage this is every relay's.
            log.warning("could not enqueue %d jobs (%s); their sweeps will", len(jobs), exc)
        return
    for job in jobs:
        try:
            await queue.enqueue(job)
        except Exception as exc:  # Redis down: the sweep will find the rows again
            log.warning("could not enqueue %s (%s); its sweep will", job.function, exc)
            return
