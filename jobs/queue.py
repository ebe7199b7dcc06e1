"""The job queue on arq: the JobQueue port for the relay and the API."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from domain.ports import Job

# arq's enqueue_job for many jobs at once, in one round trip instead of three per job
# (WATCH, EXISTS, MULTI/EXEC): the relay enqueues a job per event, and that was a
# twentieth of the API's CPU per order (bench/place_order.py). A job whose id is queued
# or has a result already is skipped, as arq does (or only one queued: a sweep's). KEYS:
# job key and result key per job; ARGV: the queue, whether results count, then id,
# score, expiry (ms) and payload per job.
_ENQUEUE_MANY = """
local queue = ARGV[1]
local results_count = ARGV[2] == '1'
local added = 0
for i = 1, #KEYS / 2 do
  local job_key, result_key = KEYS[2 * i - 1], KEYS[2 * i]
  local found = redis.call('EXISTS', job_key)
  if results_count then found = found + redis.call('EXISTS', result_key) end
  if found == 0 then
    local at = 3 + (i - 1) * 4
    redis.call('PSETEX', job_key, ARGV[at + 2], ARGV[at + 3])
    redis.call('ZADD', queue, ARGV[at + 1], ARGV[at])
    added = added + 1
  end
end
return added
"""


class ArqQueue:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._enqueue_many = redis.register_script(_ENQUEUE_MANY)

    async def enqueue(self, job: Job) -> None:
        await self.redis.enqueue_job(job.function, *job.args, _job_id=job.job_id)

    async def enqueue_many(self, jobs: Sequence[Job], *, ignore_results: bool = False) -> int:
        """Enqueue every job not already queued (running, deferred) or done; returns how
        many were added. `ignore_results`: a job done (its result kept) is enqueued
        again: the sweeps', whose rows say whether there is anything left to do."""
        if not jobs:
            return 0
        now = timestamp_ms()
        keys: list[str] = []
        args: list[str | int | bytes] = [
            self.redis.default_queue_name,
            "0" if ignore_results else "1",
        ]
        for job in jobs:
            job_id = job.job_id or uuid4().hex
            keys += [job_key_prefix + job_id, result_key_prefix + job_id]
            payload = serialize_job(
                job.function, job.args, {}, None, now, serializer=self.redis.job_serializer
            )
            args += [job_id, now, self.redis.expires_extra_ms, payload]
        return int(await self._enqueue_many(keys=keys, args=args))
