"""Real-time fan-out: 2,000 WebSocket subscribers on one API process, 200 orders updated.

Data: 5 warehouses in one channel's network, 20 products with a deep stock, a CHANNEL
key and a PARTNER key of the 5 warehouses. Through the API (one `oms serve`
process): 200 one-line orders placed with PlaceOrder, each for a customer of its own,
and a customer token per order (IssueCustomerToken, 1 h).

Then a client process (this module run with `--ws-client`) opens 2,000 WebSockets
(graphql-transport-ws, the `websockets` library, uvloop), 10 per order, each
authenticated in connection_init with its order's customer token, and subscribes to
TrackOrder (../shared/clients/mobile.graphql) with afterSequence = the order's
sequence at that point (so an update can never fall between subscribing and going
live). Once every subscription is sent and the API is idle again, this process
starts picking the 200 orders' shipments (StartPicking of partner.graphql over HTTP,
a few at a time) and records when each mutation was sent and answered; the client
records when each update arrives.

Commit to receipt latency is bracketed: the event's occurredAt is taken in the
transaction before it commits (so receipt - occurredAt over-estimates it), and the
mutation answers after its commit (so receipt - answer under-estimates it). The
clocks are the same machine's wall clock.

Target: p99 < 500 ms, and every expected message received (none lost or repeated).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    ROOT,
    ApiServer,
    CpuWatch,
    Database,
    Servers,
    api_env,
    base_parser,
    graphql_body,
    graphql_headers,
    operation_document,
    parse,
    percentile,
    run_tag,
    servers,
    start_profiler,
    stop_profiler,
    terminate,
    verdict,
    wait_for_quiet,
)

LOCATIONS = 5
SKUS = 20
ORDERS = 200
SUBSCRIBERS = 2_000
UPDATE_CONCURRENCY = 4
CONNECT_CONCURRENCY = 50
P99_TARGET_MS = 500.0
PROTOCOL = "graphql-transport-ws"


def _raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Order:
    id: str  # global ids
    shipment: str
    token: str  # the customer's
    sequence: int  # last event sequence once placed


@dataclass(frozen=True)
class Fixture:
    channel: str
    channel_token: str
    partner_token: str
    locations: list[str]
    skus: list[str]


async def build(database_url: str) -> Fixture:
    tag = run_tag()
    locations = [f"SU{tag}-W{i}" for i in range(1, LOCATIONS + 1)]
    skus = [f"SU{tag}-S{i:02d}" for i in range(SKUS)]
    channel = f"bench-su-{tag.lower()}"
    async with Database(database_url) as db:
        await db.create_locations(locations)
        await db.create_products(skus)
        await db.create_channel(channel, locations)
        as_of = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        for location in locations:
            await db.set_stock(location, dict.fromkeys(skus, 1_000_000), as_of=as_of)
        channel_token = await db.create_api_key(f"bench web {tag}", "CHANNEL", channel=channel)
        partner_token = await db.create_api_key(
            f"bench warehouses {tag}", "PARTNER", locations=locations
        )
        await db.execute("ANALYZE")
    return Fixture(channel, channel_token, partner_token, locations, skus)


async def _post(client: Any, url: str, document: str, variables: dict[str, Any], token: str) -> Any:
    response = await client.post(
        url, content=graphql_body(document, variables), headers=graphql_headers(token)
    )
    answer = orjson.loads(response.content)
    if response.status_code != 200 or answer.get("errors"):
        raise RuntimeError(f"HTTP {response.status_code}: {str(answer)[:1000]}")
    return answer["data"]


async def place_orders(api: ApiServer, fixture: Fixture, count: int) -> list[Order]:
    """`count` one-line orders and their customers' tokens, through the API."""
    import httpx

    place = operation_document("storefront.graphql", "PlaceOrder")
    issue = operation_document("storefront.graphql", "IssueCustomerToken")
    orders: list[Order | None] = [None] * count
    todo = list(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        while todo:
            i = todo.pop()
            email = f"tracker-{i:04d}@example.com"
            external_id = f"SU-{i:04d}"
            variables = {
                "input": {
                    "channel": fixture.channel,
                    "externalId": external_id,
                    "customer": {"email": email, "name": "Camille Martin"},
                    "lines": [
                        {
                            "sku": fixture.skus[i % len(fixture.skus)],
                            "quantity": 1,
                            "unitPrice": {"amount": "24.90", "currency": "EUR"},
                        }
                    ],
                    "shippingAddress": {
                        "line1": "3 rue Saint-Maur",
                        "city": "Paris",
                        "postalCode": "75011",
                        "countryCode": "FR",
                        "latitude": 48.8575,
                        "longitude": 2.38,
                    },
                    "delivery": {"method": "SHIP", "serviceLevel": "STANDARD"},
                },
                "idempotencyKey": f"bench:{external_id}",
            }
            placed = (await _post(client, api.url, place, variables, fixture.channel_token))[
                "placeOrder"
            ]
            if placed["userErrors"] or not placed["order"]:
                raise RuntimeError(f"PlaceOrder refused: {placed['userErrors']}")
            issued = (
                await _post(
                    client,
                    api.url,
                    issue,
                    {"customerEmail": email, "ttlSeconds": 3600},
                    fixture.channel_token,
                )
            )["issueCustomerToken"]
            if not issued["token"]:
                raise RuntimeError(f"IssueCustomerToken refused: {issued['userErrors']}")
            order = placed["order"]
            orders[i] = Order(order["id"], order["shipments"][0]["id"], issued["token"], 0)

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(8)))
    return [o for o in orders if o is not None]


