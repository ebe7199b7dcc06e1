"""Channel stock publishing: from a committed stock change to the channel's receiver.

Data (through the domain services): one warehouse, 100,000 products all in stock, one
WEB channel whose publish target is a webhook receiver on loopback (in this process:
it checks every signature and records when each SKU's quantity arrives). The worker
is `oms worker` in a process of its own (NOTIFY listener, crons, jobs), as in service.

1. Initial publication: the channel's new target gets every SKU (a full resync the
   worker starts by itself); timed from the worker's start.
2. Incremental: 50 stock changes a second for 20 s (each an adjustStock of one unit of
   a SKU, through the domain service, committed), each on a SKU of its own; latency
   from the commit to the receiver's acknowledgement of that SKU's new quantity.
   Target: p95 < 2 s.
3. Full resync of the channel (the `resync_channel` job, as the nightly cron and
   `oms channels resync` ask for it): from the request to the last batch acknowledged.
   Target: < 60 s for 100,000 SKUs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.common import (
    ROOT,
    CpuWatch,
    Database,
    Servers,
    _track,
    base_parser,
    parse,
    percentile,
    run_tag,
    servers,
    terminate,
    verdict,
)

SKUS = 100_000
RATE = 50.0
SECONDS = 20.0
P95_TARGET_SECONDS = 2.0
RESYNC_TARGET_SECONDS = 60.0


# --------------------------------------------------------------------------- receiver


@dataclass
class Receiver:
    """The channel's endpoint: verifies each signature, keeps per SKU the quantity of the
    highest sequence, and when each (SKU, quantity) first arrived."""

    secret: str = ""
    batches: int = 0
    items: int = 0
    bad_signatures: int = 0
    sequences: set[int] = field(default_factory=set)
    held: dict[str, tuple[int, int]] = field(default_factory=dict)
    arrived: dict[tuple[str, int], float] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.time()
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        parts = dict(p.split("=", 1) for p in headers.get("x-oms-signature", "").split(",") if p)
        digest = hmac.new(
            self.secret.encode(), parts.get("t", "").encode() + b"." + raw, hashlib.sha256
        )
        if not hmac.compare_digest(digest.hexdigest(), parts.get("v1", "")):
            self.bad_signatures += 1
            await _answer(send, 401)
            return
        body = orjson.loads(raw)
        self.batches += 1
        self.sequences.add(body["sequence"])
        for item in body["items"]:
            self.items += 1
            sku, qty, seq = item["sku"], item["quantity"], item["sequence"]
            if seq > self.held.get(sku, (0, 0))[1]:
                self.held[sku] = (qty, seq)
            self.arrived.setdefault((sku, qty), now)
        await _answer(send, 200)


async def _answer(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def serve(app: Receiver) -> AsyncIterator[int]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


# --------------------------------------------------------------------------- the worker


class WorkerProcess:
    """`python -m api worker` with the benchmark's servers."""

    def __init__(self, srv: Servers, extra_env: dict[str, str] | None = None) -> None:
        self.srv = srv
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = srv.tmp / "worker.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
        env.update(
            DATABASE_URL=self.srv.database_url,
            REDIS_URL=self.srv.redis_url,
            OMS_SECRET_KEY=secrets.token_urlsafe(48),
            OMS_LOG_LEVEL="WARNING",
            OMS_DATA_DIR=str(self.srv.tmp / "worker-data"),
        )
        env.update(self.extra_env)
        with self.log_file.open("ab") as log:
            self.proc = _track(
                subprocess.Popen(
                    [sys.executable, "-m", "api", "worker"],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------- phases


@dataclass
class Figures:
    skus: int = 0
    initial_seconds: float = 0.0
    changes: int = 0
    latencies: list[float] = field(default_factory=list)
    missing: int = 0
    incremental_batches: int = 0
    resync_seconds: float = 0.0
    resync_batches: int = 0
    resync_items: int = 0
    bad_signatures: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    resync_cpu: dict[str, float] = field(default_factory=dict)


async def until(condition: Any, within: float, what: str, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {within:g} s; worker log:\n{worker.log_tail()}")
        await asyncio.sleep(0.05)


async def run(srv: Servers, skus_count: int, rate: float, seconds: float) -> Figures:
    from domain.access.principal import SYSTEM
    from domain.channel.service import ChannelData, upsert_channel
    from domain.inventory.service import AdjustLine, adjust_stock
    from domain.outbound import OutboundGuard

    tag = run_tag()
    location = f"CP{tag}-WH"
    channel = f"bench-cp-{tag.lower()}"
    skus = [f"CP{tag}-{i:06d}" for i in range(skus_count)]
    hot = skus[:: max(1, skus_count // int(rate * seconds))][: int(rate * seconds)]
    figures = Figures(skus=skus_count)
    receiver = Receiver()
    worker = WorkerProcess(srv)
    async with Database(srv.database_url) as db, serve(receiver) as port:
        started = time.monotonic()
        await db.create_locations([location])
        await db.create_products(skus)
        for start in range(0, skus_count, 20_000):
            await db.set_stock(location, {s: 50 for s in skus[start : start + 20_000]})
        async with db.uow() as uow:
            _, secret = await upsert_channel(
                uow.session,
                ChannelData(
                    code=channel,
                    name="Bench publishing channel",
                    kind="WEB",
                    currency="EUR",
                    network=[location],
                    publish_webhook_url=f"http://127.0.0.1:{port}/stock",
                ),
                outbound=OutboundGuard.permissive(),
            )
        assert secret is not None
        receiver.secret = secret
        await db.execute("ANALYZE")
        print(f"  data built in {time.monotonic() - started:.0f} s", flush=True)
        async with db.uow() as uow:
            conn = await _conn(uow)
            channel_id = await conn.fetchval("SELECT id FROM channels WHERE code = $1", channel)
            total = await conn.fetchval("SELECT count(*) FROM products")

        async def resync_done() -> bool:
            async with db.uow() as uow:
                row = await (await _conn(uow)).fetchrow(
                    "SELECT resync_mode, target FROM channel_publish_states WHERE channel_id = $1",
                    channel_id,
                )
            return row is not None and row["target"] is not None and row["resync_mode"] is None

        # 1. initial publication
        worker.start()
        try:
            started = time.monotonic()
            await until(resync_done, 600, "initial publication", worker)
            figures.initial_seconds = time.monotonic() - started
            assert len(receiver.held) >= skus_count, len(receiver.held)

            # 2. incremental
            batches_before = receiver.batches
            commits: dict[str, tuple[float, int]] = {}
            watch = CpuWatch({"worker": worker.pid, "postgres": srv.pg_pid})
            watch.start()

            async def change(sku: str) -> None:
                async with db.uow() as uow:
                    await adjust_stock(
                        uow.session,
                        SYSTEM,
                        location_code=location,
                        lines=[AdjustLine(sku, 1, "RECEIPT")],
                        reference=f"bench:{sku}",
                        now=dt.datetime.now(dt.UTC),
                    )
                commits[sku] = (time.time(), 51)

            tasks = []
            origin = time.monotonic()
            for i, sku in enumerate(hot):
                delay = origin + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(change(sku)))
            await asyncio.gather(*tasks)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(  # noqa: ASYNC110
                (s, q) not in receiver.arrived for s, (_, q) in commits.items()
            ):
                await asyncio.sleep(0.05)
            figures.cpu = watch.stop()
            figures.changes = len(commits)
            for sku, (at, qty) in commits.items():
                arrived = receiver.arrived.get((sku, qty))
                if arrived is None:
                    figures.missing += 1
                else:
                    figures.latencies.append(max(0.0, arrived - at))
            figures.incremental_batches = receiver.batches - batches_before

            # 3. full resync, as the nightly cron asks for it
            from arq.connections import RedisSettings, create_pool

            redis = await create_pool(RedisSettings.from_dsn(srv.redis_url))
            batches_before, items_before = receiver.batches, receiver.items
            watch.start()
            started = time.monotonic()
            await redis.enqueue_job("resync_channel", channel_id)
            await redis.aclose()

            async def resynced() -> bool:
                return receiver.items - items_before >= total and await resync_done()

            await until(resynced, 600, "resync", worker)
            figures.resync_seconds = time.monotonic() - started
            figures.resync_cpu = watch.stop()
            figures.resync_batches = receiver.batches - batches_before
            figures.resync_items = receiver.items - items_before
            figures.bad_signatures = receiver.bad_signatures
        finally:
            worker.stop()
    return figures


async def _conn(uow: Any) -> Any:
    from domain.db import driver_connection

    return await driver_connection(uow.session)


def _cpu(cpu: dict[str, float]) -> str:
    named = {k: v for k, v in cpu.items() if k != "machine"}
    other = max(0.0, cpu.get("machine", 0.0) - sum(named.values()))
    parts = [f"{k} {v:.2f}" for k, v in named.items()]
    return "cores busy: " + ", ".join([*parts, f"other {other:.2f}"])


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench channel_publish", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--skus", type=int, default=SKUS, help="products (and resync size)")
    parser.add_argument("--rate", type=float, default=RATE, help="stock changes per second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="incremental phase length")
    args = parse(parser, argv, strict=strict)
    with servers() as srv:
        f = asyncio.run(run(srv, args.skus, args.rate, args.seconds))
    p50, p95 = percentile(f.latencies, 50), percentile(f.latencies, 95)
    print(f"channel_publish: one webhook channel, {f.skus:,} SKUs, worker in its own process")
    print(f"  initial publication of every SKU (new target): {f.initial_seconds:6.1f} s")
    print(
        f"  incremental, {args.rate:g} changes/s for {args.seconds:g} s: commit -> acknowledged"
        f"  p50 {p50:5.2f} s  p95 {p95:5.2f} s  max {max(f.latencies, default=0):5.2f} s"
        f"   target p95 < {P95_TARGET_SECONDS:g} s   {verdict(p95 < P95_TARGET_SECONDS and not f.missing)}"
    )
    print(
        f"      {f.changes:,} changes, {f.missing} never arrived,"
        f" {f.incremental_batches} pushes ({f.changes / max(f.incremental_batches, 1):.0f} changes"
        f" per push); {_cpu(f.cpu)}"
    )
    print(
        f"  full resync: {f.resync_items:,} SKUs in {f.resync_batches} batches:"
        f" {f.resync_seconds:6.1f} s ({f.resync_items / max(f.resync_seconds, 1e-9):,.0f} SKUs/s)"
        f"   target < {RESYNC_TARGET_SECONDS:g} s   {verdict(f.resync_seconds < RESYNC_TARGET_SECONDS)}"
    )
    print(f"      {_cpu(f.resync_cpu)}")
    if f.bad_signatures:
        print(f"  ERROR: {f.bad_signatures} requests with a bad signature")
    return 1 if f.missing or f.bad_signatures else 0


if __name__ == "__main__":
    from bench.common import install_signal_handlers

    install_signal_handlers()
    raise SystemExit(main(sys.argv[1:]))
