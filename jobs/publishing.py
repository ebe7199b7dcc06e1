"""Channel stock publishing in the worker: pushes, feeds, resyncs, inventory alerts.

Nothing here runs in a request: the API only writes stock, and the `stock_levels`
trigger records each change in PostgreSQL (domain/publishing/service.py). The worker
then publishes, woken three ways, each enough on its own:

- `listen_stock_changes`: LISTENs for the trigger's NOTIFY and enqueues `publish_stock`
  under one job id per `COALESCE_SECONDS` window, so a burst of changes gives one run
  per window, not one per change;
- `publish_stock` as a cron every 2 seconds (and at startup): catches up on whatever a
  lost wake-up or a Redis outage left behind, since the tables, not the queue, say what
  is left to do;
- `publish_channel`: a channel's retry, deferred by its backoff.

Each channel is published by one run at a time (a lease), in batches it retries with
the same body until acknowledged, dead after the last try; a slow or failing receiver
holds up only its own channel. Incremental pushes to a channel are at least
`OMS_PUBLISH_MIN_INTERVAL_SECONDS` (1 s) apart: a burst of changes makes one push a
second, while a lone change goes out at once.

Settings (environment): OMS_PUBLISH_MAX_ATTEMPTS (8), OMS_PUBLISH_BACKOFF_SECONDS (2:
retries after 2 s, 6 s, 18 s ... at most 30 min), OMS_PUBLISH_DEAD_PAUSE_SECONDS (900:
how long a channel is left alone after a dead batch), OMS_PUBLISH_MIN_INTERVAL_SECONDS
(1), OMS_PUBLISH_BATCH_SIZE (1,000 SKUs per batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from arq import cron
from arq.worker import func

from domain.db import UnitOfWork, Waits, asyncpg_dsn, driver_connection, sqlalchemy_url
from domain.outbound import Refused
from domain.publishing import alerts
from domain.publishing import service as publishing
from jobs import outbound

log = logging.getLogger("oms.publishing")

PUBLISH_JOB = "publish_stock"
CHANNEL_JOB = "publish_channel"
RESYNC_JOB = publishing.RESYNC_JOB
# An attempt (outbound.ATTEMPT_DEADLINE_SECONDS, 30 s) stays well inside the channel's
# lease (renewed at every step).
COALESCE_SECONDS = 0.25
MAX_SPACING_SLEEP_SECONDS = 2.0
CHANNEL_CONCURRENCY = 8
ALERT_LEASE_SECONDS = 90.0
ALERT_SWEEP_AGE_SECONDS = 30.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def max_attempts() -> int:
    return max(1, int(_env_float("OMS_PUBLISH_MAX_ATTEMPTS", publishing.DEFAULT_MAX_ATTEMPTS)))


def backoff_base_seconds() -> float:
    """Base of the retry schedule (2 s by default); tests make it tiny."""
    return _env_float("OMS_PUBLISH_BACKOFF_SECONDS", publishing.DEFAULT_BACKOFF_BASE_SECONDS)


def dead_pause_seconds() -> float:
    """How long a channel is left alone after a dead batch (15 min by default)."""
    return _env_float("OMS_PUBLISH_DEAD_PAUSE_SECONDS", publishing.DEFAULT_DEAD_PAUSE_SECONDS)


def min_interval_seconds() -> float:
    """Least time between two incremental pushes to a channel (1 s by default): changes
    meanwhile go together in the next one."""
    return _env_float("OMS_PUBLISH_MIN_INTERVAL_SECONDS", publishing.DEFAULT_MIN_INTERVAL_SECONDS)


def batch_size() -> int:
    return max(1, int(_env_float("OMS_PUBLISH_BATCH_SIZE", publishing.DEFAULT_BATCH_SIZE)))


# ---------- HTTP and files ----------


def http_client(ctx: dict[str, Any] | None = None) -> httpx.AsyncClient:
    """10 s timeouts; redirects are failures (following one would send signed stock
    somewhere the channel did not configure); every connection checked by the outbound
    rules (jobs/outbound.py)."""
    return outbound.http_client(
        outbound.guard(ctx or {}),
        "oms-publishing/1",
        httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def feed_paths(directory: str, channel_code: str) -> tuple[Path, Path]:
    """`<code>.json` and `<code>.csv` (a `/` in a code becomes `_`)."""
    stem = channel_code.replace("/", "_")
    return Path(directory) / f"{stem}.json", Path(directory) / f"{stem}.csv"


def write_feed(
    directory: str, channel_code: str, sequence: int, items: Sequence[tuple[str, int]]
) -> None:
    """Both feed files, each replaced atomically: a reader sees the old file or the new
    one, never a part of one."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    as_json, as_csv = publishing.feed_files(channel_code, sequence, dt.datetime.now(dt.UTC), items)
    json_path, csv_path = feed_paths(directory, channel_code)
    _atomic_write(json_path, as_json)
    _atomic_write(csv_path, as_csv)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


