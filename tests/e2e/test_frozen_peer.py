"""A stuck peer costs the others a bounded wait: a peer process holding stock rows and
the relay's lock in open transactions is frozen (SIGSTOP) for 30 s while a real API
process keeps placing orders. Orders for other SKUs flow as usual; orders for the
peer's SKUs are answered within the lock timeout (placed, or LOCK_TIMEOUT, retryable);
PostgreSQL ends the peer's sessions after the idle-in-transaction timeout, which frees
its locks; nothing is lost when the peer resumes or is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from domain.db import UnitOfWork
from domain.inventory.service import ledger_discrepancies
from tests.e2e.conftest import environment
from tests.e2e.load import Answer, Load, percentile, until
from tests.fixtures import World
from tests.jobs.test_webhooks import fetch
from tests.support import Api

FROZEN = "FROZEN-SKU"
FREE = ("FREE-1", "FREE-2", "FREE-3")
LOCK_TIMEOUT_S = 2.0  # the default, OMS_DB_LOCK_TIMEOUT_MS
IDLE_TIMEOUT_S = 10.0  # the default, OMS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS
# What a loaded 2-core machine adds to an answer beyond the lock wait itself.
MARGIN_S = 1.5


async def catalog(api: Api, world: World) -> None:
    products = await api.op(
        "UpsertProducts",
        {"input": [{"sku": sku, "name": f"Product {sku}"} for sku in (FROZEN, *FREE)]},
        key=world.admin,
    )
    assert products["upsertProducts"]["userErrors"] == []
    stocked = await api.op(
        "SetStockLevels",
        {
            "input": {
                "location": "WH-LYON",
                "asOf": "2026-11-23T08:00:00Z",
                "levels": [{"sku": sku, "onHand": 100_000} for sku in (FROZEN, *FREE)],
            },
            "idempotencyKey": "frozen-peer-stock",
        },
        key=world.partner,
    )
    assert stocked["setStockLevels"]["userErrors"] == []


def start_peer(servers: dict[str, str]) -> subprocess.Popen[str]:
    peer = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.frozen_peer", FROZEN],
        env=environment(servers),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert peer.stdout is not None
    line = peer.stdout.readline()
    assert line.strip() == "HOLDING", line
    return peer


async def nothing_lost(sessionmaker: Any, answers: list[Answer]) -> None:
    placed = {a.external_id: a for a in answers if a.placed}
    rows = await fetch(sessionmaker, "SELECT external_id FROM orders")
    assert {r["external_id"] for r in rows} == set(placed)
    # Every unit reserved belongs to a placed order; the peer's reservation is gone.
    levels = await fetch(
        sessionmaker, "SELECT sku, sum(reserved) AS reserved FROM stock_levels GROUP BY sku"
    )
    wanted: dict[str, int] = {}
    for a in placed.values():
        for sku in a.skus:
            wanted[sku] = wanted.get(sku, 0) + 1
    assert {r["sku"]: r["reserved"] for r in levels if r["reserved"]} == wanted
    async with UnitOfWork(sessionmaker) as uow:
        assert await ledger_discrepancies(uow.session) == []

    # Every event is stamped into the stream, once.
    async def stamped() -> bool:
        [row] = await fetch(
            sessionmaker, "SELECT count(*) AS n FROM order_events WHERE stream_seq IS NULL"
        )
        return bool(row["n"] == 0)

    await until(stamped, 10, "every event stamped")
    [row] = await fetch(
        sessionmaker,
        "SELECT count(*) AS events, count(DISTINCT stream_seq) AS positions,"
        " count(*) FILTER (WHERE type = 'ORDER_PLACED') AS placed FROM order_events",
    )
    assert row["events"] == row["positions"]
    assert row["placed"] == len(placed)


@pytest.mark.parametrize(("ending", "frozen_for"), [("resumes", 30.0), ("is killed", 15.0)])
async def test_a_frozen_peer_holding_locks_delays_others_boundedly(
    api: Api,
    world: World,
    sessionmaker: Any,
    servers: dict[str, str],
    start_server: Any,
    ending: str,
    frozen_for: float,
) -> None:
    await catalog(api, world)
    server = start_server()
    peer = start_peer(servers)
    try:
        os.kill(peer.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        free = [
            Load(server.url, world.channel, [sku], clients=1, prefix=f"F{i}").start()
            for i, sku in enumerate(FREE)
        ]
        held = Load(server.url, world.channel, [FROZEN], clients=2, prefix="HELD").start()
        await asyncio.sleep(frozen_for)
        free_answers = [a for load in free for a in await load.finish()]
        held_answers = await held.finish()
    finally:
        if ending == "resumes":
            os.kill(peer.pid, signal.SIGCONT)
            assert peer.stdin is not None and peer.stdout is not None
            peer.stdin.write("commit\n")
            peer.stdin.flush()
            outcome = peer.stdout.readline().strip()
        else:
            peer.kill()
            outcome = "killed"
        peer.wait(30)

    # Orders for other SKUs: as usual, throughout.
    assert all(a.placed for a in free_answers), [a for a in free_answers if not a.placed][:3]
    p95 = percentile([a.seconds for a in free_answers], 95)
    assert p95 < 1.0, p95

    # Orders for the peer's SKU: each answered within the lock timeout, placed or
    # refused with a typed, retryable error; refused while the peer held the rows,
    # placed once PostgreSQL had ended its session.
    for a in held_answers:
        assert a.seconds < LOCK_TIMEOUT_S + MARGIN_S, a
        assert a.placed or (a.status == 503 and a.codes == ("LOCK_TIMEOUT",) and a.retry_after), a
    refused = [a for a in held_answers if not a.placed]
    assert refused and all(a.started < frozen_at + IDLE_TIMEOUT_S + MARGIN_S for a in refused)
    assert any(a.placed for a in held_answers)

    if ending == "resumes":  # its sessions were ended: nothing it did is committed
        assert outcome == "placement failed: DBAPIError; relay failed: DBAPIError" or (
            "committed" not in outcome
        ), outcome
    await nothing_lost(sessionmaker, free_answers + held_answers)
    print(
        f"\npeer frozen {frozen_for:g} s, then {ending}: {len(free_answers)} orders for other"
        f" SKUs, p95 {p95:.2f} s; {len(held_answers)} for its SKU: {len(refused)} refused"
        f" LOCK_TIMEOUT (slowest answer {max(a.seconds for a in held_answers):.2f} s), first"
        f" placed {min(a.started for a in held_answers if a.placed) - frozen_at:.1f} s in"
    )
