"""`oms channels ...`: channel stock publishing from the command line.

oms channels resync CODE [--batch-size N] [--restart]
    republish every SKU of a channel now, in batches, with a progress bar. Runs the
    resync in this process; if the worker is publishing the channel at that moment,
    follows the worker's progress instead. A resync under way resumes from its
    checkpoint unless --restart.

Hooked into api/cli.py by `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from api.settings import Settings

DEFAULT_BATCH_SIZE = 1000  # domain/publishing/service.py's (imported late: `oms` starts fast)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("channels", help="channel stock publishing")
    sub = p.add_subparsers(dest="channels_command", required=True)
    q = sub.add_parser(
        "resync", help="republish every SKU of a channel now, in batches, with a progress bar"
    )
    q.add_argument("code", help="the channel's code")
    q.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"SKUs per push (default {DEFAULT_BATCH_SIZE})",
    )
    q.add_argument(
        "--restart", action="store_true", help="start over instead of resuming a resync under way"
    )
    q.set_defaults(fn=cmd_resync)


def cmd_resync(args: argparse.Namespace, settings: Settings) -> None:
    if not settings.database_url:
        sys.exit("DATABASE_URL is not set (or use `oms dev`, which starts a private PostgreSQL)")
    if args.batch_size is not None and not 1 <= args.batch_size <= 10_000:
        sys.exit("--batch-size must be between 1 and 10,000")
    # Failed attempts are told below the progress bar, not as log lines across it.
    logging.getLogger("oms.publishing").setLevel(logging.ERROR)
    status = asyncio.run(
        resync(
            settings.database_url,
            args.code,
            batch_size=args.batch_size,
            restart=args.restart,
            out=sys.stderr,
        )
    )
    if status:
        sys.exit(status)


@dataclass(frozen=True, slots=True)
class _Progress:
    mode: str | None
    done: int
    total: int | None
    last_error: str | None


class ProgressBar:
    """`[#########...........]  45,000/100,000 SKUs  45%`, redrawn in place."""

    WIDTH = 30

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last = ""

    def show(self, done: int, total: int | None) -> None:
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            line = (
                f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{done:,}/{total:,} SKUs {100 * done // total:3d}%"
            )
        else:
            line = f"{done:,} SKUs"
        if line != self.last:
            self.out.write("\r" + line)
            self.out.flush()
            self.last = line

    def finish(self, message: str) -> None:
        self.out.write("\n" + message + "\n")
        self.out.flush()


async def _progress(sessionmaker: Any, channel_id: int) -> _Progress:
    from domain.db import UnitOfWork, driver_connection

    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        row = await conn.fetchrow(
            "SELECT resync_mode, resync_done, resync_total,"
            " (SELECT last_error FROM channel_publications p WHERE p.channel_id = st.channel_id"
            "   AND p.status IN ('FAILED', 'DEAD') ORDER BY p.id DESC LIMIT 1) AS last_error"
            " FROM channel_publish_states st WHERE channel_id = $1",
            channel_id,
        )
    return _Progress(
        row["resync_mode"],
        row["resync_done"],
        row["resync_total"],
        row["last_error"],
    )


async def resync(
    database_url: str,
    code: str,
    *,
    batch_size: int | None = None,
    restart: bool = False,
    out: TextIO = sys.stderr,
    poll_seconds: float = 0.2,
) -> int:
    """Resync one channel with a progress bar; 0 when done, 1 if its receiver fails
    (the worker retries), 2 if there is no such channel."""
    from domain.db import (
        BATCH_WAITS,
        UnitOfWork,
        create_engine,
        create_sessionmaker,
        driver_connection,
    )
    from domain.publishing import service as publishing
    from jobs.publishing import run_channel

    engine = create_engine(database_url, pool_size=3, waits=BATCH_WAITS)
    sessionmaker = create_sessionmaker(engine)
    bar = ProgressBar(out)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            conn = await driver_connection(uow.session)
            channel_id = await conn.fetchval("SELECT id FROM channels WHERE code = $1", code)
            if channel_id is None:
                out.write(f"no channel {code!r}\n")
                return 2
            await publishing.request_resync(conn, channel_id, "FULL", restart=restart)
        ctx: dict[str, Any] = {"sessionmaker": sessionmaker}
        while True:
            task = asyncio.create_task(run_channel(ctx, channel_id, size=batch_size))
            while not task.done():
                await asyncio.wait({task}, timeout=poll_seconds)
                progress = await _progress(sessionmaker, channel_id)
                bar.show(progress.done, progress.total)
            run = task.result()
            progress = await _progress(sessionmaker, channel_id)
            bar.show(progress.done, progress.total)
            if progress.mode is None:  # done (or a newer resync it led to is)
                bar.finish(f"channel {code} resynced ({run.acknowledged} pushes acknowledged here)")
                return 0
            if run.state == "waiting":
                bar.finish(
                    f"the receiver of {code} is failing ({progress.last_error}); the worker"
                    " will retry and resume from the last acknowledged batch"
                )
                return 1
            # Another publisher (the worker) holds the channel: follow its progress.
            await asyncio.sleep(poll_seconds)
    finally:
        await engine.dispose()