async def _client(ctx: dict[str, Any], stack: contextlib.AsyncExitStack) -> httpx.AsyncClient:
    """The worker's shared client if it has one (ctx["publish_http"]), else one for
    this run (the costly SSL context is shared anyway)."""
    shared: httpx.AsyncClient | None = ctx.get("publish_http")
    if shared is not None:
        return shared
    return await stack.enter_async_context(http_client(ctx))


# ---------- one channel's publisher ----------


@dataclass
class ChannelRun:
    """What one run did for one channel."""

    channel_id: int
    pushes: int = 0
    acknowledged: int = 0
    failures: int = 0
    # done: nothing left; busy: another run holds the channel; waiting: a retry is due
    # at `retry_at` (None: paused after a dead batch, the cron resumes it).
    state: str = "idle"
    retry_at: dt.datetime | None = None


async def run_channel(
    ctx: dict[str, Any],
    channel_id: int,
    *,
    size: int | None = None,
    http: httpx.AsyncClient | None = None,
) -> ChannelRun:
    """Publish what the channel has pending (an open batch, new values, a resync) until
    nothing is left, a retry must wait, or another run holds the channel."""
    sessionmaker = ctx["sessionmaker"]
    owner = uuid.uuid4().hex
    run = ChannelRun(channel_id)
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            http = await _client(ctx, stack)
        while True:
            async with UnitOfWork(sessionmaker) as uow:
                claimed = await publishing.claim_channel(
                    await driver_connection(uow.session), channel_id, owner
                )
            if not claimed:
                if run.state == "idle":
                    run.state = "busy"
                break
            try:
                await _drive(ctx, run, owner, http, size or batch_size())
            finally:
                # Even when cancelled (a worker shutting down): the next run need not
                # wait for the lease to run out.
                await asyncio.shield(_release(sessionmaker, channel_id, owner))
            if run.state != "done":
                break
            # A change recorded after our last look, by a run that found us busy, would
            # otherwise wait for the cron.
            async with UnitOfWork(sessionmaker) as uow:
                if not await publishing.channels_with_work(
                    await driver_connection(uow.session), channel_id
                ):
                    break
    if run.state == "waiting" and run.retry_at is not None:
        await _schedule_retry(ctx, channel_id, run.retry_at)
    return run


async def _release(sessionmaker: Any, channel_id: int, owner: str) -> None:
    try:
        async with UnitOfWork(sessionmaker) as uow:
            await publishing.release_channel(
                await driver_connection(uow.session), channel_id, owner
            )
    except Exception:  # the lease runs out by itself
        log.warning("could not release the publishing lease", exc_info=True)


