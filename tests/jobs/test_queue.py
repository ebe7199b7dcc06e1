"""Enqueueing a batch of jobs in one round trip, as arq itself would enqueue them."""

from __future__ import annotations

from typing import Any

from arq import Worker
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job as ArqJob
from arq.jobs import JobStatus

from domain.ports import Job
from jobs.queue import ArqQueue

RESULTS: list[tuple[str, int]] = []


async def remember(ctx: dict[str, Any], label: str, n: int) -> str:
    RESULTS.append((label, n))
    return f"{label}:{n}"


async def test_a_batch_is_enqueued_once_and_run_by_arq(
    arq_redis: ArqRedis, queue: ArqQueue, servers: dict[str, str]
) -> None:
    RESULTS.clear()
    jobs = [Job("remember", ("a", 1), job_id="j-a"), Job("remember", ("b", 2), job_id="j-b")]
    assert await queue.enqueue_many(jobs) == 2
    # The same ids again (a sweep finding the same rows): nothing new.
    assert await queue.enqueue_many([*jobs, Job("remember", ("c", 3), job_id="j-c")]) == 1
    assert {j.job_id for j in await arq_redis.queued_jobs()} == {"j-a", "j-b", "j-c"}
    info = await ArqJob("j-b", arq_redis).info()
    assert info is not None and info.function == "remember" and info.args == ("b", 2)

    pool = await create_pool(RedisSettings.from_dsn(servers["redis_url"]))
    worker = Worker(
        functions=[remember], redis_pool=pool, burst=True, poll_delay=0, handle_signals=False
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert sorted(RESULTS) == [("a", 1), ("b", 2), ("c", 3)]
    assert await ArqJob("j-a", arq_redis).status() is JobStatus.complete
    # A job that has its result is not enqueued again either (as arq's enqueue_job).
    assert await queue.enqueue_many(jobs) == 0
