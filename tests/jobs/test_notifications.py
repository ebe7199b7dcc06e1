"""Customer emails through a real SMTP server on loopback: one email per event and kind,
however often and however concurrently its job runs, and none lost while the server is
down; orders, shipments and return cases (approved, refunded, rejected)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from arq.connections import ArqRedis

import jobs.notifications as jn
from domain.db import UnitOfWork, driver_connection
from domain.events.stream import StreamEvent
from domain.notifications import templates as t
from domain.notifications.service import fan_out, global_id, kind_for, return_kind
from domain.order.events import append_event
from jobs.queue import ArqQueue
from jobs.relay import CONSUMERS, relay_once
from jobs.worker import shutdown, startup
from tests.api.test_returns import delivered_order, receive, request
from tests.conftest import Clock
from tests.fixtures import World, variables
from tests.receivers import Inbox, SmtpServer, free_port
from tests.support import Api

SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code } } }"""
_counts = itertools.count()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A server on a free loopback port, named in OMS_SMTP_URL; not started yet."""
    server = SmtpServer(free_port())
    monkeypatch.setenv("OMS_SMTP_URL", server.url)
    monkeypatch.setenv("OMS_MAIL_FROM", "Boutique <orders@boutique.example>")
    yield server
    server.stop()


@pytest.fixture
def inbox(smtp: SmtpServer) -> Inbox:
    smtp.start()
    return smtp.inbox


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jn, "RETRY_DELAYS", (0.2,) * 50)


@pytest.fixture
async def job_ctx(
    servers: dict[str, str], arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[dict[str, Any]]:
    """The worker's own ctx (its startup), to call job functions directly."""
    monkeypatch.setenv("DATABASE_URL", servers["database_url"])
    ctx: dict[str, Any] = {"redis": arq_redis}
    await startup(ctx)
    yield ctx
    await shutdown(ctx)


# --- an order through the API -------------------------------------------------------


async def stock(api: Api, key: str, location: str, levels: list[dict[str, Any]]) -> None:
    as_of = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_counts))
    data = await api.run(
        SET,
        {
            "input": {"location": location, "asOf": as_of.isoformat(), "levels": levels},
            "idempotencyKey": f"notif-stock-{as_of.isoformat()}",
        },
        key=key,
    )
    assert data["setStockLevels"]["userErrors"] == []


async def place_order(
    api: Api, world: World, external_id: str = "WEB-100045", **customer: str
) -> dict[str, Any]:
    await stock(
        api,
        world.partner,
        "WH-LYON",
        [{"sku": "TEE-BLUE-M", "onHand": 140}, {"sku": "MUG-STONE", "onHand": 36}],
    )
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["input"]["customer"].update(customer)
    v["idempotencyKey"] = f"web-fr:{external_id}"
    data = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
    assert data["userErrors"] == []
    return dict(data["order"])


async def notifications(sessionmaker: Any) -> list[dict[str, Any]]:
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        rows = await conn.fetch(
            "SELECT id, kind, recipient, status, attempts, last_error, sent_at FROM notifications ORDER BY id"
        )
    return [dict(r) for r in rows]


async def relayed(sessionmaker: Any, queue: ArqQueue | None, count: int) -> list[dict[str, Any]]:
    """Relay, wait for `count` notification rows and queue their jobs. The API process
    relays too, on NOTIFY, so rows and jobs may come from either: the job id makes
    queueing them twice harmless."""
    await relay_once(sessionmaker, queue, patience=10)
    for _ in range(500):
        rows = await notifications(sessionmaker)
        if len(rows) >= count:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"{count} notifications expected, {len(rows)} found")
    if queue is not None:
        for row in rows:
            await queue.enqueue(jn.send_job(row["id"]))
    return rows


async def order_ids(sessionmaker: Any, number: str) -> tuple[int, int, int]:
    """(order id, channel id, first shipment id)"""
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        row = await conn.fetchrow(
            "SELECT o.id, o.channel_id, min(s.id) AS shipment_id FROM orders o"
            " JOIN shipments s ON s.order_id = o.id WHERE o.number = $1 GROUP BY o.id",
            number,
        )
    return int(row["id"]), int(row["channel_id"]), int(row["shipment_id"])