async def order_sequences(database_url: str, channel: str) -> dict[str, int]:
    """last_event_sequence of the channel's orders, by external id."""
    import asyncpg

    from domain.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT o.external_id, o.last_event_sequence FROM orders o"
            " JOIN channels c ON c.id = o.channel_id WHERE c.code = $1",
            channel,
        )
    finally:
        await conn.close()
    return {r["external_id"]: r["last_event_sequence"] for r in rows}


# --------------------------------------------------------------------------- client process
# `python -m bench.subscriptions --ws-client`: a JSON spec on stdin's first line, then
# "FINISH <expected messages> <grace seconds>" when the updates are done; results as
# JSON to spec["result_file"]; progress lines on stdout.


async def _client(spec: dict[str, Any]) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    url: str = spec["url"]
    document: str = spec["document"]
    subs: list[list[Any]] = spec["subscribers"]  # [order index, order id, token, after]
    received: list[tuple[int, int, float, int, str, str]] = []  # sub, order, at, seq, type, when
    problems: Counter[str] = Counter()
    problem_sample: list[str] = []
    sockets: list[Any] = [None] * len(subs)
    got = asyncio.Event()
    expected = [len(subs) * 10**6]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    def problem(kind: str, detail: str) -> None:
        problems[kind] += 1
        if len(problem_sample) < 5:
            problem_sample.append(f"{kind}: {detail[:300]}")

    async def listen(n: int, order_index: int, ws: Any) -> None:
        try:
            async for raw in ws:
                at = time.time()
                msg = orjson.loads(raw)
                kind = msg.get("type")
                if kind == "next":
                    payload = msg.get("payload") or {}
                    update = (payload.get("data") or {}).get("orderUpdated")
                    if payload.get("errors") or update is None:
                        problem("error in next", str(payload))
                        continue
                    received.append(
                        (
                            n,
                            order_index,
                            at,
                            update["sequence"],
                            update["type"],
                            update["occurredAt"],
                        )
                    )
                    if len(received) >= expected[0]:
                        got.set()
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    problem(kind, str(msg))
        except Exception as exc:  # a dropped socket is a finding, not a crash of the client
            problem("socket closed", repr(exc))

    async def open_one(n: int) -> asyncio.Task[None] | None:
        order_index, order_id, token, after = subs[n]
        async with gate:
            try:
                ws = await connect(
                    url, subprotocols=[Subprotocol(PROTOCOL)], open_timeout=60, max_queue=None
                )
                await ws.send(
                    orjson.dumps(
                        {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                    ).decode()
                )
                ack = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                await ws.send(
                    orjson.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {
                                "query": document,
                                "variables": {"orderId": order_id, "afterSequence": after},
                            },
                        }
                    ).decode()
                )
            except Exception as exc:  # counted and reported
                problem("connect", repr(exc))
                return None
        sockets[n] = ws
        return asyncio.create_task(listen(n, order_index, ws))

    started = time.time()
    tasks = [t for t in await asyncio.gather(*(open_one(n) for n in range(len(subs)))) if t]
    print(f"READY {len(tasks)} {time.time() - started:.1f}", flush=True)

    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    _, want, grace = line.split()
    expected[0] = int(want)
    if len(received) >= expected[0]:
        got.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(got.wait(), float(grace))
    await asyncio.sleep(0.5)  # anything beyond the expected (duplicates) arrives now
    print(f"RECEIVED {len(received)}", flush=True)

    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(close(ws) for ws in sockets if ws is not None))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "connected": len(tasks),
        "connected_subscribers": [n for n, ws in enumerate(sockets) if ws is not None],
        "received": received,
        "problems": dict(problems),
        "problem_sample": problem_sample,
    }


