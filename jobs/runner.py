"""Running the worker so that it outlives Redis.

arq's own `run_worker` ends the process on the first Redis error its loop sees (one
out of `finish_job` is enough, when Redis stops while a job runs). Here the process
keeps its database engine and its outbound client for its whole life and runs arq
workers one after another: when one loses Redis, it is retired (its running jobs
finish what they were doing; their bookkeeping in Redis is what is lost) and the next
starts once Redis answers again, after a backoff. Nothing a job was doing is lost with
Redis: the rows in PostgreSQL are the truth, and each new worker runs the sweeps at
once (`run_at_startup`), which enqueue whatever is due and not queued (a Redis that
came back empty has nothing queued).

SIGINT and SIGTERM stop it as arq's would: running jobs are cancelled (arq queues them
again), then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import time
from typing import Any

import uvloop
from arq import Retry
from arq.connections import RedisSettings, create_pool
from arq.worker import Function, Worker, func, get_kwargs
from opentelemetry import trace
from prometheus_client import start_http_server
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain import metrics

log = logging.getLogger("oms.worker")
_tracer = trace.get_tracer("oms.worker")

# What losing Redis looks like from arq's calls (a refused or reset connection, a read
# that times out, arq's own connect giving up).
REDIS_LOST: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)
RECONNECT_BACKOFF = (0.5, 5.0)  # first and longest wait between attempts, seconds
# How often a worker asks Redis who it is: a server restarted between two of the
# worker's calls (its client reconnects by itself) has lost what was queued, and only a
# new `run_id` tells.
IDENTITY_CHECK_SECONDS = 2.0


def lost_redis(error: BaseException) -> bool:
    """Whether `error` is, or was raised while handling, a lost Redis connection: redis'
    pipelines clean up after a reset connection and may fail with another error
    whose context is the lost connection (seen in CI: the worker exited on one)."""
    seen: BaseException | None = error
    for _ in range(10):  # a chain is short; a cycle must not hang us
        if seen is None:
            return False
        if isinstance(seen, REDIS_LOST):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class OmsWorker(Worker):
    """arq's worker, for which a job whose bookkeeping fails because Redis went away
    is not a failure of the worker (arq would end its loop on it): what the job did is
    in its rows, and the sweeps find what it left undone."""

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except Exception as exc:
            if not lost_redis(exc):
                raise
            metrics.REDIS_ERRORS.labels("worker").inc()
            log.warning("lost Redis around job %s: %s", job_id, exc)


def _timed(name: str, coroutine: Any) -> Any:
    """The job function, its run time and failures counted (domain/metrics.py)."""

    @functools.wraps(coroutine)
    async def job(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        with _tracer.start_as_current_span(f"job {name}", record_exception=False) as span:
            try:
                return await coroutine(*args, **kwargs)
            except Retry:
                raise  # asked to run again later: not a failure
            except BaseException as exc:
                metrics.JOB_FAILURES.labels(name).inc()
                span.record_exception(exc)
                raise
            finally:
                metrics.JOB_SECONDS.labels(name).observe(time.perf_counter() - started)

    return job


def _with_metrics(arguments: dict[str, Any]) -> dict[str, Any]:
    """Every function and cron job of the worker, timed."""
    functions = [
        dataclasses.replace(f, coroutine=_timed(f.name, f.coroutine))
        for f in (
            g if isinstance(g, Function) else func(g) for g in arguments.get("functions") or []
        )
    ]
    crons = [
        dataclasses.replace(c, coroutine=_timed(c.name, c.coroutine))
        for c in arguments.get("cron_jobs") or []
    ]
    return {**arguments, "functions": functions, "cron_jobs": crons}


def serve_metrics(address: str | None) -> None:
    """OMS_WORKER_METRICS_ADDRESS (`host:port`, e.g. 127.0.0.1:9464): where the worker
    answers Prometheus' scrapes, on a port of its own (nothing else listens in a
    worker); unset, it does not."""
    if not address:
        return
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1")
    log.info("worker metrics on http://%s:%s/metrics", host or "127.0.0.1", port)


def _fresh(settings: dict[str, Any]) -> dict[str, Any]:
    """Worker arguments whose crons start afresh: a cron remembers its next run on its
    object, and a new worker must run the `run_at_startup` ones (the sweeps) again."""
    crons = settings.get("cron_jobs") or []
    return {**settings, "cron_jobs": [dataclasses.replace(c, next_run=None) for c in crons]}


async def _redis_answers(redis_settings: RedisSettings) -> bool:
    try:
        pool = await create_pool(
            dataclasses.replace(redis_settings, conn_retries=0, conn_timeout=1)
        )
    except Exception:  # refused, timed out, loading: not yet
        return False
    try:
        return bool(await pool.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await pool.aclose()


class Runner:
    """Runs arq workers one after another until `stop` is set."""

    def __init__(self, settings: Any, stop: asyncio.Event) -> None:
        arguments: dict[str, Any] = _with_metrics(dict(get_kwargs(settings)))
        self.startup = arguments.pop("on_startup", None)
        self.shutdown = arguments.pop("on_shutdown", None)
        self.redis_settings: RedisSettings = arguments.get("redis_settings") or RedisSettings()
        self.arguments = arguments
        self.stop = stop
        self.ctx: dict[str, Any] = {}
        self.worker: OmsWorker | None = None
        self.incarnations = 0
        self._retiring: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        if self.startup is not None:
            await self.startup(self.ctx)
        try:
            while not self.stop.is_set():
                if not await self._wait_for_redis():
                    break
                if not await self._run_one():
                    break
        finally:
            for task in self._retiring:
                task.cancel()
            await asyncio.gather(*self._retiring, return_exceptions=True)
            if self.shutdown is not None:
                await self.shutdown(self.ctx)

    async def _wait_for_redis(self) -> bool:
        """False if asked to stop first."""
        delay = RECONNECT_BACKOFF[0]
        while not self.stop.is_set():
            if await _redis_answers(self.redis_settings):
                return True
            log.warning("Redis does not answer; trying again in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.stop.wait()
            delay = min(delay * 2, RECONNECT_BACKOFF[1])
        return False

    async def _run_one(self) -> bool:
        """Run one worker until it loses Redis (True: run another) or we stop."""
        worker = OmsWorker(**_fresh(self.arguments), ctx=self.ctx, handle_signals=False)
        self.worker = worker
        self.incarnations += 1
        main = asyncio.ensure_future(worker.main())
        worker.main_task = main
        stopping = asyncio.ensure_future(self.stop.wait())
        restarted = asyncio.ensure_future(self._watch_identity(worker))
        await asyncio.wait({main, stopping, restarted}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        restarted.cancel()
        if self.stop.is_set():
            await self._close(worker)
            return False
        if not main.done():  # Redis restarted under the worker: start afresh
            log.warning("Redis restarted (what was queued may be gone); starting afresh")
            main.cancel()
            await asyncio.gather(main, return_exceptions=True)
            self._retire_later(worker)
            return True
        error = main.exception()
        if error is None:  # a burst worker that ran out of jobs
            await self._close(worker)
            return False
        if not lost_redis(error):
            await self._close(worker)
            raise error
        metrics.REDIS_ERRORS.labels("worker").inc()
        log.warning("the worker lost Redis (%s: %s); reconnecting", type(error).__name__, error)
        self._retire_later(worker)
        return True

    async def _watch_identity(self, worker: OmsWorker) -> None:
        """Returns when the Redis server the worker talks to is not the one it started
        with (its `run_id` changed); errors are the worker loop's to notice."""
        first: str | None = None
        while True:
            if worker.pool is not None:
                try:
                    run_id = (await worker.pool.info("server")).get("run_id")
                except Exception as exc:  # the worker's own loop notices a lost Redis
                    log.debug("could not ask Redis its run_id: %s", exc)
                else:
                    if first is None:
                        first = run_id
                    elif run_id != first:
                        return
            await asyncio.sleep(IDENTITY_CHECK_SECONDS if first else 0.1)

    def _retire_later(self, worker: OmsWorker) -> None:
        task = asyncio.ensure_future(self._retire(worker))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, worker: OmsWorker) -> None:
        """Let the jobs of a worker that lost Redis finish, then drop its connections."""
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await worker.pool.aclose()

    async def _close(self, worker: OmsWorker) -> None:
        """Stop as arq does (running jobs cancelled, to be run again), whatever Redis says."""
        worker.handle_sig(signal.SIGTERM)
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await worker.pool.delete(worker.health_check_key)
        with contextlib.suppress(Exception):
            await worker.pool.aclose()


def run(settings: Any) -> None:
    """`oms worker`: run until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        serve_metrics(os.environ.get("OMS_WORKER_METRICS_ADDRESS", "").strip() or None)
        await Runner(settings, stop).run()

    # uvloop, as the API: its socket writes cost a fraction of asyncio's, and a worker
    # delivering talks to Redis, PostgreSQL and receivers all the time.
    uvloop.run(main())