async def shipment_event(sessionmaker: Any, number: str, payload: dict[str, Any]) -> None:
    order_id, channel_id, shipment_id = await order_ids(sessionmaker, number)
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        await append_event(
            conn,
            order_id=order_id,
            channel_id=channel_id,
            type="SHIPMENT_STATUS_CHANGED",
            actor="partner:test",
            payload={"shipmentId": shipment_id, **payload},
            now=dt.datetime.now(dt.UTC),
        )


def body(msg: EmailMessage, subtype: str = "plain") -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


# --- tests --------------------------------------------------------------------------


def test_the_relay_knows_the_notification_consumer() -> None:
    assert fan_out in CONSUMERS


async def test_order_confirmation_is_sent_once(
    api: Api, world: World, sessionmaker: Any, queue: ArqQueue, run_jobs: Any, inbox: Inbox
) -> None:
    order = await place_order(api, world)
    await relayed(sessionmaker, queue, 1)
    await run_jobs()

    [msg] = inbox.to("camille@example.com")
    assert [(frm, rcpts) for frm, rcpts, _ in inbox.messages] == [
        ("orders@boutique.example", ["camille@example.com"])
    ]
    assert msg["Subject"] == f"Your order {order['number']} is confirmed"
    assert msg["To"] == "Camille Martin <camille@example.com>"
    assert msg["From"] == "Boutique <orders@boutique.example>"
    [n] = await notifications(sessionmaker)
    assert msg["Message-ID"] == f"<notification-{n['id']}@oms>"
    text = body(msg)
    assert order["number"] in text
    assert "Hello Camille Martin," in text
    assert "2 x Organic tee, blue, M (TEE-BLUE-M)  49.80 EUR" in text
    assert "1 x Stoneware mug (MUG-STONE)  12.00 EUR" in text
    assert "Shipping: 4.90 EUR" in text
    assert "Total: 66.70 EUR" in text
    assert "3 rue Saint-Maur" in text
    html = body(msg, "html")
    assert order["number"] in html and "66.70 EUR" in html
    assert (n["kind"], n["recipient"], n["status"], n["attempts"], n["last_error"]) == (
        "ORDER_CONFIRMED",
        "camille@example.com",
        "SENT",
        1,
        None,
    )
    assert n["sent_at"] is not None

    # Relaying again and running the job again sends nothing more.
    await relay_once(sessionmaker, queue, patience=10)
    await queue.enqueue(jn.send_job(n["id"]))
    await run_jobs()
    assert len(inbox.messages) == 1


async def test_a_confirmation_sent_after_a_partial_cancellation_shows_the_order_as_placed(
    api: Api, world: World, sessionmaker: Any, queue: ArqQueue, run_jobs: Any, inbox: Inbox
) -> None:
    order = await place_order(api, world)
    tee = next(x["id"] for x in order["lines"] if x["sku"] == "TEE-BLUE-M")
    cancelled = await api.run(
        """mutation ($input: CancelOrderLinesInput!) { cancelOrderLines(input: $input) {
             order { total { amount } } userErrors { code } } }""",
        {"input": {"orderId": order["id"], "lines": [{"orderLineId": tee, "quantity": 1}]}},
        key=world.channel,
    )
    assert cancelled["cancelOrderLines"]["order"]["total"] == {"amount": "41.80"}
    await relayed(sessionmaker, queue, 1)
    await run_jobs()
    [msg] = inbox.to("camille@example.com")
    text = body(msg)
    # It confirms what was ordered: the lines and the amounts as placed, together.
    assert "2 x Organic tee, blue, M (TEE-BLUE-M)  49.80 EUR" in text
    assert "Total: 66.70 EUR" in text