def _client_main() -> None:
    _raise_fd_limit()
    spec = json.loads(sys.stdin.readline())
    try:
        import uvloop

        result = uvloop.run(_client(spec))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        result = asyncio.run(_client(spec))
    with open(spec["result_file"], "w") as out:
        json.dump(result, out)
    print("DONE", flush=True)


# --------------------------------------------------------------------------- parent side


def wait_idle(
    pid: int, *, threshold: float = 0.05, settle: float = 1.0, limit: float = 60.0
) -> float:
    """Wait until process `pid` uses under `threshold` of a core for `settle` seconds."""
    import psutil

    proc = psutil.Process(pid)
    started = time.monotonic()
    proc.cpu_percent(None)
    while time.monotonic() - started < limit:
        if proc.cpu_percent(settle) / 100 < threshold:
            break
    return time.monotonic() - started


@dataclass
class Update:
    sent: float
    answered: float


async def update_orders(
    api: ApiServer, fixture: Fixture, orders: Sequence[Order], concurrency: int
) -> list[Update]:
    import httpx

    document = operation_document("partner.graphql", "StartPicking")
    done: list[Update | None] = [None] * len(orders)
    todo = list(range(len(orders)))[::-1]

    async def worker(client: httpx.AsyncClient) -> None:
        while todo:
            i = todo.pop()
            body = graphql_body(document, {"shipmentId": orders[i].shipment})
            sent = time.time()
            response = await client.post(
                api.url, content=body, headers=graphql_headers(fixture.partner_token)
            )
            answered = time.time()
            answer = orjson.loads(response.content)
            payload = (answer.get("data") or {}).get("startPicking") or {}
            if answer.get("errors") or payload.get("userErrors"):
                raise RuntimeError(f"StartPicking failed: {str(answer)[:1000]}")
            done[i] = Update(sent, answered)

    async with httpx.AsyncClient(timeout=120) as client:
        # Connections first, so that the first updates do not pay for them.
        await asyncio.gather(
            *(client.get(api.url.replace("/graphql", "/healthz")) for _ in range(concurrency))
        )
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return [u for u in done if u is not None]


@dataclass
class Outcome:
    subscribers: int
    connected: int
    connect_seconds: float
    idle_wait: float
    expected: int
    received: int
    unique: int
    duplicates: int
    out_of_order: int
    from_answer_ms: list[float]
    from_event_ms: list[float]
    updates_seconds: float
    delivery_seconds: float
    problems: dict[str, int]
    problem_sample: list[str]
    cpu: dict[str, float]


