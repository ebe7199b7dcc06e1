"""The relay: from committed order events to everything that follows them.

It stamps committed events with their stream positions (see domain/events/stream.py),
lets each consumer turn them into durable rows in the same transaction (webhook
deliveries, notifications, ...), and after commit hands the resulting jobs to arq.
If enqueueing fails (Redis down), nothing is lost: the rows are in PostgreSQL and the
consumers' sweeps enqueue them again later.
"""

from __future__ import annotations

import logging
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
    sessionmaker: async_sessionmaker[AsyncSession], queue: JobQueue | None, *, limit: int = 1000
) -> list[StreamEvent]:
    """Stamp and fan out one batch of committed events; returns the batch."""
    jobs: list[Job] = []
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        events = await stamp_pending(conn, limit)
        if events:
            for consumer in CONSUMERS:
                jobs.extend(await consumer(conn, events))
    await enqueue_all(queue, jobs)
    return events


async def enqueue_all(queue: JobQueue | None, jobs: Sequence[Job]) -> None:
    if queue is None or not jobs:
        return
    many = getattr(queue, "enqueue_many", None)
    if many is not None:  # one round trip for the batch (see jobs/queue.py)
        try:
            await many(jobs)
        except Exception:  # Redis down: the sweeps will find the rows again
            log.warning(
                "could not enqueue %d jobs; their sweeps will retry", len(jobs), exc_info=True
            )
        return
    for job in jobs:
        try:
            await queue.enqueue(job)
        except Exception:  # Redis down: the sweep will find the rows again
            log.warning("could not enqueue %s; its sweep will retry", job.function, exc_info=True)
            return