async def _drive(
    ctx: dict[str, Any],
    run: ChannelRun,
    owner: str,
    http: httpx.AsyncClient,
    size: int,
) -> None:
    sessionmaker = ctx["sessionmaker"]
    while True:
        try:
            async with UnitOfWork(sessionmaker) as uow:
                step = await publishing.next_step(
                    await driver_connection(uow.session),
                    run.channel_id,
                    owner,
                    batch_size=size,
                    min_interval=min_interval_seconds(),
                )
        except publishing.LeaseLost:
            run.state = "busy"
            return
        if step is None:
            run.state = "done"
            return
        if isinstance(step, publishing.Wait):
            left = (step.until - _utcnow()).total_seconds()
            if step.kind == "spacing" and left <= MAX_SPACING_SLEEP_SECONDS:
                # A second or so: wait here (no queue round trip), take in the changes
                # made meanwhile, and push them all together.
                await asyncio.sleep(max(0.0, left))
                await _drain(ctx)
                continue
            # A retry (or a long spacing) gets a job at its time; a pause is left to
            # the cron.
            run.state = "waiting"
            run.retry_at = step.until if step.kind != "paused" else None
            return
        if isinstance(step, publishing.Progress):
            continue
        run.pushes += 1
        ok, retry_at = await _attempt(ctx, step, http)
        if ok:
            run.acknowledged += 1
            continue
        run.failures += 1
        run.state, run.retry_at = "waiting", retry_at
        return


async def _attempt(
    ctx: dict[str, Any], push: publishing.Push, http: httpx.AsyncClient
) -> tuple[bool, dt.datetime | None]:
    """One attempt at one batch, recorded; (acknowledged, when the next try is due)."""
    target, batch = push.target, push.batch
    sessionmaker = ctx["sessionmaker"]
    code: int | None = None
    count: int | None = None
    # Refused by the outbound rules (an internal address, a directory outside the feed
    # root): waiting will not help, so this attempt is the last.
    forbidden = False
    if batch.kind == "FEED":
        async with UnitOfWork(sessionmaker) as uow:
            items, acked = await publishing.feed_snapshot(
                await driver_connection(uow.session), target.channel_id
            )
        count = len(items)
        error: str | None = None
        try:
            assert target.feed_directory is not None
            # Checked again here: a symlink may have been planted since configuration.
            # The files go to the checked real path, not through the link.
            directory = outbound.guard(ctx).feed_directory(target.feed_directory)
            await asyncio.to_thread(write_feed, directory, target.code, batch.sequence, items)
        except Refused as exc:
            error, forbidden = f"{exc.code}: {exc.message}"[:1000], True
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
    elif target.webhook_url is None or not target.secret:
        acked, error = [], "the channel has no webhook URL or signing secret"
    else:
        acked = list(batch.items or ())
        body = batch.body(target.code)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-OMS-Channel": target.code,
            "X-OMS-Sequence": str(batch.sequence),
            "X-OMS-Batch-Id": str(batch.id),
            "X-OMS-Timestamp": str(timestamp),
            "X-OMS-Signature": publishing.sign(target.secret, timestamp, body),
        }
        answer = await outbound.post(http, target.webhook_url, body, headers)
        code, error, forbidden = answer.status_code, answer.error, answer.forbidden
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        if error is None:
            await publishing.record_acknowledged(
                conn, batch, status_code=code, items=acked, items_count=count
            )
            return True, None
        last = forbidden or batch.attempt >= max_attempts()
        retry_in = (
            None if last else publishing.backoff_seconds(batch.attempt, backoff_base_seconds())
        )
        due = await publishing.record_failure(
            conn,
            batch,
            status_code=code,
            error=error,
            retry_in=retry_in,
            dead_pause_seconds=dead_pause_seconds(),
        )
    if retry_in is None:
        # Dead: the channel pauses; the cron resumes it when the pause is over.
        due = None
    log.warning(
        "channel publication failed",
        extra={
            "channel": target.code,
            "batch_id": batch.id,
            "attempt": batch.attempt,
            "error": error,
            "dead": retry_in is None,
        },
    )
    return False, due


async def _schedule_retry(ctx: dict[str, Any], channel_id: int, when: dt.datetime) -> None:
    """A job for the channel when its retry is due. If Redis is down (or this is the
    CLI, without one), the cron finds the due batch anyway."""
    redis = ctx.get("redis")
    if redis is None:
        return
    delay = max(0.0, (when - _utcnow()).total_seconds()) + 0.02
    # One job per channel and due time, however many runs asked for it.
    job_id = f"publish-channel:{channel_id}:{int(when.timestamp() * 1000)}"
    try:
        await redis.enqueue_job(CHANNEL_JOB, channel_id, _job_id=job_id, _defer_by=delay)
    except Exception:
        log.warning("could not enqueue a publishing retry; the cron will", exc_info=True)


