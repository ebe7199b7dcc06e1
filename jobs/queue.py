"""The job queue on arq: the JobQueue port for the relay and the API."""

from __future__ import annotations

from arq.connections import ArqRedis

from domain.ports import Job


class ArqQueue:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis

    async def enqueue(self, job: Job) -> None:
        await self.redis.enqueue_job(job.function, *job.args, _job_id=job.job_id)