async def test_the_same_notification_run_twice_sends_one_email(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    arq_redis: ArqRedis,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    inbox: Inbox,
) -> None:
    await place_order(api, world)
    await relayed(sessionmaker, None, 1)  # rows only: no jobs from this relay
    [n] = await notifications(sessionmaker)

    # Three jobs for the same row, run concurrently by one worker.
    for suffix in ("a", "b", "c"):
        await arq_redis.enqueue_job("send_notification", n["id"], _job_id=f"dup-{suffix}")
    await run_jobs()
    assert len(inbox.messages) == 1

    # Direct concurrent runs with the worker's ctx: nothing more once SENT.
    outcomes = await asyncio.gather(
        jn.send_notification(job_ctx, n["id"]), jn.send_notification(job_ctx, n["id"])
    )
    # (a run that finds the row locked by the other leaves it alone)
    assert set(outcomes) <= {"ALREADY_SENT", "BUSY"}, outcomes
    assert len(inbox.messages) == 1


async def test_a_job_whose_claim_answer_was_lost_takes_its_lease_back_when_run_again(
    api: Api, world: World, sessionmaker: Any, job_ctx: dict[str, Any], inbox: Inbox
) -> None:
    await place_order(api, world)
    await relayed(sessionmaker, None, 1)
    [n] = await notifications(sessionmaker)
    # Job "send-1" claimed the row, but the answer was lost (the database restarting).
    async with UnitOfWork(sessionmaker) as uow:
        attempt = await jn.delivery.claim(
            await driver_connection(uow.session), n["id"], lease_seconds=120, token="send-1"
        )
    assert attempt == 1
    assert await jn.send_notification({**job_ctx, "job_id": "send-2"}, n["id"]) == "BUSY"
    # The same job, run again by arq, takes its lease back at once: the same attempt.
    assert await jn.send_notification({**job_ctx, "job_id": "send-1"}, n["id"]) == "SENT"
    assert len(inbox.messages) == 1
    [n] = await notifications(sessionmaker)
    assert (n["status"], n["attempts"]) == ("SENT", 1)


async def test_two_concurrent_runs_of_a_pending_notification_send_one_email(
    api: Api, world: World, sessionmaker: Any, job_ctx: dict[str, Any], inbox: Inbox
) -> None:
    await place_order(api, world)
    await relayed(sessionmaker, None, 1)
    [n] = await notifications(sessionmaker)
    outcomes = await asyncio.gather(*(jn.send_notification(job_ctx, n["id"]) for _ in range(5)))
    assert outcomes.count("SENT") == 1, outcomes
    # The others find it being sent, or (started after it was) already sent.
    assert set(outcomes) <= {"SENT", "BUSY", "ALREADY_SENT"}
    assert len(inbox.messages) == 1
    [n] = await notifications(sessionmaker)
    assert (n["status"], n["attempts"]) == ("SENT", 1)


async def test_smtp_down_retries_until_the_server_is_up(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    smtp: SmtpServer,
    fast_retries: None,
) -> None:
    await place_order(api, world)
    await relayed(sessionmaker, queue, 1)
    worker = asyncio.create_task(run_jobs())
    try:
        async with asyncio.timeout(20):
            while True:
                [n] = await notifications(sessionmaker)
                if n["attempts"] >= 2:
                    break
                await asyncio.sleep(0.05)
        assert n["status"] == "PENDING"
        assert n["last_error"]
        assert smtp.inbox.messages == []
        smtp.start()
        async with asyncio.timeout(20):
            await worker
    finally:
        worker.cancel()
    assert len(smtp.inbox.messages) == 1
    [n] = await notifications(sessionmaker)
    assert n["status"] == "SENT"
    assert n["attempts"] >= 3
    assert n["last_error"] is None


async def test_gives_up_after_the_last_retry(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jn, "RETRY_DELAYS", (0.05, 0.05))
    await place_order(api, world)
    await relayed(sessionmaker, queue, 1)
    await run_jobs()
    [n] = await notifications(sessionmaker)
    assert (n["status"], n["attempts"]) == ("FAILED", 3)
    assert "Connect" in n["last_error"] or "refused" in n["last_error"].lower()
    # A FAILED row is neither swept nor sent again.
    smtp.start()
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        await conn.execute("UPDATE notifications SET created_at = now() - interval '5 minutes'")
    assert await jn.sweep_notifications(job_ctx) == 0
    assert await jn.send_notification(job_ctx, n["id"]) == "ALREADY_FAILED"
    assert smtp.inbox.messages == []