async def _run_channels(ctx: dict[str, Any], channel_ids: Sequence[int]) -> list[ChannelRun]:
    """Channels side by side: one's slow receiver does not hold up the others."""
    if not channel_ids:
        return []
    limit = asyncio.Semaphore(CHANNEL_CONCURRENCY)

    async def one(channel_id: int, http: httpx.AsyncClient) -> ChannelRun | None:
        async with limit:
            try:
                return await run_channel(ctx, channel_id, http=http)
            except Exception:
                log.exception("publishing channel %s failed", channel_id)
                return None

    async with contextlib.AsyncExitStack() as stack:
        http = await _client(ctx, stack)
        runs = await asyncio.gather(*(one(c, http) for c in channel_ids))
    return [r for r in runs if r is not None]


# ---------- jobs ----------


async def _drain(ctx: dict[str, Any]) -> tuple[int, int, int]:
    """Examine every recorded stock change; (changes, values changed, alerts raised)."""
    changes = values = 0
    alert_ids: list[int] = []
    while True:
        async with UnitOfWork(ctx["sessionmaker"]) as uow:
            drained = await publishing.drain(await driver_connection(uow.session))
        changes += drained.changes
        values += drained.values_changed
        alert_ids += drained.alert_ids
        if drained.changes < publishing.DRAIN_LIMIT:
            break
    await _enqueue_alerts(ctx, [alerts.deliver_job(i, 0) for i in alert_ids])
    return changes, values, len(alert_ids)


async def publish_stock(ctx: dict[str, Any]) -> dict[str, int]:
    """Examine recorded stock changes, then publish every channel that has something
    to publish. Safe to run at any time, any number of times, concurrently."""
    sessionmaker = ctx["sessionmaker"]
    changes, values, raised = await _drain(ctx)
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        channel_ids = await publishing.channels_with_work(conn)
        due = await alerts.due_alerts(conn, min_age_seconds=ALERT_SWEEP_AGE_SECONDS)
    minute = int(time.time()) // 60
    await _enqueue_alerts(ctx, [alerts.deliver_job(i, n, f":sweep-{minute}") for i, n in due])
    runs = await _run_channels(ctx, channel_ids)
    return {
        "changes": changes,
        "values_changed": values,
        "alerts": raised,
        "channels": len(runs),
        "pushes": sum(r.pushes for r in runs),
        "acknowledged": sum(r.acknowledged for r in runs),
    }


async def publish_channel(ctx: dict[str, Any], channel_id: int) -> str:
    """One channel's publisher (a retry when its backoff is over)."""
    run = await run_channel(ctx, channel_id)
    return f"{run.state}: {run.acknowledged}/{run.pushes} pushes acknowledged"


async def resync_channel(
    ctx: dict[str, Any], channel_id: int, batch_size: int | None = None
) -> str:
    """Republish every SKU of a channel, in batches. Resumable: a resync under way
    continues from its checkpoint (the last SKU acknowledged), so a worker killed
    mid-way finishes on the next run without repeating what was acknowledged; and
    a batch it had sent but not seen acknowledged goes again with the same sequence,
    which a receiver that applied it ignores."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        found = await publishing.request_resync(
            await driver_connection(uow.session), channel_id, "FULL", restart=False
        )
    if not found:
        return "no such channel"
    run = await run_channel(ctx, channel_id, size=batch_size)
    return f"{run.state}: {run.acknowledged}/{run.pushes} pushes acknowledged"


async def resync_all_channels(ctx: dict[str, Any]) -> int:
    """Nightly: every channel with a publish target is republished in full (which also
    gives a paused channel its daily chance), and old log entries are dropped."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        conn = await driver_connection(uow.session)
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM channels WHERE publish_webhook_url IS NOT NULL"
                " OR publish_feed_directory IS NOT NULL ORDER BY id"
            )
        ]
        for channel_id in ids:
            await publishing.request_resync(conn, channel_id, "FULL", restart=True)
        purged = await publishing.purge_publications(conn, older_than_days=14)
    day = dt.date.today().isoformat()
    redis = ctx.get("redis")
    for channel_id in ids:
        try:
            if redis is not None:
                await redis.enqueue_job(
                    RESYNC_JOB, channel_id, _job_id=f"resync-channel:{channel_id}:{day}"
                )
        except Exception:  # requested in the database: the cron runs it anyway
            log.warning("could not enqueue a resync", exc_info=True)
    log.info("nightly resync requested", extra={"channels": len(ids), "purged": purged})
    return len(ids)


