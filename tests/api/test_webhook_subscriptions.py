"""Webhook subscriptions through the console's own operation, and who may see, delete
and replay what."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest
from sqlalchemy import text

from jobs.relay import relay_once
from schema.base import to_global_id
from tests.fixtures import World, make_key, variables
from tests.support import Api

SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code } } }"""
SUBSCRIPTIONS = "{ webhookSubscriptions { id url topics active } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on WebhookSubscription { url active } } }"
DELETE = """mutation($id: ID!) { deleteWebhookSubscription(id: $id) {
  webhookSubscription { id active } userErrors { code field message } } }"""
REPLAY = """mutation($id: ID!) { replayWebhookDelivery(id: $id) {
  webhookDelivery { id status attempts nextAttemptAt deliveredAt } userErrors { code field message } } }"""
DELIVERIES = """query($subscriptionId: ID, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(subscriptionId: $subscriptionId, status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id subscriptionId eventId topic status attempts lastStatusCode lastError deliveredAt } }
  } }"""
SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
_counts = itertools.count()


async def subscribe(
    api: Api, key: str, url: str = "https://erp.example.com/oms-events", topics: Any = None
) -> dict[str, Any]:
    v = {"input": {"url": url, "topics": ["ORDER_PLACED"] if topics is None else topics}}
    return dict(
        (await api.op("CreateWebhookSubscription", v, key=key))["createWebhookSubscription"]
    )


async def subscription_rows(engine: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, owner_role, channel_id, location_ids, url, topics, secret, active"
                " FROM webhook_subscriptions ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in rows]


async def delivery_rows(engine: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, subscription_id, event_id, topic, status, attempts"
                " FROM webhook_deliveries ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in rows]


async def place_order(api: Api, world: World, external_id: str = "WEB-100045") -> dict[str, Any]:
    as_of = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_counts))
    stocked = await api.run(
        SET,
        {
            "input": {
                "location": "WH-LYON",
                "asOf": as_of.isoformat(),
                "levels": [
                    {"sku": "TEE-BLUE-M", "onHand": 140},
                    {"sku": "MUG-STONE", "onHand": 36},
                ],
            },
            "idempotencyKey": f"webhook-stock-{as_of.isoformat()}",
        },
        key=world.partner,
    )
    assert stocked["setStockLevels"]["userErrors"] == []
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["idempotencyKey"] = f"web-fr:{external_id}"
    placed = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    return dict(placed["order"])


# --- creating -----------------------------------------------------------------------


async def test_create_webhook_subscription_as_the_console_sends_it(
    api: Api, world: World, engine: Any
) -> None:
    data = await api.op(
        "CreateWebhookSubscription", variables("CreateWebhookSubscription"), key=world.admin
    )

    [row] = await subscription_rows(engine)
    secret = data["createWebhookSubscription"]["secret"]
    assert SECRET.fullmatch(secret)
    assert data == {
        "createWebhookSubscription": {
            "webhookSubscription": {
                "id": to_global_id("WebhookSubscription", row["id"]),
                "topics": [
                    "ORDER_PLACED",
                    "ORDER_CANCELLED",
                    "SHIPMENT_STATUS_CHANGED",
                    "RETURN_STATUS_CHANGED",
                    "INVENTORY_LOW_STOCK",
                ],
                "url": "https://erp.example.com/oms-events",
            },
            "secret": secret,
            "userErrors": [],
        }
    }
    assert row == {
        "id": row["id"],
        "owner_role": "ADMIN",
        "channel_id": None,
        "location_ids": [],
        "url": "https://erp.example.com/oms-events",
        "topics": variables("CreateWebhookSubscription")["input"]["topics"],
        "secret": secret,  # kept to sign with; the API never shows it again
        "active": True,
    }
    listed = await api.run(SUBSCRIPTIONS, key=world.admin)
    assert listed == {
        "webhookSubscriptions": [
            {**data["createWebhookSubscription"]["webhookSubscription"], "active": True}
        ]
    }
    assert "secret" not in str(
        await api.run(NODE, {"id": listed["webhookSubscriptions"][0]["id"]}, key=world.admin)
    )