async def test_a_refused_recipient_fails_at_once(
    api: Api, world: World, sessionmaker: Any, queue: ArqQueue, run_jobs: Any, inbox: Inbox
) -> None:
    inbox.refuse.add("nobody@example.com")
    await place_order(api, world, email="nobody@example.com")
    await relayed(sessionmaker, queue, 1)
    await run_jobs()
    [n] = await notifications(sessionmaker)
    assert (n["recipient"], n["status"], n["attempts"]) == ("nobody@example.com", "FAILED", 1)
    assert "550" in n["last_error"]
    assert inbox.messages == []


async def test_without_smtp_url_notifications_wait_and_the_sweep_sends_them_later(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("OMS_SMTP_URL")
    smtp.start()
    order = await place_order(api, world)
    await relayed(sessionmaker, queue, 1)
    with caplog.at_level(logging.WARNING, logger="oms.jobs.notifications"):
        await run_jobs()
    assert any("OMS_SMTP_URL is not set" in r.getMessage() for r in caplog.records)
    [n] = await notifications(sessionmaker)
    assert (n["status"], n["attempts"]) == ("PENDING", 0)

    # Once configured, the sweep enqueues the due row (its job ran and is gone), once.
    monkeypatch.setenv("OMS_SMTP_URL", smtp.url)
    assert await jn.sweep_notifications(job_ctx) == 1
    assert await jn.sweep_notifications(job_ctx) == 0  # queued already
    await run_jobs()
    [msg] = smtp.inbox.to("camille@example.com")
    assert order["number"] in msg["Subject"]
    [n] = await notifications(sessionmaker)
    assert n["status"] == "SENT"
    assert await jn.sweep_notifications(job_ctx) == 0


async def test_the_sweep_gives_up_on_stale_notifications(
    api: Api,
    world: World,
    sessionmaker: Any,
    job_ctx: dict[str, Any],
    inbox: Inbox,
) -> None:
    await place_order(api, world)
    await relayed(sessionmaker, None, 1)
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        await conn.execute("UPDATE notifications SET created_at = now() - interval '3 days'")
    assert await jn.sweep_notifications(job_ctx) == 0
    [n] = await notifications(sessionmaker)
    assert n["status"] == "FAILED"
    assert n["last_error"] == "not sent within 48 hours"
    assert inbox.messages == []


async def test_shipped_email_has_the_tracking_link(
    api: Api, world: World, sessionmaker: Any, queue: ArqQueue, run_jobs: Any, inbox: Inbox
) -> None:
    order = await place_order(api, world)
    url = "https://www.laposte.fr/outils/suivre-vos-envois?code=6A1&x=1"
    await shipment_event(
        sessionmaker,
        order["number"],
        {"status": "SHIPPED", "trackingUrl": url, "carrier": "COLISSIMO", "trackingNumber": "6A1"},
    )
    await shipment_event(sessionmaker, order["number"], {"status": "IN_TRANSIT"})
    await relayed(sessionmaker, queue, 2)
    await run_jobs()

    # The two emails are sent by concurrent jobs: their arrival order is not fixed.
    confirmed, shipped = sorted(
        inbox.to("camille@example.com"), key=lambda m: "on its way" in str(m["Subject"])
    )
    assert confirmed["Subject"].endswith("is confirmed")
    assert shipped["Subject"] == f"Your order {order['number']} is on its way"
    text = body(shipped)
    assert f"Track your parcel: {url}" in text
    # The carrier by its name, not its code.
    assert "Carrier: Colissimo" in text and "Tracking number: 6A1" in text
    assert "2 x Organic tee, blue, M (TEE-BLUE-M)" in text
    assert 'href="https://www.laposte.fr/outils/suivre-vos-envois?code=6A1&amp;x=1"' in body(
        shipped, "html"
    )
    assert [(n["kind"], n["status"]) for n in await notifications(sessionmaker)] == [
        ("ORDER_CONFIRMED", "SENT"),
        ("SHIPPED", "SENT"),
    ]


async def test_pickup_delivery_and_failure_emails(
    api: Api, world: World, sessionmaker: Any, queue: ArqQueue, run_jobs: Any, inbox: Inbox
) -> None:
    order = await place_order(api, world)
    number = order["number"]
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        store = await conn.fetchval("SELECT id FROM locations WHERE code = 'ST-PARIS-11'")
    await shipment_event(
        sessionmaker,
        number,
        {"status": "READY_FOR_PICKUP", "pickupCode": "K7P2Q", "locationId": store},
    )
    await shipment_event(sessionmaker, number, {"status": "PICKED_UP"})
    await shipment_event(
        sessionmaker, number, {"status": "DELIVERY_FAILED", "carrier": "COLISSIMO"}
    )
    await shipment_event(sessionmaker, number, {"status": "DELIVERED"})
    await relayed(sessionmaker, queue, 4)
    await relay_once(
        sessionmaker, queue, patience=10
    )  # nothing new: no second row, no second email
    await run_jobs()

    subjects = sorted(m["Subject"] for m in inbox.to("camille@example.com"))
    assert subjects == sorted(
        [
            f"Your order {number} is confirmed",
            f"Your order {number} is ready for pickup",
            f"We couldn't deliver your order {number}",
            f"Your order {number} has been delivered",
        ]
    )
    by_subject = {m["Subject"]: m for m in inbox.to("camille@example.com")}
    ready = body(by_subject[f"Your order {number} is ready for pickup"])
    assert "ready for pickup at Paris Oberkampf store" in ready
    assert "95 rue Oberkampf" in ready
    assert "Your pickup code: K7P2Q" in ready
    failed = body(by_subject[f"We couldn't deliver your order {number}"])
    assert "Colissimo tried to deliver" in failed


def test_templates_escape_html_and_only_link_web_urls() -> None:
    ctx = t.EmailContext(
        kind=t.SHIPPED,
        order_number="FR-1",
        customer_name="<b>Eve</b>",
        tracking_url="javascript:alert(1)",
        carrier="ACME",
    )
    mail = t.render_email(ctx)
    assert "<b>Eve</b>" not in mail.html and "&lt;b&gt;Eve&lt;/b&gt;" in mail.html
    assert "href" not in mail.html
    assert "Hello <b>Eve</b>," in mail.text
    every = [
        t.render_email(t.EmailContext(kind=kind, order_number="FR-2")).subject
        for kind in t.ALL_KINDS
    ]
    assert all("FR-2" in s for s in every)
    returns = [
        t.render_email(t.EmailContext(kind=kind, order_number="FR-2", return_number="R7-5"))
        for kind in t.RETURN_KINDS
    ]
    assert all("R7-5" in m.subject and "R7-5" in m.text for m in returns)
    rejected = t.render_email(
        t.EmailContext(
            kind=t.RETURN_REJECTED,
            order_number="FR-2",
            return_number="R7-5",
            rejection_reason="<script>x</script> & worn",
            label_url="javascript:alert(1)",
        )
    )
    assert "<script>" not in rejected.html and "&lt;script&gt;x&lt;/script&gt; &amp; worn" in (
        rejected.html
    )
    approved = t.render_email(
        t.EmailContext(
            kind=t.RETURN_APPROVED,
            order_number="FR-2",
            return_number="R7-5",
            label_url="javascript:alert(1)",
        )
    )
    assert "href" not in approved.html
    assert "Print your return label: javascript:alert(1)" in approved.text
    with pytest.raises(KeyError):
        t.render_email(t.EmailContext(kind="NOPE", order_number="FR-3"))


def test_smtp_urls() -> None:
    c = jn.SmtpConfig.from_url("smtp://user%40x:p%3Ass@mail.example:587?starttls=true&timeout=5")
    assert (c.host, c.port, c.username, c.password, c.start_tls, c.use_tls, c.timeout) == (
        "mail.example",
        587,
        "user@x",
        "p:ss",
        True,
        False,
        5.0,
    )
    c = jn.SmtpConfig.from_url("smtps://mail.example")
    assert (c.port, c.use_tls, c.start_tls) == (465, True, False)
    c = jn.SmtpConfig.from_url("smtp://127.0.0.1:2525")
    assert (c.port, c.start_tls) == (2525, None)
    with pytest.raises(jn.SmtpUrlError):
        jn.SmtpConfig.from_url("http://mail.example")


# --- return cases -------------------------------------------------------------------


def test_which_return_events_send_an_email() -> None:
    base = {"returnId": 1, "returnNumber": "R1-8", "locationId": 1, "initiatedBy": "CUSTOMER"}

    def kind(**changes: Any) -> str | None:
        return return_kind({**base, **changes})

    assert kind(**{"from": None, "status": "APPROVED"}) == t.RETURN_APPROVED
    assert kind(**{"from": "REQUESTED", "status": "APPROVED"}) == t.RETURN_APPROVED
    assert kind(initiatedBy="MERCHANT", **{"from": None, "status": "APPROVED"}) == (
        t.RETURN_APPROVED
    )
    assert kind(initiatedBy="CARRIER", **{"from": None, "status": "APPROVED"}) is None
    assert kind(**{"from": None, "status": "REQUESTED"}) is None
    # A partial receipt or a repair keeps the case APPROVED: nothing new for the customer.
    assert kind(**{"from": "APPROVED", "status": "APPROVED"}) is None
    assert kind(**{"from": "APPROVED", "status": "RECEIVED"}) is None
    assert kind(**{"from": "REQUESTED", "status": "REJECTED"}) == t.RETURN_REJECTED
    assert kind(**{"from": "APPROVED", "status": "CANCELLED"}) is None
    succeeded = {"id": 3, "status": "SUCCEEDED"}
    assert kind(refund=succeeded, **{"from": "RECEIVED", "status": "REFUNDED"}) == (
        t.RETURN_REFUNDED
    )
    assert kind(refund=succeeded, **{"from": "APPROVED", "status": "APPROVED"}) == (
        t.RETURN_REFUNDED
    )
    failed = {"id": 3, "status": "FAILED"}
    assert kind(refund=failed, **{"from": "RECEIVED", "status": "RECEIVED"}) is None
    event = StreamEvent(
        id=1,
        stream_seq=1,
        order_id=1,
        channel_id=1,
        sequence=1,
        type="RETURN_STATUS_CHANGED",
        actor="test",
        payload={**base, "from": None, "status": "APPROVED"},
        occurred_at=dt.datetime.now(dt.UTC),
    )
    assert kind_for(event) == t.RETURN_APPROVED
    assert global_id("Return", 42) == "UmV0dXJuOjQy"  # base64url("Return:42"), unpadded


async def kinds(sessionmaker: Any) -> list[str]:
    return [str(n["kind"]) for n in await notifications(sessionmaker)]


def plain(msg: EmailMessage) -> str:
    """The text body with its line breaks as written (SMTP carries CRLF)."""
    return body(msg).replace("\r\n", "\n")


def one(inbox: Inbox, subject: str) -> EmailMessage:
    found = [m for m in inbox.to("camille@example.com") if m["Subject"] == subject]
    assert len(found) == 1, [m["Subject"] for m in inbox.messages]
    return found[0]


ORDER_KINDS = ["ORDER_CONFIRMED", "SHIPPED", "DELIVERED"]  # delivered_order's emails


async def test_approved_return_email_then_refund_email(
    api: Api, world: World, sessionmaker: Any, queue: ArqQueue, run_jobs: Any, inbox: Inbox
) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    opened = await request(api, token, order, [("TEE-BLUE-M", 1, "WRONG_SIZE")], "n-ret-1")
    assert opened["userErrors"] == []
    ret = opened["return"]
    number = ret["number"]
    assert (ret["status"], ret["initiatedBy"]) == ("APPROVED", "CUSTOMER")
    await relayed(sessionmaker, queue, len(ORDER_KINDS) + 1)
    await run_jobs()
    assert await kinds(sessionmaker) == [*ORDER_KINDS, "RETURN_APPROVED"]

    approved = one(inbox, f"Your return {number} is approved")
    text = plain(approved)
    assert f"Your return {number} for order {order['number']} is approved." in text
    assert f"Your RMA number: {number}" in text
    assert "1 x Organic tee, blue, M (TEE-BLUE-M)" in text
    assert "Mug" not in text and "MUG-STONE" not in text
    to = "Send your parcel to:\n  Lyon distribution centre\n  12 rue de Gerland\n  69007 Lyon"
    assert to in text
    label = f"/returns/{ret['id']}/label.html"  # the API's own id of the return
    assert f"Print your return label: {label}" in text
    html = body(approved, "html")
    assert number in html and "12 rue de Gerland" in html and label in html
    # The link is the label the API serves to this customer.
    page = await api.http.get(label, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and number in page.text

    got = await receive(
        api, world.partner, order, [("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "n-rcv-1"
    )
    assert got["return"]["status"] == "RECEIVED"
    refund_vars = variables("RefundReturn")
    refund_vars["returnId"] = ret["id"]
    refund_vars["idempotencyKey"] = "n-refund-1"
    refunded = (await api.op("RefundReturn", refund_vars, key=world.admin))["refundReturn"]
    assert refunded["userErrors"] == []
    assert refunded["refund"]["status"] == "SUCCEEDED"
    await relayed(sessionmaker, queue, len(ORDER_KINDS) + 2)
    await run_jobs()
    # The receipt sends nothing; the refund one email.
    assert await kinds(sessionmaker) == [*ORDER_KINDS, "RETURN_APPROVED", "RETURN_REFUNDED"]
    assert all(n["status"] == "SENT" for n in await notifications(sessionmaker))

    refund = one(inbox, f"Your refund for return {number} is on its way")
    text = plain(refund)
    assert "sent you a refund of 24.90 EUR" in text
    assert "1 x Organic tee, blue, M (TEE-BLUE-M)  24.90 EUR" in text
    assert "Total: 24.90 EUR" in text
    assert "Shipping" not in text  # not refunded (includeShipping: false)
    assert "24.90 EUR" in body(refund, "html")
    assert len(inbox.to("camille@example.com")) == len(ORDER_KINDS) + 2

    await relay_once(sessionmaker, queue, patience=10)  # nothing new: no second refund email
    await run_jobs()
    assert len(inbox.messages) == len(ORDER_KINDS) + 2


async def test_rejected_merchant_return_email_has_the_reason_and_a_late_approval_is_sent(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    inbox: Inbox,
    clock: Clock,
) -> None:
    order = await delivered_order(api, world)
    clock.set(dt.datetime(2026, 12, 31, 9, 0, tzinfo=dt.UTC))  # past every return window
    opened = await request(
        api, world.channel, order, [("TEE-BLUE-M", 1, "LATE_DELIVERY")], "n-late-1"
    )
    assert opened["return"]["status"] == "REQUESTED"  # outside policy: waits, no email
    reason = "Outside the 30-day window & the tee was worn"
    rejected = await api.op(
        "RejectReturn", {"returnId": opened["return"]["id"], "reason": reason}, key=world.admin
    )
    assert rejected["rejectReturn"]["userErrors"] == []
    await relayed(sessionmaker, queue, len(ORDER_KINDS) + 1)
    await run_jobs()
    assert await kinds(sessionmaker) == [*ORDER_KINDS, "RETURN_REJECTED"]

    number = opened["return"]["number"]
    msg = one(inbox, f"We couldn't accept your return {number}")
    text = plain(msg)
    assert f"We have reviewed your return {number} for order {order['number']}" in text
    assert f"Reason: {reason}" in text
    assert "1 x Organic tee, blue, M (TEE-BLUE-M)" in text
    assert "label" not in text
    assert "Outside the 30-day window &amp; the tee was worn" in body(msg, "html")

    # Another case outside policy, approved by the merchant: the approval email goes.
    late = await request(api, world.channel, order, [("MUG-STONE", 1, "DAMAGED")], "n-late-2")
    assert (late["return"]["status"], late["return"]["initiatedBy"]) == ("REQUESTED", "MERCHANT")
    approve = await api.op("ApproveReturn", {"returnId": late["return"]["id"]}, key=world.admin)
    assert approve["approveReturn"]["return"]["status"] == "APPROVED"
    await relayed(sessionmaker, queue, len(ORDER_KINDS) + 2)
    await run_jobs()
    assert await kinds(sessionmaker) == [*ORDER_KINDS, "RETURN_REJECTED", "RETURN_APPROVED"]
    text = plain(one(inbox, f"Your return {late['return']['number']} is approved"))
    assert "1 x Stoneware mug (MUG-STONE)" in text
    assert f"/returns/{late['return']['id']}/label.html" in text


async def test_a_carrier_return_sends_no_approval_email(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    inbox: Inbox,
    clock: Clock,
) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    order = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"][
        "order"
    ]
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await api.op(name, {"shipmentId": shipment}, key=world.partner)
    ship = variables("ShipShipment")
    ship["input"]["shipmentId"] = shipment
    await api.op("ShipShipment", ship, key=world.partner)
    clock.set(dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC))  # the scans are in the past
    for event_id, status, at in (
        ("nf1", "DELIVERY_FAILED", "10:00"),
        ("nf2", "RETURNED_TO_SENDER", "11:00"),
    ):
        v = variables("RecordTrackingEvent")
        v["input"].update(eventId=event_id, status=status, occurredAt=f"2026-11-24T{at}:00+01:00")
        assert (await api.op("RecordTrackingEvent", v, key=world.partner))["recordTrackingEvent"][
            "userErrors"
        ] == []
    await relayed(sessionmaker, queue, 3)
    await relay_once(
        sessionmaker, queue, patience=10
    )  # after the API's own relay, if it was at work
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        unstamped = await conn.fetchval(
            "SELECT count(*) FROM order_events WHERE stream_seq IS NULL"
        )
        carrier = await conn.fetchval(
            "SELECT count(*) FROM order_events WHERE type = 'RETURN_STATUS_CHANGED'"
            " AND payload->>'initiatedBy' = 'CARRIER' AND payload->>'status' = 'APPROVED'"
            " AND stream_seq IS NOT NULL"
        )
    assert (unstamped, carrier) == (0, 1)  # the carrier return's event was fanned out
    await run_jobs()
    assert await kinds(sessionmaker) == ["ORDER_CONFIRMED", "SHIPPED", "DELIVERY_FAILED"]
    assert not any("return" in m["Subject"].lower() for m in inbox.to("camille@example.com"))
    assert len(inbox.messages) == 3


async def test_the_label_link_of_the_email_opens_without_a_credential(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    inbox: Inbox,
    app_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What `oms worker` and `make run` give the jobs: the public address and the key.
    monkeypatch.setenv("OMS_PUBLIC_URL", "https://oms.example/")
    monkeypatch.setenv("OMS_SECRET_KEY", app_settings.signing_key())
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    opened = await request(api, token, order, [("TEE-BLUE-M", 1, "WRONG_SIZE")], "n-link-1")
    ret = opened["return"]
    await relayed(sessionmaker, queue, len(ORDER_KINDS) + 1)
    await run_jobs()

    text = plain(one(inbox, f"Your return {ret['number']} is approved"))
    prefix = f"Print your return label: https://oms.example/returns/{ret['id']}/label.html?token="
    (line,) = [x for x in text.splitlines() if x.startswith(prefix)]
    link = line.removeprefix("Print your return label: https://oms.example")
    page = await api.http.get(link)  # no Authorization header: the link is the credential
    assert page.status_code == 200 and ret["number"] in page.text

    signed = link.rpartition("=")[2]
    tampered = link[:-1] + ("0" if link[-1] != "0" else "1")
    other = await request(api, token, order, [("MUG-STONE", 1, "DAMAGED")], "n-link-2")
    refused = [
        tampered,
        f"/returns/{other['return']['id']}/label.html?token={signed}",  # another return
        f"/returns/{ret['id']}/label.html?token=1.{signed.partition('.')[2]}",  # expired
        f"/returns/{ret['id']}/label.html?token=nonsense",
    ]
    for url in refused:
        answer = await api.http.get(url)
        assert answer.status_code == 401, url
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