async def _enqueue_alerts(ctx: dict[str, Any], jobs: Sequence[Any]) -> None:
    redis = ctx.get("redis")
    if redis is None:
        return
    for job in jobs:
        try:
            await redis.enqueue_job(job.function, *job.args, _job_id=job.job_id)
        except Exception:  # the sweep of publish_stock enqueues due alerts again
            log.warning("could not enqueue inventory alerts", exc_info=True)
            return


def _dsn(ctx: dict[str, Any]) -> str:
    engine = ctx.get("engine")
    url = (
        engine.url.render_as_string(hide_password=False)
        if engine is not None
        else os.environ["DATABASE_URL"]
    )
    return asyncpg_dsn(sqlalchemy_url(url))


async def enqueue_publish(redis: Any) -> None:
    """`publish_stock` at the end of the current coalescing window: every wake-up in the
    window maps to the same job id, so a burst of changes is one run."""
    window = math.floor(time.time() / COALESCE_SECONDS) + 1
    await redis.enqueue_job(
        PUBLISH_JOB,
        _job_id=f"publish-stock:{window}",
        _defer_until=dt.datetime.fromtimestamp(window * COALESCE_SECONDS, dt.UTC),
    )


async def listen_stock_changes(ctx: dict[str, Any]) -> int:
    """LISTEN for stock changes until just past the next minute, enqueueing a coalesced
    `publish_stock` on each. The cron starts one every minute, so one is always
    listening (two briefly overlap; their jobs share ids). A lost connection ends this
    one; the next minute's takes over, and the 2-second cron covers the gap."""
    woke = asyncio.Event()
    waits: Waits = ctx.get("waits") or Waits()
    conn = await asyncpg.connect(_dsn(ctx), **waits.connect_args())
    wakeups = 0
    try:
        await conn.add_listener(publishing.STOCK_CHANNEL, lambda *_: woke.set())
        deadline = (math.floor(time.time() / 60) + 1) * 60 + 2.0
        while (left := deadline - time.time()) > 0:
            try:
                await asyncio.wait_for(woke.wait(), timeout=min(left, 5.0))
            except TimeoutError:
                await conn.execute("SELECT 1")  # fails on a dead connection
                continue
            woke.clear()
            try:
                await enqueue_publish(ctx["redis"])
            except Exception:
                log.warning("could not enqueue publish_stock; the cron will run it", exc_info=True)
            wakeups += 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 2)
    return wakeups


# For jobs/worker.py: `functions` and `cron_jobs` of WorkerSettings. Results are not
# kept: the tables are the result.
FUNCTIONS = [
    func(publish_stock, name=PUBLISH_JOB, keep_result=0, max_tries=3, timeout=300),
    func(publish_channel, name=CHANNEL_JOB, keep_result=0, max_tries=3, timeout=300),
    func(resync_channel, name=RESYNC_JOB, keep_result=0, max_tries=5, timeout=3600),
    func(resync_all_channels, name="resync_all_channels", keep_result=0, timeout=300),
    func(listen_stock_changes, name="listen_stock_changes", keep_result=0, max_tries=1, timeout=90),
]
CRON_JOBS = [
    cron(publish_stock, second=set(range(0, 60, 2)), run_at_startup=True, unique=True, timeout=300),
    cron(listen_stock_changes, second={0}, run_at_startup=True, unique=True, timeout=90),
    cron(resync_all_channels, hour={3}, minute={17}, second={0}, unique=True, timeout=300),
]