@pytest.mark.parametrize(
    ("url", "topics", "code", "field"),
    [
        ("ftp://erp.example.com/oms-events", ["ORDER_PLACED"], "INVALID_URL", ["input", "url"]),
        ("not a url", ["ORDER_PLACED"], "INVALID_URL", ["input", "url"]),
        ("http://erp.example.com/oms-events", ["ORDER_PLACED"], "INSECURE_URL", ["input", "url"]),
        (
            "https://erp.example.com/oms-events",
            ["ORDER_PLACED", "ORDER_TELEPORTED"],
            "UNKNOWN_TOPIC",
            ["input", "topics", 1],
        ),
        ("https://erp.example.com/oms-events", [], "REQUIRED", ["input", "topics"]),
    ],
)
async def test_a_bad_subscription_is_refused_and_nothing_is_written(
    api: Api, world: World, engine: Any, url: str, topics: list[str], code: str, field: list[str]
) -> None:
    for key in (world.admin, world.channel, world.partner):
        payload = await subscribe(api, key, url, topics)
        assert payload["webhookSubscription"] is None
        assert payload["secret"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]
        assert payload["userErrors"][0]["message"]
    assert await subscription_rows(engine) == []


async def test_unknown_topics_are_each_named_with_their_index(api: Api, world: World) -> None:
    payload = await subscribe(
        api, world.admin, topics=["NOPE", "ORDER_PLACED", "ALSO_NOPE", "RETURN_INCOMING"]
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("UNKNOWN_TOPIC", ["input", "topics", 0]),
        ("UNKNOWN_TOPIC", ["input", "topics", 2]),
    ]
    assert "'ALSO_NOPE'" in payload["userErrors"][1]["message"]


async def test_a_topic_the_owner_would_never_receive_is_refused_not_left_silent(
    api: Api, world: World, engine: Any
) -> None:
    everything = ["ORDER_PLACED", "INVENTORY_LOW_STOCK", "CHANNEL_OUT_OF_STOCK"]
    partner = await subscribe(api, world.partner, topics=everything)
    assert partner["userErrors"] == [
        {
            "code": "UNAVAILABLE_TOPIC",
            "field": ["input", "topics", 2],
            "message": "a PARTNER subscription never receives CHANNEL_OUT_OF_STOCK: it concerns"
            " a channel's sales, not a location",
        }
    ]
    channel = await subscribe(api, world.channel, topics=everything)
    assert [(e["code"], e["field"]) for e in channel["userErrors"]] == [
        ("UNAVAILABLE_TOPIC", ["input", "topics", 1])
    ]
    assert await subscription_rows(engine) == []
    # Order events reach both (a partner for its locations); admins get every topic.
    for key, topics in (
        (world.partner, everything[:2]),
        (world.channel, everything[::2]),
        (world.admin, everything),
    ):
        assert (await subscribe(api, key, topics=topics))["userErrors"] == []


async def test_plain_http_to_loopback_is_allowed_outside_production(api: Api, world: World) -> None:
    payload = await subscribe(api, world.partner, "http://127.0.0.1:8089/hook")
    assert payload["userErrors"] == []
    assert payload["webhookSubscription"]["url"] == "http://127.0.0.1:8089/hook"


async def test_customers_and_anonymous_callers_may_not_subscribe(
    api: Api, world: World, engine: Any
) -> None:
    token = await world.customer_token(api)
    v = variables("CreateWebhookSubscription")
    for key, code, status in ((token, "FORBIDDEN", 403), (None, "UNAUTHENTICATED", 401)):
        response = await api.post(
            "mutation($input: WebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { secret } }",
            v,
            key=key,
        )
        body = response.json()
        assert response.status_code == status, body
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert await subscription_rows(engine) == []


async def test_at_most_fifty_live_subscriptions_per_owner(
    api: Api, world: World, engine: Any
) -> None:
    ids = []
    for i in range(50):
        payload = await subscribe(api, world.channel, f"https://shop.example.com/hooks/{i}")
        assert payload["userErrors"] == []
        ids.append(payload["webhookSubscription"]["id"])

    refused = await subscribe(api, world.channel, "https://shop.example.com/hooks/50")
    assert refused["webhookSubscription"] is None and refused["secret"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("TOO_MANY", ["input"])]
    assert len(await subscription_rows(engine)) == 50
    # Another owner is not counted against this one...
    assert (await subscribe(api, world.other_channel))["userErrors"] == []
    # ...and a deleted subscription frees its place.
    deleted = await api.run(DELETE, {"id": ids[0]}, key=world.channel)
    assert deleted["deleteWebhookSubscription"]["userErrors"] == []
    assert (await subscribe(api, world.channel))["userErrors"] == []


# --- who sees what ------------------------------------------------------------------


