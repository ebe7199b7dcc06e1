"""Two "hosts" on one PostgreSQL and one Redis: each an API process on an address of its
own (127.0.0.2, 127.0.0.3: the loopback network stands in for two machines, since
network namespaces would cut them off from the shared servers) and a worker. A
subscriber on one host sees what is done on the other; each event's webhook is
delivered once across both workers; killing one host's processes loses nothing and the
other carries on."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from typing import Any

import httpx

from tests.e2e.conftest import ServerProcess
from tests.e2e.load import Load, place, until
from tests.e2e.test_outages import SKUS, stock
from tests.e2e.wsclient import GraphQLWebSocket
from tests.fixtures import World
from tests.jobs.test_webhooks import fetch, subscribe
from tests.receivers import Receiver
from tests.support import Api, operation

HOST_A, HOST_B = "127.0.0.2", "127.0.0.3"
# A worker killed in the middle of a delivery leaves it leased (jobs/webhooks.py
# LEASE_SECONDS, 90 s): the other worker's sweep sends it once the lease is over.
CATCH_UP_SECONDS = 150.0


async def delivered_events(sessionmaker: Any) -> tuple[set[int], dict[int, int]]:
    """(ORDER_PLACED event ids, attempts made per event id)."""
    placed = await fetch(sessionmaker, "SELECT id FROM order_events WHERE type = 'ORDER_PLACED'")
    rows = await fetch(sessionmaker, "SELECT event_id, attempts, status FROM webhook_deliveries")
    attempts = {r["event_id"]: r["attempts"] for r in rows if r["status"] == "DELIVERED"}
    return {r["id"] for r in placed}, attempts


async def test_two_hosts_share_the_work_and_one_carries_on_when_the_other_dies(
    api: Api,
    world: World,
    sessionmaker: Any,
    receiver: Receiver,
    servers: dict[str, str],
    start_worker: Any,
) -> None:
    await stock(api, world)
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    host_a = ServerProcess(servers, bind=HOST_A)
    host_b = ServerProcess(servers, bind=HOST_B)
    worker_a = start_worker(OMS_WEBHOOK_BACKOFF_SECONDS="0.5")
    worker_b = start_worker(OMS_WEBHOOK_BACKOFF_SECONDS="0.5")
    try:
        # A subscriber on host A sees an order placed on host B.
        async with GraphQLWebSocket(host_a.ws_url, f"Bearer {world.admin}") as ws:
            await ws.subscribe(operation("OrderEvents"), {})
            async with httpx.AsyncClient(base_url=host_b.url, timeout=30) as client:
                answer = await place(client, world.channel, SKUS, "HOSTS-B-1")
            assert answer.placed, answer
            while True:
                message = await ws.next(within=15)
                assert message["type"] == "next", message
                event = message["payload"]["data"]["orderEvents"]
                if event["order"]["id"] == answer.order_id and event["type"] == "ORDER_PLACED":
                    break

        # Both hosts take orders; the two workers deliver each event's webhook once.
        loads = [
            Load(host.url, world.channel, SKUS, clients=2, prefix=f"HOSTS-{n}", pause=0.05).start()
            for n, host in (("A", host_a), ("B", host_b))
        ]
        await asyncio.sleep(4)
        # Host B dies at once, API and worker (kill -9), in the middle of the load.
        for pid in (host_b.proc.pid, worker_b.pid):
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(4)
        answers_a, answers_b = [await load.finish() for load in loads]
        assert answers_a and all(a.placed for a in answers_a), [
            a for a in answers_a if not a.placed
        ][:3]
        assert any(a.placed for a in answers_b)  # before it died

        async def caught_up() -> bool:
            placed, attempts = await delivered_events(sessionmaker)
            return placed == set(attempts)

        took = await until(caught_up, CATCH_UP_SECONDS, f"deliveries ({worker_a.log()[-2000:]})")
        placed, attempts = await delivered_events(sessionmaker)
        received = collections.Counter(int(r.json()["id"]) for r in receiver.requests)
        # Every event reached the receiver; one sent twice is one whose first attempt
        # was cut by the kill (its row counts the second attempt).
        assert set(received) == placed
        twice = {e: n for e, n in received.items() if n > 1}
        assert all(attempts.get(e, 0) >= n for e, n in twice.items()), (twice, attempts)
        print(
            f"\ntwo hosts: {len(placed)} orders, {len(answers_a)} placed on A and"
            f" {sum(a.placed for a in answers_b)} on B before it was killed;"
            f" all delivered {took:.1f} s after; {len(twice)} sent twice"
        )
        assert worker_a.alive()
    finally:
        host_a.stop()
        host_b.stop()