def run(
    srv: Servers,
    fixture: Fixture,
    *,
    subscribers: int,
    orders: int,
    concurrency: int,
    grace: float,
    extra_env: dict[str, str],
    quiet_wait: float,
    profile: Path | None = None,
) -> Outcome:
    _raise_fd_limit()  # inherited by the API process
    document = operation_document("mobile.graphql", "TrackOrder")
    with ApiServer(srv, extra_env) as api:
        placed = asyncio.run(place_orders(api, fixture, orders + concurrency))
        # A few orders nobody follows take the first updates, so that the measured ones
        # do not pay for the API's first run of the mutation (imports, statement caches).
        placed, warm = placed[:orders], placed[orders:]
        asyncio.run(update_orders(api, fixture, warm, concurrency))
        sequences = asyncio.run(order_sequences(srv.database_url, fixture.channel))
        external = [f"SU-{i:04d}" for i in range(len(placed))]
        # Per subscriber: its order's index, global id, customer token, and the sequence
        # it subscribes after.
        subs: list[tuple[int, str, str, int]] = [
            (
                n % len(placed),
                placed[n % len(placed)].id,
                placed[n % len(placed)].token,
                sequences[external[n % len(placed)]],
            )
            for n in range(subscribers)
        ]
        result_file = Path(tempfile.mkstemp(prefix="oms-bench-ws-", suffix=".json")[1])
        client = subprocess.Popen(
            [sys.executable, "-m", "bench.subscriptions", "--ws-client"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        profiler: subprocess.Popen[bytes] | None = None
        try:
            assert client.stdin is not None and client.stdout is not None
            spec = {
                "url": api.url.replace("http://", "ws://"),
                "document": document,
                "subscribers": subs,
                "result_file": str(result_file),
            }
            client.stdin.write(json.dumps(spec).encode() + b"\n")
            client.stdin.flush()
            ready = client.stdout.readline().decode().split()
            if not ready or ready[0] != "READY":
                raise RuntimeError(f"the WebSocket client failed: {ready}; log {api.log_tail()}")
            connect_seconds = float(ready[2])
            # Subscriptions register asynchronously (no acknowledgement in the protocol):
            # wait for the API to be idle again, then for a quiet machine.
            assert api.pid is not None
            idle_wait = wait_idle(api.pid)
            if quiet_wait > 0:
                wait_for_quiet(quiet_wait)
            watch = CpuWatch({"api": api.pid, "postgres": srv.pg_pid, "ws client": client.pid})
            watch.start()
            if profile is not None:
                profiler = start_profiler(api.pid, profile)
            started = time.time()
            updates = asyncio.run(update_orders(api, fixture, placed, concurrency))
            updates_seconds = time.time() - started
            after = asyncio.run(order_sequences(srv.database_url, fixture.channel))
            # Every event after the sequence each subscriber subscribed after. The client
            # stops waiting once that many have arrived (a subscriber that failed to connect
            # makes it wait the whole grace period; the report counts it apart).
            expected = sum(after[external[s[0]]] - s[3] for s in subs)
            client.stdin.write(f"FINISH {expected} {grace}\n".encode())
            client.stdin.flush()
            got = client.stdout.readline().decode().strip()
            cpu = watch.stop()
            stop_profiler(profiler)
            profiler = None
            done = client.stdout.readline().decode().strip()
            if not got.startswith("RECEIVED") or done != "DONE" or client.wait(60) != 0:
                raise RuntimeError(f"the WebSocket client failed (exit {client.poll()})")
            result = json.loads(result_file.read_text())
        finally:
            stop_profiler(profiler)
            terminate(client)
            result_file.unlink(missing_ok=True)
    received = result["received"]
    connected = set(result["connected_subscribers"])
    expected = sum(after[external[s[0]]] - s[3] for n, s in enumerate(subs) if n in connected)
    seen: set[tuple[int, int]] = set()
    last_seq: dict[int, int] = {}
    duplicates = out_of_order = 0
    from_answer: list[float] = []
    from_event: list[float] = []
    for sub, order_index, at, seq, _type, occurred in sorted(received, key=lambda r: r[2]):
        if (sub, seq) in seen:
            duplicates += 1
            continue
        seen.add((sub, seq))
        if seq < last_seq.get(sub, 0):
            out_of_order += 1
        last_seq[sub] = max(seq, last_seq.get(sub, 0))
        from_answer.append((at - updates[order_index].answered) * 1000)
        from_event.append((at - dt.datetime.fromisoformat(occurred).timestamp()) * 1000)
    last_receipt = max((r[2] for r in received), default=started)
    return Outcome(
        subscribers=subscribers,
        connected=result["connected"],
        connect_seconds=connect_seconds,
        idle_wait=idle_wait,
        expected=expected,
        received=len(received),
        unique=len(seen),
        duplicates=duplicates,
        out_of_order=out_of_order,
        from_answer_ms=from_answer,
        from_event_ms=from_event,
        updates_seconds=updates_seconds,
        delivery_seconds=last_receipt - started,
        problems=result["problems"],
        problem_sample=result["problem_sample"],
        cpu=cpu,
    )


def report(o: Outcome, *, orders: int, concurrency: int) -> bool:
    per_order = o.subscribers / orders
    print(
        f"subscriptions: {o.subscribers:,} WebSocket subscribers (TrackOrder, customer tokens)"
        f" on 1 API process, {per_order:g} per order; {orders} orders updated (StartPicking,"
        f" {concurrency} at a time)"
    )
    print(
        f"  connected and subscribed: {o.connected:,} of {o.subscribers:,} in"
        f" {o.connect_seconds:.1f} s (API idle again {o.idle_wait:.1f} s later)"
    )
    print(
        f"  updates: {orders} mutations in {o.updates_seconds:.2f} s"
        f" ({orders / o.updates_seconds:.0f}/s); last message {o.delivery_seconds:.2f} s"
        f" after the first mutation was sent"
    )
    rate = o.unique / o.delivery_seconds if o.delivery_seconds > 0 else 0.0
    print(
        f"  messages: expected {o.expected:,}, received {o.received:,} ({o.unique:,} distinct),"
        f" duplicates {o.duplicates}, out of order {o.out_of_order}; {rate:,.0f} messages/s"
    )

    def line(name: str, values: list[float]) -> str:
        if not values:
            return f"{name}: no messages"
        return (
            f"{name}: p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms"
            f"  max {max(values):7.1f} ms"
        )

    print("  latency, commit to receipt, bracketed:")
    print("    " + line("from the mutation's answer (after commit: lower bound)", o.from_answer_ms))
    print(
        "    " + line("from the event's occurredAt (before commit: upper bound)", o.from_event_ms)
    )
    named = {k: v for k, v in o.cpu.items() if k != "machine"}
    machine = o.cpu.get("machine", 0.0)
    print(
        "  cores busy from the first mutation to the last message: "
        + ", ".join(f"{k} {v:.2f}" for k, v in named.items())
        + f", other processes {max(0.0, machine - sum(named.values())):.2f},"
        f" whole machine {machine:.2f} of {os.cpu_count()}"
    )
    if o.problems:
        print(f"  client problems: {o.problems}; first: {o.problem_sample}")
    p99_low = percentile(o.from_answer_ms, 99) if o.from_answer_ms else float("inf")
    p99_high = percentile(o.from_event_ms, 99) if o.from_event_ms else float("inf")
    lost = o.expected - o.unique
    print(
        f"  p99: {p99_low:.1f} ms (lower bound) / {p99_high:.1f} ms (upper bound)"
        f"   target < {P99_TARGET_MS:g} ms"
        f"   {verdict(p99_low < P99_TARGET_MS)} / {verdict(p99_high < P99_TARGET_MS)}"
    )
    ok = lost == 0 and o.duplicates == 0 and o.connected == o.subscribers
    print(
        f"  messages lost: {lost}, repeated: {o.duplicates}, subscribers not connected:"
        f" {o.subscribers - o.connected}   {verdict(ok)}"
    )
    return ok


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench subscriptions", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument(
        "--per-order",
        type=int,
        default=SUBSCRIBERS // ORDERS,
        help="subscribers per order (orders updated: subscribers / per-order)",
    )
    parser.add_argument(
        "--update-concurrency",
        type=int,
        default=UPDATE_CONCURRENCY,
        help="StartPicking mutations in flight at once",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="how long to wait, after the last mutation, for messages still on their way"
        " (at least 10)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="py-spy profile of the API from the first mutation to the last message (.svg"
        " flame graph, .json speedscope, .txt collapsed stacks)",
    )
    args = parse(parser, argv, strict=strict)
    orders = max(1, args.subscribers // max(1, args.per_order))
    with servers() as srv:
        fixture = asyncio.run(build(srv.database_url))
        outcome = run(
            srv,
            fixture,
            subscribers=args.subscribers,
            orders=orders,
            concurrency=args.update_concurrency,
            grace=max(10.0, args.seconds),
            extra_env=api_env(args.api_env),
            quiet_wait=args.quiet_wait,
            profile=args.profile,
        )
    if args.profile is not None and args.profile.exists():
        print(f"  (py-spy profile of the API: {args.profile})")
    ok = report(outcome, orders=orders, concurrency=args.update_concurrency)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ws-client"]:
        _client_main()
    else:
        from bench.common import install_signal_handlers

        install_signal_handlers()
        raise SystemExit(main(sys.argv[1:]))