async def test_each_owner_sees_and_deletes_only_its_own_subscriptions(
    api: Api, world: World, engine: Any
) -> None:
    mine = (await subscribe(api, world.channel, "https://shop.example.com/a"))[
        "webhookSubscription"
    ]
    theirs = (await subscribe(api, world.other_channel, "https://mkt.example.com/b"))[
        "webhookSubscription"
    ]
    wms = (await subscribe(api, world.partner, "https://wms.example.com/c"))["webhookSubscription"]
    ops = (await subscribe(api, world.admin, "https://erp.example.com/d"))["webhookSubscription"]

    def urls(data: dict[str, Any]) -> list[str]:
        return [s["url"] for s in data["webhookSubscriptions"]]

    assert urls(await api.run(SUBSCRIPTIONS, key=world.channel)) == [mine["url"]]
    assert urls(await api.run(SUBSCRIPTIONS, key=world.other_channel)) == [theirs["url"]]
    assert urls(await api.run(SUBSCRIPTIONS, key=world.partner)) == [wms["url"]]
    assert urls(await api.run(SUBSCRIPTIONS, key=world.other_partner)) == []
    assert urls(await api.run(SUBSCRIPTIONS, key=world.admin)) == [
        mine["url"],
        theirs["url"],
        wms["url"],
        ops["url"],
    ]
    # Bound to what the key is bound to: its channel, or its locations.
    rows = {r["url"]: r for r in await subscription_rows(engine)}
    async with engine.connect() as conn:
        web_fr = (
            await conn.execute(text("SELECT id FROM channels WHERE code = 'web-fr'"))
        ).scalar()
        lyon = (
            await conn.execute(text("SELECT id FROM locations WHERE code = 'WH-LYON'"))
        ).scalar()
    assert (rows[mine["url"]]["owner_role"], rows[mine["url"]]["channel_id"]) == ("CHANNEL", web_fr)
    assert (rows[wms["url"]]["owner_role"], rows[wms["url"]]["location_ids"]) == ("PARTNER", [lyon])

    # Someone else's subscription does not exist, whether read or deleted.
    assert await api.run(NODE, {"id": theirs["id"]}, key=world.channel) == {"node": None}
    assert await api.run(NODE, {"id": mine["id"]}, key=world.channel) == {
        "node": {"id": mine["id"], "url": mine["url"], "active": True}
    }
    for key in (world.channel, world.partner, world.other_partner):
        refused = (await api.run(DELETE, {"id": theirs["id"]}, key=key))[
            "deleteWebhookSubscription"
        ]
        assert refused["webhookSubscription"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("NOT_FOUND", ["id"])]
    assert all(r["active"] for r in await subscription_rows(engine))

    deleted = (await api.run(DELETE, {"id": mine["id"]}, key=world.channel))[
        "deleteWebhookSubscription"
    ]
    assert deleted == {"webhookSubscription": {"id": mine["id"], "active": False}, "userErrors": []}
    assert urls(await api.run(SUBSCRIPTIONS, key=world.channel)) == []
    again = (await api.run(DELETE, {"id": mine["id"]}, key=world.channel))[
        "deleteWebhookSubscription"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]
    # Admin may delete anyone's.
    by_admin = (await api.run(DELETE, {"id": theirs["id"]}, key=world.admin))[
        "deleteWebhookSubscription"
    ]
    assert by_admin["userErrors"] == []


async def test_deliveries_and_replays_are_their_owners_and_admins(
    api: Api, world: World, engine: Any, sessionmaker: Any
) -> None:
    ops = (await subscribe(api, world.admin, "https://erp.example.com/h"))["webhookSubscription"]
    shop = (await subscribe(api, world.channel, "https://shop.example.com/h"))[
        "webhookSubscription"
    ]
    await subscribe(api, world.other_channel, "https://mkt.example.com/h")
    order = await place_order(api, world)
    await relay_once(sessionmaker, None, patience=10)

    rows = await delivery_rows(engine)
    by_sub = {to_global_id("WebhookSubscription", r["subscription_id"]): r for r in rows}
    assert sorted(by_sub) == sorted([ops["id"], shop["id"]])  # not the other channel's
    shop_delivery = to_global_id("WebhookDelivery", by_sub[shop["id"]]["id"])
    ops_delivery = to_global_id("WebhookDelivery", by_sub[ops["id"]]["id"])
    event_id = str(by_sub[shop["id"]]["event_id"])
    assert order["id"]

    # Reading: the channel its own, admin all, others nothing.
    seen = (await api.run(DELIVERIES, {}, key=world.channel))["webhookDeliveries"]
    assert seen == {
        "totalCount": 1,
        "pageInfo": {"hasNextPage": False, "endCursor": seen["pageInfo"]["endCursor"]},
        "edges": [
            {
                "node": {
                    "id": shop_delivery,
                    "subscriptionId": shop["id"],
                    "eventId": event_id,
                    "topic": "ORDER_PLACED",
                    "status": "PENDING",
                    "attempts": 0,
                    "lastStatusCode": None,
                    "lastError": None,
                    "deliveredAt": None,
                }
            }
        ],
    }
    admin_seen = (await api.run(DELIVERIES, {"first": 1}, key=world.admin))["webhookDeliveries"]
    assert admin_seen["totalCount"] == 2 and admin_seen["pageInfo"]["hasNextPage"]
    assert [e["node"]["id"] for e in admin_seen["edges"]] == [shop_delivery]  # newest first
    rest = (
        await api.run(
            DELIVERIES, {"first": 1, "after": admin_seen["pageInfo"]["endCursor"]}, key=world.admin
        )
    )["webhookDeliveries"]
    assert [e["node"]["id"] for e in rest["edges"]] == [ops_delivery]
    assert not rest["pageInfo"]["hasNextPage"]
    only_ops = await api.run(DELIVERIES, {"subscriptionId": ops["id"]}, key=world.admin)
    assert [e["node"]["id"] for e in only_ops["webhookDeliveries"]["edges"]] == [ops_delivery]
    for key in (world.other_channel, world.partner):
        nothing = (await api.run(DELIVERIES, {}, key=key))["webhookDeliveries"]
        assert (nothing["totalCount"], nothing["edges"]) == (0, [])
    hidden = await api.run(DELIVERIES, {"subscriptionId": ops["id"]}, key=world.channel)
    assert hidden["webhookDeliveries"]["totalCount"] == 0

    # A pending delivery is not replayed: it will be retried anyway.
    pending = (await api.run(REPLAY, {"id": shop_delivery}, key=world.channel))[
        "replayWebhookDelivery"
    ]
    assert [(e["code"], e["field"]) for e in pending["userErrors"]] == [("INVALID_STATE", ["id"])]

    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_deliveries SET status = 'DEAD', attempts = 8, last_status_code = 500"
            )
        )
    dead = await delivery_rows(engine)

    # Not theirs: exactly as if it did not exist, and nothing changes.
    for key, target in (
        (world.other_channel, shop_delivery),
        (world.partner, shop_delivery),
        (world.channel, ops_delivery),
    ):
        refused = (await api.run(REPLAY, {"id": target}, key=key))["replayWebhookDelivery"]
        assert refused["webhookDelivery"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("NOT_FOUND", ["id"])]
    token = await world.customer_token(api)
    response = await api.post(REPLAY, {"id": shop_delivery}, key=token)
    assert response.status_code == 403
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["FORBIDDEN"]
    assert await delivery_rows(engine) == dead

    # The owner replays its own; admin replays anyone's.
    replayed = (await api.run(REPLAY, {"id": shop_delivery}, key=world.channel))[
        "replayWebhookDelivery"
    ]
    assert replayed["userErrors"] == []
    assert replayed["webhookDelivery"]["id"] == shop_delivery
    assert (replayed["webhookDelivery"]["status"], replayed["webhookDelivery"]["attempts"]) == (
        "PENDING",
        0,
    )
    assert replayed["webhookDelivery"]["nextAttemptAt"] is not None
    by_admin = (await api.run(REPLAY, {"id": ops_delivery}, key=world.admin))[
        "replayWebhookDelivery"
    ]
    assert by_admin["userErrors"] == []
    assert {r["status"] for r in await delivery_rows(engine)} == {"PENDING"}

    # A deleted subscription's deliveries are given up and cannot be replayed.
    await api.run(DELETE, {"id": shop["id"]}, key=world.channel)
    gone = (await api.run(DELIVERIES, {"status": "DEAD"}, key=world.channel))["webhookDeliveries"]
    assert [(e["node"]["id"], e["node"]["lastError"]) for e in gone["edges"]] == [
        (shop_delivery, "subscription deleted")
    ]
    refused = (await api.run(REPLAY, {"id": shop_delivery}, key=world.channel))[
        "replayWebhookDelivery"
    ]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_STATE"]


async def test_a_partner_sees_its_own_key_subscriptions_only(
    api: Api, world: World, sessionmaker: Any
) -> None:
    # A second key for the same location is another owner.
    other_key = await make_key(sessionmaker, "PARTNER", "Lyon 3PL", locations=["WH-LYON"])
    await subscribe(api, world.partner, "https://wms.example.com/1")
    await subscribe(api, other_key, "https://3pl.example.com/2")
    mine = await api.run(SUBSCRIPTIONS, key=world.partner)
    assert [s["url"] for s in mine["webhookSubscriptions"]] == ["https://wms.example.com/1"]
