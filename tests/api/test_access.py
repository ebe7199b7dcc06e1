"""Who may call what: customer tokens, credentials, isolation, and the authorization matrix."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from domain.access.keys import issue_customer_token
from schema.base import to_global_id
from schema.root import build_schema
from tests.fixtures import World, variables
from tests.support import Api

ME = "{ me { email } }"
VIEWER = "{ viewer { role name channelCode locationCodes } }"
UPSERT_PRODUCT = """
  mutation { upsertProducts(input: [{sku: "SNEAKY-1", name: "Should not exist"}]) { count } }
"""

# Everything the access operations can change, as an admin sees it.
SNAPSHOT = """{
  apiKeys { id name role prefix channelCode locationCodes revokedAt }
  locations { id code name }
  products(first: 100) { edges { node { id sku name } } }
  channels { id code name currency network { code } publishTarget { webhookUrl } }
}"""


async def snapshot(api: Api, world: World) -> dict[str, Any]:
    return await api.run(SNAPSHOT, key=world.admin)


# Rows the background relay and workers write from events committed earlier (while the
# test world was built): they may appear at any moment, whatever the request under test.
BACKGROUND_TABLES = frozenset(
    {
        "notifications",
        "webhook_deliveries",
        "publish_dirty_skus",
        "channel_publications",
        "channel_stock_published",
        "channel_publish_states",
        "inventory_alerts",
        "inventory_low_stock_flags",
    }
)


async def row_counts(engine: Any, table_names: list[str]) -> dict[str, int]:
    """Rows per table: what the API cannot show (customers, say) must not change either."""
    async with engine.connect() as conn:
        return {
            t: (await conn.execute(text(f'SELECT count(*) FROM "{t}"'))).scalar_one()
            for t in sorted(table_names)
            if t not in BACKGROUND_TABLES
        }


def bearer(credential: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {credential}",
        "Accept": "application/graphql-response+json, application/json",
    }


def error_codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def token_claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# ---------- customer tokens ----------


async def test_channel_issues_customer_token(api: Api, world: World, clock: Any) -> None:
    data = await api.op("IssueCustomerToken", variables("IssueCustomerToken"), key=world.channel)

    payload = data["issueCustomerToken"]
    token, expires_at = payload["token"], payload["expiresAt"]
    assert isinstance(token, str) and token
    assert data == {
        "issueCustomerToken": {"token": token, "expiresAt": expires_at, "userErrors": []}
    }
    expiry = dt.datetime.fromisoformat(expires_at)
    assert expiry.utcoffset() is not None, "DateTime must carry an offset"
    assert expiry == clock() + dt.timedelta(hours=1)

    assert await api.run(ME, key=token) == {"me": {"email": "camille@example.com"}}
    assert await api.run(VIEWER, key=token) == {
        "viewer": {
            "role": "CUSTOMER",
            "name": "camille@example.com",
            "channelCode": "web-fr",
            "locationCodes": [],
        }
    }


async def test_customer_token_defaults_to_one_hour_and_normalises_the_email(
    api: Api, world: World, clock: Any
) -> None:
    data = await api.run(
        'mutation { issueCustomerToken(customerEmail: "  Camille@Example.COM ") '
        "{ token expiresAt userErrors { code } } }",
        key=world.channel,
    )
    payload = data["issueCustomerToken"]
    assert payload["userErrors"] == []
    assert dt.datetime.fromisoformat(payload["expiresAt"]) == clock() + dt.timedelta(hours=1)
    assert await api.run(ME, key=payload["token"]) == {"me": {"email": "camille@example.com"}}


@pytest.mark.parametrize("ttl", [10, 59, 86_401, 999_999, -1, 0])
async def test_a_customer_token_lifetime_out_of_range_is_refused(
    api: Api, world: World, engine: Any, table_names: list[str], ttl: int
) -> None:
    rows = await row_counts(engine, table_names)
    sent = {**variables("IssueCustomerToken"), "ttlSeconds": ttl}

    data = await api.op("IssueCustomerToken", sent, key=world.channel)

    assert data == {
        "issueCustomerToken": {
            "token": None,
            "expiresAt": None,
            "userErrors": [
                {
                    "code": "OUT_OF_RANGE",
                    "field": ["ttlSeconds"],
                    "message": "ttlSeconds must be between 60 and 86400",
                }
            ],
        }
    }
    assert await row_counts(engine, table_names) == rows


@pytest.mark.parametrize("ttl", [60, 86_400])
async def test_a_customer_token_lifetime_at_the_bounds_is_accepted(
    api: Api, world: World, clock: Any, ttl: int
) -> None:
    sent = {**variables("IssueCustomerToken"), "ttlSeconds": ttl}
    data = await api.op("IssueCustomerToken", sent, key=world.channel)
    payload = data["issueCustomerToken"]
    assert payload["userErrors"] == []
    expiry = dt.datetime.fromisoformat(payload["expiresAt"])
    assert expiry == clock() + dt.timedelta(seconds=ttl)
    assert await api.run(ME, key=payload["token"]) == {"me": {"email": "camille@example.com"}}


@pytest.mark.parametrize(
    "email", ["camille", "camille@", "@example.com", "camille@example", "a b@example.com", ""]
)
async def test_a_customer_token_for_a_bad_email_is_refused(
    api: Api, world: World, engine: Any, table_names: list[str], email: str
) -> None:
    rows = await row_counts(engine, table_names)

    data = await api.op(
        "IssueCustomerToken", {"customerEmail": email, "ttlSeconds": 3600}, key=world.channel
    )

    assert data == {
        "issueCustomerToken": {
            "token": None,
            "expiresAt": None,
            "userErrors": [
                {
                    "code": "INVALID_EMAIL",
                    "field": ["customerEmail"],
                    "message": f"{email.strip().lower()!r} is not an email address",
                }
            ],
        }
    }
    assert await row_counts(engine, table_names) == rows


async def test_the_same_email_on_two_channels_is_two_customers(api: Api, world: World) -> None:
    web = await world.customer_token(api)
    marketplace = await world.customer_token(api, channel_key=world.other_channel)
    assert token_claims(web)["sub"] != token_claims(marketplace)["sub"]
    assert (await api.run(VIEWER, key=marketplace))["viewer"]["channelCode"] == "marketplace-fr"
    # Issuing again for the same customer keeps the same customer.
    again = await world.customer_token(api)
    assert token_claims(again)["sub"] == token_claims(web)["sub"]


# ---------- credentials ----------


async def test_without_credentials_customer_and_admin_queries_are_unauthenticated(
    api: Api, world: World
) -> None:
    # Refused before anything runs (a caller without a credential may only ask who it
    # is, and introspect): nothing is executed, so no data and no cost.
    me = await api.post(ME)
    assert me.status_code == 401
    assert me.json() == {
        "data": None,
        "errors": [
            {
                "message": "A valid credential is required",
                "locations": [{"line": 1, "column": 3}],
                "path": ["me"],
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ],
    }

    keys = await api.post("{ apiKeys { id } }")
    assert keys.status_code == 401
    assert keys.json()["data"] is None
    assert error_codes(keys.json()) == ["UNAUTHENTICATED"]

    write = await api.post(UPSERT_PRODUCT)
    assert write.status_code == 401
    assert error_codes(write.json()) == ["UNAUTHENTICATED"]
    assert await api.run('{ product(sku: "SNEAKY-1") { id } }', key=world.admin) == {
        "product": None
    }

    assert await api.run(VIEWER) == {
        "viewer": {
            "role": "ANONYMOUS",
            "name": "anonymous",
            "channelCode": None,
            "locationCodes": [],
        }
    }


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer oms_this_key_does_not_exist_00000000000000",
        "Bearer oms_",
        "Bearer oms_test_admin_secret_000000000001",  # one character off the admin's
        "Bearer",
        "Bearer   ",
        "Basic YWRtaW46YWRtaW4=",
        "Token oms_test_admin_secret_000000000000",  # the admin's secret, wrong scheme
        "oms_test_admin_secret_000000000000",
        "Bearer not-a-token",
        "Bearer a.b.c",
    ],
)
async def test_a_malformed_or_unknown_credential_is_401_and_nothing_runs(
    api: Api, world: World, engine: Any, table_names: list[str], authorization: str
) -> None:
    rows = await row_counts(engine, table_names)

    response = await api.http.post(
        "/graphql",
        json={"query": UPSERT_PRODUCT},
        headers={"Authorization": authorization, "Accept": "application/graphql-response+json"},
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.headers["www-authenticate"] == 'Bearer realm="oms"'
    body = response.json()
    assert set(body) == {"errors"}
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await row_counts(engine, table_names) == rows
    assert await api.run('{ product(sku: "SNEAKY-1") { id } }', key=world.admin) == {
        "product": None
    }


async def test_an_unknown_key_is_401_even_on_get_and_for_queries(api: Api, world: World) -> None:
    response = await api.http.get(
        "/graphql",
        params={"query": "{ __typename }"},
        headers=bearer("oms_this_key_does_not_exist_00000000000000"),
    )
    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_a_revoked_key_is_refused_at_once(api: Api, world: World) -> None:
    created = await api.op(
        "CreateApiKey",
        {"input": {"name": "Temporary connector", "role": "CHANNEL", "channel": "web-fr"}},
        key=world.admin,
    )
    key_id = created["createApiKey"]["apiKey"]["id"]
    secret = created["createApiKey"]["secret"]
    assert (await api.run(VIEWER, key=secret))["viewer"]["role"] == "CHANNEL"

    revoked = await api.run(
        """mutation($id: ID!) { revokeApiKey(id: $id) {
             apiKey { id name revokedAt } userErrors { code field message } } }""",
        {"id": key_id},
        key=world.admin,
    )
    revoked_at = revoked["revokeApiKey"]["apiKey"]["revokedAt"]
    assert isinstance(revoked_at, str)
    assert revoked == {
        "revokeApiKey": {
            "apiKey": {"id": key_id, "name": "Temporary connector", "revokedAt": revoked_at},
            "userErrors": [],
        }
    }

    response = await api.post(VIEWER, key=secret)
    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    issued = await api.post(
        'mutation { issueCustomerToken(customerEmail: "late@example.com") { token } }', key=secret
    )
    assert issued.status_code == 401

    listed = await api.run("{ apiKeys { id revokedAt } }", key=world.admin)
    assert {"id": key_id, "revokedAt": revoked_at} in listed["apiKeys"]

    # Revoking again is harmless and keeps the first revocation time.
    again = await api.run(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } userErrors { code } } }",
        {"id": key_id},
        key=world.admin,
    )
    assert again == {"revokeApiKey": {"apiKey": {"revokedAt": revoked_at}, "userErrors": []}}


async def test_a_customer_token_stops_working_when_it_expires(
    api: Api, world: World, clock: Any
) -> None:
    data = await api.op(
        "IssueCustomerToken",
        {"customerEmail": "camille@example.com", "ttlSeconds": 600},
        key=world.channel,
    )
    token = data["issueCustomerToken"]["token"]
    expiry = dt.datetime.fromisoformat(data["issueCustomerToken"]["expiresAt"])

    clock.set(expiry - dt.timedelta(seconds=5))
    assert await api.run(ME, key=token) == {"me": {"email": "camille@example.com"}}

    clock.set(expiry + dt.timedelta(seconds=1))
    response = await api.post(ME, key=token)
    assert response.status_code == 401
    assert set(response.json()) == {"errors"}
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_an_expired_customer_token_is_401(
    api: Api, world: World, app_settings: Any, clock: Any
) -> None:
    real = await world.customer_token(api)
    claims = token_claims(real)
    signing_key = app_settings.signing_key()

    def mint(now: dt.datetime) -> str:
        token, _ = issue_customer_token(
            signing_key,
            customer_id=int(claims["sub"]),
            channel_id=int(claims["ch"]),
            api_key_id=int(claims["key"]),
            email=claims["email"],
            ttl=dt.timedelta(hours=1),
            now=now,
        )
        return token

    # The same claims, minted now, work: only the expiry differs below.
    fresh = mint(clock())
    assert await api.run(ME, key=fresh) == {"me": {"email": "camille@example.com"}}

    expired = mint(clock() - dt.timedelta(hours=2))
    response = await api.post(ME, key=expired)
    assert response.status_code == 401
    assert set(response.json()) == {"errors"}
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_a_tampered_customer_token_is_401(api: Api, world: World, app_settings: Any) -> None:
    real = await world.customer_token(api)
    other = await world.customer_token(api, email="dominique@example.com")
    header, payload, signature = real.split(".")
    claims = token_claims(real)
    other_claims = token_claims(other)
    marketplace_id = int(
        token_claims(await world.customer_token(api, channel_key=world.other_channel))["ch"]
    )

    def with_claims(**changes: Any) -> str:
        body = b64(json.dumps({**claims, **changes}).encode())
        return f"{header}.{body}.{signature}"

    tampered = [
        # Someone else's identity, or another channel, under the original signature.
        with_claims(sub=other_claims["sub"], email=other_claims["email"]),
        with_claims(ch=marketplace_id),
        with_claims(exp=claims["exp"] + 86_400 * 365),
        # The signature of another token.
        f"{header}.{payload}.{other.split('.')[2]}",
        # No signature, or alg none.
        f"{header}.{payload}.",
        f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}.",
        # Signed with another key.
        jwt.encode(claims, "not-the-signing-key-0123456789abcdef0123", algorithm="HS256"),
        # A token for another audience, signed with the right key.
        jwt.encode({**claims, "aud": "oms:other"}, app_settings.signing_key(), algorithm="HS256"),
    ]
    for token in tampered:
        response = await api.post(ME, key=token)
        assert response.status_code == 401, token
        assert error_codes(response.json()) == ["UNAUTHENTICATED"], token

    # The genuine ones still work.
    assert await api.run(ME, key=real) == {"me": {"email": "camille@example.com"}}
    assert await api.run(ME, key=other) == {"me": {"email": "dominique@example.com"}}


# ---------- isolation ----------


async def test_a_channel_key_sees_only_its_own_channel(api: Api, world: World) -> None:
    assert await api.run('{ channel(code: "marketplace-fr") { id code } }', key=world.channel) == {
        "channel": None
    }
    assert await api.run('{ channel(code: "no-such-channel") { id code } }', key=world.channel) == {
        "channel": None
    }
    own = await api.run('{ channel(code: "web-fr") { code } }', key=world.channel)
    assert own == {"channel": {"code": "web-fr"}}
    assert await api.run("{ channels { code } }", key=world.channel) == {
        "channels": [{"code": "web-fr"}]
    }
    assert await api.run("{ channels { code } }", key=world.other_channel) == {
        "channels": [{"code": "marketplace-fr"}]
    }
    assert await api.run("{ channels { code } }", key=world.admin) == {
        "channels": [{"code": "marketplace-fr"}, {"code": "web-fr"}]
    }


async def test_a_partner_key_sees_only_its_own_locations(api: Api, world: World) -> None:
    assert await api.run("{ locations { code } }", key=world.partner) == {
        "locations": [{"code": "WH-LYON"}]
    }
    assert await api.run("{ locations { code } }", key=world.other_partner) == {
        "locations": [{"code": "ST-PARIS-11"}]
    }
    assert await api.run('{ location(code: "ST-PARIS-11") { code } }', key=world.partner) == {
        "location": None
    }
    assert await api.run('{ location(code: "WH-LYON") { code } }', key=world.partner) == {
        "location": {"code": "WH-LYON"}
    }
    # Channels and admins see every location.
    for key in (world.admin, world.channel):
        assert await api.run("{ locations { code } }", key=key) == {
            "locations": [{"code": "ST-PARIS-11"}, {"code": "WH-LYON"}]
        }


async def test_node_of_what_the_caller_may_not_see_answers_as_an_unknown_id(
    api: Api, world: World
) -> None:
    ids = await api.run(
        """{ channels { code id } locations { code id } apiKeys { name id }
             products(first: 10) { edges { node { sku id } } } }""",
        key=world.admin,
    )
    api_key = {k["name"]: k["id"] for k in ids["apiKeys"]}
    channel = {c["code"]: c["id"] for c in ids["channels"]}
    location = {loc["code"]: loc["id"] for loc in ids["locations"]}
    product = {e["node"]["sku"]: e["node"]["id"] for e in ids["products"]["edges"]}
    customer = await world.customer_token(api)

    document = "query($id: ID!) { node(id: $id) { __typename id } }"

    async def node(id: str, key: str | None) -> httpx.Response:
        return await api.post(document, {"id": id}, key=key)

    unknown_ids = [
        to_global_id("Channel", 987_654),
        to_global_id("Location", 987_654),
        to_global_id("Product", 987_654),
        to_global_id("Order", 1),
        to_global_id("Channel", 2**63),  # beyond the id column's range
        "not-an-id",
        "",
    ]
    hidden = [
        (world.channel, channel["marketplace-fr"]),
        (world.other_channel, channel["web-fr"]),
        (world.partner, channel["web-fr"]),
        (world.partner, location["ST-PARIS-11"]),
        (world.other_partner, location["WH-LYON"]),
        (customer, product["MUG-STONE"]),
        (customer, location["WH-LYON"]),
        (customer, channel["marketplace-fr"]),
        # API keys are for admins only, even a partner's own.
        (world.partner, api_key["Lyon WMS"]),
        (world.channel, api_key["web-fr storefront"]),
        (customer, api_key["web-fr storefront"]),
    ]
    for key, id in hidden:
        hidden_answer = await node(id, key)
        assert hidden_answer.status_code == 200, (key, id)
        for unknown in unknown_ids:
            unknown_answer = await node(unknown, key)
            assert unknown_answer.status_code == 200, (key, unknown, unknown_answer.text)
            assert {k: v for k, v in unknown_answer.json().items() if k != "extensions"} == {
                "data": {"node": None}
            }, (key, unknown)
        assert {k: v for k, v in hidden_answer.json().items() if k != "extensions"} == {
            "data": {"node": None}
        }, (key, id)

    # Without a credential, node is refused before it runs: an existing id and a made-up
    # one answer the same.
    anonymous = [await node(id, None) for id in (channel["web-fr"], product["MUG-STONE"])]
    anonymous += [await node(unknown, None) for unknown in unknown_ids]
    for answer in anonymous:
        assert answer.status_code == 401
        assert answer.json() == anonymous[0].json()

    # What the caller may see, it refetches.
    visible = [
        (world.channel, channel["web-fr"], "Channel"),
        (world.partner, location["WH-LYON"], "Location"),
        (world.partner, product["MUG-STONE"], "Product"),
        (world.channel, location["ST-PARIS-11"], "Location"),
        (world.admin, channel["marketplace-fr"], "Channel"),
    ]
    for key, id, type_name in visible:
        assert await api.run(document, {"id": id}, key=key) == {
            "node": {"__typename": type_name, "id": id}
        }


# ---------- the authorization matrix ----------

ADMIN, CHANNEL, PARTNER, CARRIER, CUSTOMER, ANONYMOUS = (
    "ADMIN",
    "CHANNEL",
    "PARTNER",
    "CARRIER",
    "CUSTOMER",
    "ANONYMOUS",
)
PRINCIPALS = (ADMIN, CHANNEL, PARTNER, CARRIER, CUSTOMER, ANONYMOUS)
EVERYONE = frozenset(PRINCIPALS)
CATALOG_READERS = frozenset({ADMIN, CHANNEL, PARTNER})

# Every root field of Query and Mutation, and who may run it. A new operation must be
# added here (and to MINIMAL below), or the tests of this section fail.
MATRIX: dict[str, frozenset[str]] = {
    # Query
    # A carrier refetches the shipments handed to it, and nothing else.
    "node": frozenset({ADMIN, CHANNEL, PARTNER, CARRIER, CUSTOMER}),
    "viewer": EVERYONE,
    "me": frozenset({CUSTOMER}),
    "apiKeys": frozenset({ADMIN}),
    "locations": CATALOG_READERS,
    "location": CATALOG_READERS,
    "products": CATALOG_READERS,
    "product": CATALOG_READERS,
    "channels": frozenset({ADMIN, CHANNEL}),
    "channel": frozenset({ADMIN, CHANNEL}),
    "stockLevels": frozenset({ADMIN, CHANNEL, PARTNER}),
    "lowStock": frozenset({ADMIN, PARTNER}),
    "ledgerDiscrepancies": frozenset({ADMIN}),
    "inboundSupplies": frozenset({ADMIN, PARTNER}),
    "availability": frozenset({ADMIN, CHANNEL}),
    "fulfillmentOptions": frozenset({ADMIN, CHANNEL}),
    "order": frozenset({ADMIN, CHANNEL, CUSTOMER}),
    "orderByExternalId": frozenset({ADMIN, CHANNEL}),
    "orders": frozenset({ADMIN, CHANNEL}),
    "sourcingPreview": frozenset({ADMIN, CHANNEL}),
    "shipments": frozenset({ADMIN, PARTNER}),
    "shipment": frozenset({ADMIN, PARTNER, CARRIER, CHANNEL, CUSTOMER}),
    "return": frozenset({ADMIN, PARTNER, CHANNEL, CUSTOMER}),
    "webhookSubscriptions": frozenset({ADMIN, CHANNEL, PARTNER}),
    "webhookDeliveries": frozenset({ADMIN, CHANNEL, PARTNER}),
    "ordersReport": frozenset({ADMIN}),
    "returnsReport": frozenset({ADMIN}),
    "channelPublications": frozenset({ADMIN, CHANNEL}),
    "channelSyncStatus": frozenset({ADMIN, CHANNEL}),
    "inventoryAlerts": frozenset({ADMIN, PARTNER}),
    # Mutation
    "createApiKey": frozenset({ADMIN}),
    "revokeApiKey": frozenset({ADMIN}),
    "issueCustomerToken": frozenset({CHANNEL}),
    "upsertLocations": frozenset({ADMIN}),
    "upsertProducts": frozenset({ADMIN}),
    "upsertChannel": frozenset({ADMIN}),
    "setStockLevels": frozenset({ADMIN, PARTNER}),
    "adjustStock": frozenset({ADMIN, PARTNER}),
    "adjustStockBatch": frozenset({ADMIN, PARTNER}),
    "createInboundSupply": frozenset({ADMIN, PARTNER}),
    "receiveInboundSupply": frozenset({ADMIN, PARTNER}),
    "cancelInboundSupply": frozenset({ADMIN, PARTNER}),
    "placeOrder": frozenset({ADMIN, CHANNEL}),
    "cancelOrder": frozenset({ADMIN, CHANNEL}),
    "cancelOrderLines": frozenset({ADMIN, CHANNEL}),
    "startPicking": frozenset({ADMIN, PARTNER}),
    "packShipment": frozenset({ADMIN, PARTNER}),
    "shipShipment": frozenset({ADMIN, PARTNER}),
    "markReadyForPickup": frozenset({ADMIN, PARTNER}),
    "confirmPickup": frozenset({ADMIN, PARTNER}),
    "recordTrackingEvent": frozenset({ADMIN, PARTNER, CARRIER}),
    "requestReturn": frozenset({ADMIN, CHANNEL, CUSTOMER}),
    "approveReturn": frozenset({ADMIN, CHANNEL}),
    "rejectReturn": frozenset({ADMIN, CHANNEL}),
    "cancelReturn": frozenset({ADMIN, CHANNEL, CUSTOMER}),
    "receiveReturn": frozenset({ADMIN, PARTNER}),
    "completeRepair": frozenset({ADMIN, PARTNER}),
    "refundReturn": frozenset({ADMIN, CHANNEL}),
    "refundProviderCallback": frozenset({ADMIN}),
    "createWebhookSubscription": frozenset({ADMIN, CHANNEL, PARTNER}),
    "deleteWebhookSubscription": frozenset({ADMIN, CHANNEL, PARTNER}),
    "replayWebhookDelivery": frozenset({ADMIN, CHANNEL, PARTNER}),
}

# Queries that take an id or a code: a caller who may not see the object gets null,
# which is as much of a refusal as an error.
READ_BY_ID = {"node", "location", "product", "channel", "me"}

Ids = dict[str, str]

# A minimal valid document per root field, and its variables from the world's ids. Each
# mutation would write something if it ran, so "nothing was written" means something.
MINIMAL: dict[str, tuple[str, Callable[[Ids], dict[str, Any]]]] = {
    "node": ("query($id: ID!) { node(id: $id) { id } }", lambda ids: {"id": ids["web-fr"]}),
    "viewer": ("{ viewer { role } }", lambda ids: {}),
    "me": ("{ me { email } }", lambda ids: {}),
    "apiKeys": ("{ apiKeys { id prefix } }", lambda ids: {}),
    "locations": ("{ locations { code } }", lambda ids: {}),
    "location": ('{ location(code: "WH-LYON") { code } }', lambda ids: {}),
    "products": ("{ products(first: 1) { edges { node { sku } } } }", lambda ids: {}),
    "product": ('{ product(sku: "MUG-STONE") { sku } }', lambda ids: {}),
    "channels": ("{ channels { code } }", lambda ids: {}),
    "channel": ('{ channel(code: "web-fr") { code } }', lambda ids: {}),
    "createApiKey": (
        'mutation { createApiKey(input: {name: "matrix", role: ADMIN}) '
        "{ secret userErrors { code } } }",
        lambda ids: {},
    ),
    "revokeApiKey": (
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } userErrors { code } } }",
        lambda ids: {"id": ids["partner-key"]},
    ),
    "issueCustomerToken": (
        'mutation { issueCustomerToken(customerEmail: "matrix@example.com") '
        "{ token userErrors { code } } }",
        lambda ids: {},
    ),
    "upsertLocations": (
        """mutation { upsertLocations(input: [{code: "WH-MATRIX", name: "Matrix", kind: WAREHOUSE,
             address: {line1: "1 rue", city: "Lyon", postalCode: "69001", countryCode: "FR"},
             latitude: 45.76, longitude: 4.83, timezone: "Europe/Paris",
             canShip: true, canPickup: false}]) { locations { code } userErrors { code } } }""",
        lambda ids: {},
    ),
    "upsertProducts": (
        'mutation { upsertProducts(input: [{sku: "MATRIX-1", name: "Matrix"}]) '
        "{ count userErrors { code } } }",
        lambda ids: {},
    ),
    "upsertChannel": (
        'mutation { upsertChannel(input: {code: "web-fr", name: "Matrix", kind: SOCIAL, '
        'currency: "USD", network: ["WH-LYON"]}) { channel { code } userErrors { code } } }',
        lambda ids: {},
    ),
    "stockLevels": ('{ stockLevels(sku: "MUG-STONE") { onHand } }', lambda ids: {}),
    "lowStock": ("{ lowStock(first: 5) { sku } }", lambda ids: {}),
    "ledgerDiscrepancies": ("{ ledgerDiscrepancies { sku } }", lambda ids: {}),
    "inboundSupplies": ("{ inboundSupplies { reference } }", lambda ids: {}),
    "availability": (
        '{ availability(channel: "web-fr", skus: ["MUG-STONE"]) { available } }',
        lambda ids: {},
    ),
    "fulfillmentOptions": (
        '{ fulfillmentOptions(input: {channel: "web-fr", items: [{sku: "MUG-STONE", quantity: 1}]}) '
        "{ options { method } } }",
        lambda ids: {},
    ),
    "setStockLevels": (
        'mutation { setStockLevels(input: {location: "WH-LYON", asOf: "2026-11-23T08:00:00Z", '
        'levels: [{sku: "MUG-STONE", onHand: 5}]}, idempotencyKey: "m") { stockLevels { onHand } userErrors { code } } }',
        lambda ids: {},
    ),
    "adjustStock": (
        'mutation { adjustStock(input: {location: "WH-LYON", sku: "MUG-STONE", delta: 3, reason: FOUND}, '
        'idempotencyKey: "m") { stockLevel { onHand } userErrors { code } } }',
        lambda ids: {},
    ),
    "adjustStockBatch": (
        'mutation { adjustStockBatch(input: {location: "WH-LYON", lines: [{sku: "MUG-STONE", delta: 3, '
        'reason: FOUND}]}, idempotencyKey: "m") { stockLevels { onHand } userErrors { code } } }',
        lambda ids: {},
    ),
    "createInboundSupply": (
        'mutation { createInboundSupply(input: {reference: "PO-M", kind: PURCHASE_ORDER, location: "WH-LYON", '
        'expectedAt: "2026-12-01T00:00:00Z", lines: [{sku: "MUG-STONE", quantity: 5}]}) '
        "{ inboundSupply { status } userErrors { code } } }",
        lambda ids: {},
    ),
    "receiveInboundSupply": (
        'mutation($id: ID!) { receiveInboundSupply(id: $id, lines: [{sku: "MUG-STONE", quantity: 1}], '
        'idempotencyKey: "m") { inboundSupply { status } userErrors { code } } }',
        lambda ids: {"id": ids["supply"]},
    ),
    "cancelInboundSupply": (
        "mutation($id: ID!) { cancelInboundSupply(id: $id) { inboundSupply { status } userErrors { code } } }",
        lambda ids: {"id": ids["supply"]},
    ),
    "order": ("query($id: ID!) { order(id: $id) { id } }", lambda ids: {"id": ids["order"]}),
    "orderByExternalId": (
        '{ orderByExternalId(channel: "web-fr", externalId: "M-1") { id } }',
        lambda ids: {},
    ),
    "orders": ("{ orders(first: 5) { totalCount } }", lambda ids: {}),
    "sourcingPreview": (
        "query($input: PlaceOrderInput!) { sourcingPreview(input: $input) { unallocated { sku } } }",
        lambda ids: {"input": {**variables("PlaceOrder")["input"], "externalId": "M-2"}},
    ),
    "placeOrder": (
        'mutation($input: PlaceOrderInput!) { placeOrder(input: $input, idempotencyKey: "m") { order { id } userErrors { code } } }',
        lambda ids: {"input": {**variables("PlaceOrder")["input"], "externalId": "M-3"}},
    ),
    "cancelOrder": (
        "mutation($id: ID!) { cancelOrder(orderId: $id) { order { status } userErrors { code } } }",
        lambda ids: {"id": ids["order"]},
    ),
    "cancelOrderLines": (
        "mutation($input: CancelOrderLinesInput!) { cancelOrderLines(input: $input) { order { status } userErrors { code } } }",
        lambda ids: {
            "input": {
                "orderId": ids["order"],
                "lines": [{"orderLineId": ids["order-line"], "quantity": 1}],
            }
        },
    ),
    "shipments": (
        '{ shipments(location: "WH-LYON", first: 5) { edges { node { id } } } }',
        lambda ids: {},
    ),
    "shipment": (
        "query($id: ID!) { shipment(id: $id) { id } }",
        lambda ids: {"id": ids["shipment"]},
    ),
    "startPicking": (
        "mutation($id: ID!) { startPicking(shipmentId: $id) { shipment { status } userErrors { code } } }",
        lambda ids: {"id": ids["shipment"]},
    ),
    "packShipment": (
        "mutation($id: ID!) { packShipment(shipmentId: $id) { shipment { status } userErrors { code } } }",
        lambda ids: {"id": ids["packable"]},
    ),
    "shipShipment": (
        'mutation($id: ID!) { shipShipment(input: {shipmentId: $id, carrier: "COLISSIMO", trackingNumber: "6A999"})'
        " { shipment { status } userErrors { code } } }",
        lambda ids: {"id": ids["shippable"]},
    ),
    "markReadyForPickup": (
        "mutation($id: ID!) { markReadyForPickup(shipmentId: $id) { shipment { status } userErrors { code } } }",
        lambda ids: {"id": ids["pickable"]},
    ),
    "confirmPickup": (
        "mutation($id: ID!, $code: String!) { confirmPickup(shipmentId: $id, pickupCode: $code)"
        " { shipment { status } userErrors { code } } }",
        lambda ids: {"id": ids["ready"], "code": ids["pickup-code"]},
    ),
    "recordTrackingEvent": (
        'mutation($id: ID!) { recordTrackingEvent(input: {shipmentId: $id, eventId: "m-1", status: IN_TRANSIT,'
        ' occurredAt: "2026-11-23T08:30:00Z"}) { shipment { status } duplicate userErrors { code } } }',
        lambda ids: {"id": ids["shipped"]},
    ),
    "return": (
        "query($id: ID!) { return(id: $id) { id } }",
        lambda ids: {"id": ids["return-approved"]},
    ),
    "requestReturn": (
        'mutation($input: RequestReturnInput!) { requestReturn(input: $input, idempotencyKey: "m")'
        " { return { id } userErrors { code } } }",
        lambda ids: {
            "input": {
                "orderId": ids["delivered"],
                "lines": [
                    {"orderLineId": ids["delivered-line"], "quantity": 1, "reasonCode": "OTHER"}
                ],
            }
        },
    ),
    "approveReturn": (
        "mutation($id: ID!) { approveReturn(returnId: $id) { return { status } userErrors { code } } }",
        lambda ids: {"id": ids["return-requested"]},
    ),
    "rejectReturn": (
        'mutation($id: ID!) { rejectReturn(returnId: $id, reason: "no") { return { status } userErrors { code } } }',
        lambda ids: {"id": ids["return-requested"]},
    ),
    "cancelReturn": (
        "mutation($id: ID!) { cancelReturn(returnId: $id) { return { status } userErrors { code } } }",
        lambda ids: {"id": ids["return-approved"]},
    ),
    "receiveReturn": (
        'mutation($id: ID!) { receiveReturn(input: {returnId: $id, location: "WH-LYON", lines: [{sku: "MUG-STONE",'
        ' quantity: 1, condition: GOOD, disposition: REPAIR}]}, idempotencyKey: "m") { return { status } userErrors { code } } }',
        lambda ids: {"id": ids["return-approved"]},
    ),
    "completeRepair": (
        'mutation($id: ID!) { completeRepair(input: {returnId: $id, sku: "MUG-STONE", quantity: 1, outcome: RESTOCK})'
        " { return { status } userErrors { code } } }",
        lambda ids: {"id": ids["return-repairing"]},
    ),
    "refundReturn": (
        'mutation($id: ID!) { refundReturn(returnId: $id, idempotencyKey: "m") { refund { status } userErrors { code } } }',
        lambda ids: {"id": ids["return-repairing"]},
    ),
    "refundProviderCallback": (
        "mutation($id: ID!) { refundProviderCallback(refundId: $id, succeeded: true) { refund { status } userErrors { code } } }",
        lambda ids: {"id": ids["refund"]},
    ),
    "webhookSubscriptions": ("{ webhookSubscriptions { id } }", lambda ids: {}),
    "webhookDeliveries": ("{ webhookDeliveries(first: 5) { totalCount } }", lambda ids: {}),
    "createWebhookSubscription": (
        'mutation { createWebhookSubscription(input: {url: "https://matrix.example.com/hook", '
        'topics: ["ORDER_PLACED"]}) { secret userErrors { code } } }',
        lambda ids: {},
    ),
    "deleteWebhookSubscription": (
        "mutation($id: ID!) { deleteWebhookSubscription(id: $id) { webhookSubscription { id } } }",
        lambda ids: {"id": "V2ViaG9va1N1YnNjcmlwdGlvbjox"},  # WebhookSubscription:1
    ),
    "replayWebhookDelivery": (
        "mutation($id: ID!) { replayWebhookDelivery(id: $id) { webhookDelivery { id } } }",
        lambda ids: {"id": "V2ViaG9va0RlbGl2ZXJ5OjE"},  # WebhookDelivery:1
    ),
    "ordersReport": (
        '{ ordersReport(from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z") { fillRate } }',
        lambda ids: {},
    ),
    "returnsReport": (
        '{ returnsReport(from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z") { byReason { units } } }',
        lambda ids: {},
    ),
    "channelPublications": (
        '{ channelPublications(channel: "web-fr", first: 5) { totalCount } }',
        lambda ids: {},
    ),
    "channelSyncStatus": ('{ channelSyncStatus(channel: "web-fr") { channel } }', lambda ids: {}),
    "inventoryAlerts": ("{ inventoryAlerts(first: 5) { totalCount } }", lambda ids: {}),
}


def live_root_fields() -> set[str]:
    schema = build_schema()._schema
    fields = set(schema.query_type.fields)
    if schema.mutation_type is not None:
        fields |= set(schema.mutation_type.fields)
    return fields


def test_every_operation_is_in_the_authorization_matrix() -> None:
    live = live_root_fields()
    missing = sorted(live - set(MATRIX))
    assert not missing, f"root fields missing from MATRIX (say who may run them): {missing}"
    gone = sorted(set(MATRIX) - live)
    assert not gone, f"MATRIX names fields the schema no longer has: {gone}"
    for field, allowed in MATRIX.items():
        assert allowed and allowed <= EVERYONE, field


def test_every_operation_of_the_matrix_has_a_minimal_document() -> None:
    missing = sorted(set(MATRIX) - set(MINIMAL))
    assert not missing, f"no minimal document to check the authorization of: {missing}"
    schema = build_schema()._schema
    from graphql import parse, validate

    for field, (document, _) in MINIMAL.items():
        assert validate(schema, parse(document)) == [], field


async def credentials(api: Api, world: World) -> dict[str, str | None]:
    return {
        ADMIN: world.admin,
        CHANNEL: world.channel,
        PARTNER: world.keys["both-partner"],
        CARRIER: world.keys["carrier"],  # COLISSIMO, the carrier of the world's parcels
        CUSTOMER: await world.customer_token(api),
        ANONYMOUS: None,
    }


# What each operation's minimal document needs to exist first (built only for it: the
# matrix runs hundreds of cases).
NEEDS_SUPPLY = {"receiveInboundSupply", "cancelInboundSupply"}
NEEDS_ORDER = {"placeOrder", "order", "cancelOrder", "cancelOrderLines", "shipment", "startPicking"}
NEEDS_RETURNS = {
    "return",
    "requestReturn",
    "approveReturn",
    "rejectReturn",
    "cancelReturn",
    "receiveReturn",
    "completeRepair",
    "refundReturn",
    "refundProviderCallback",
}
NEEDS_SHIPMENTS = {
    "packShipment",
    "shipShipment",
    "markReadyForPickup",
    "confirmPickup",
    "recordTrackingEvent",
}


async def world_ids(api: Api, world: World, field: str = "") -> Ids:
    data = await api.run("{ channels { code id } apiKeys { name role id } }", key=world.admin)
    ids = {c["code"]: c["id"] for c in data["channels"]}
    [partner_key] = [k["id"] for k in data["apiKeys"] if k["name"] == "Lyon WMS"]
    ids["partner-key"] = partner_key
    if field in NEEDS_SUPPLY:
        await _supply(api, world, ids)
    if field in NEEDS_ORDER | NEEDS_SHIPMENTS:
        await _order(api, world, ids)
    if field in NEEDS_SHIPMENTS:
        await _shipments(api, world, ids)
    if field in NEEDS_RETURNS:
        await _returns(api, world, ids)
    return ids


async def _returns(api: Api, world: World, ids: Ids) -> None:
    """A delivered order with three returns: approved, requested (outside policy: a
    merchant's), and one under repair with a pending refund."""
    await api.run(
        'mutation { adjustStockBatch(input: {location: "WH-LYON", lines: [{sku: "MUG-STONE", delta: 50, reason: FOUND},'
        ' {sku: "TEE-BLUE-M", delta: 50, reason: FOUND}]}, idempotencyKey: "world-returns") { userErrors { code } } }',
        key=world.admin,
    )
    v = {**variables("PlaceOrder"), "idempotencyKey": "world-delivered"}
    v["input"] = {**v["input"], "externalId": "W-DELIVERED"}
    v["input"]["lines"] = [{**v["input"]["lines"][1], "quantity": 5}]  # five mugs
    order = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await api.op(name, {"shipmentId": shipment}, key=world.admin)
    ship = variables("ShipShipment")
    ship["input"].update(shipmentId=shipment, trackingNumber="TRKDELIVERED")
    await api.op("ShipShipment", ship, key=world.admin)
    track = variables("RecordTrackingEvent")
    track["input"].update(
        eventId="w-d",
        status="DELIVERED",
        occurredAt="2026-11-23T09:00:00+01:00",
        trackingNumber="TRKDELIVERED",
    )
    await api.op("RecordTrackingEvent", track, key=world.admin)
    ids["delivered"] = order["id"]
    ids["delivered-line"] = order["lines"][0]["id"]

    async def open_return(key: str, idem: str, **extra: Any) -> str:
        answer = await api.op(
            "RequestReturn",
            {
                "input": {
                    "orderId": order["id"],
                    "lines": [
                        {
                            "orderLineId": order["lines"][0]["id"],
                            "quantity": 1,
                            "reasonCode": "OTHER",
                        }
                    ],
                    **extra,
                },
                "idempotencyKey": idem,
            },
            key=key,
        )
        return str(answer["requestReturn"]["return"]["id"])

    ids["return-approved"] = await open_return(world.admin, "w-r1")
    repairing = await open_return(world.admin, "w-r2")
    await api.run(
        'mutation($id: ID!) { receiveReturn(input: {returnId: $id, location: "WH-LYON", lines: [{sku: "MUG-STONE", quantity: 1,'
        ' condition: DAMAGED, disposition: REPAIR}]}, idempotencyKey: "w-rc") { userErrors { code } } }',
        {"id": repairing},
        key=world.admin,
    )
    ids["return-repairing"] = repairing
    refunded = await open_return(world.admin, "w-r4")
    await api.run(
        'mutation($id: ID!) { receiveReturn(input: {returnId: $id, location: "WH-LYON", lines: [{sku: "MUG-STONE", quantity: 1,'
        ' condition: GOOD, disposition: RESTOCK}]}, idempotencyKey: "w-rc4") { userErrors { code } } }',
        {"id": refunded},
        key=world.admin,
    )
    refund = await api.run(
        'mutation($id: ID!) { refundReturn(returnId: $id, idempotencyKey: "w-refund") { refund { id } } }',
        {"id": refunded},
        key=world.admin,
    )
    ids["refund"] = refund["refundReturn"]["refund"]["id"]
    # Outside policy (the product made non-returnable for a moment), a merchant's case waits.
    products = variables("UpsertProducts")["input"]
    mug = next(p for p in products if p["sku"] == "MUG-STONE")
    await api.op("UpsertProducts", {"input": [{**mug, "returnable": False}]}, key=world.admin)
    ids["return-requested"] = await open_return(world.admin, "w-r3")
    await api.op("UpsertProducts", {"input": [mug]}, key=world.admin)


async def _supply(api: Api, world: World, ids: Ids) -> None:
    supply = await api.run(
        'mutation { createInboundSupply(input: {reference: "PO-WORLD", kind: PURCHASE_ORDER, location: "WH-LYON",'
        ' expectedAt: "2026-12-01T00:00:00Z", lines: [{sku: "MUG-STONE", quantity: 5}]}) { inboundSupply { id } } }',
        key=world.admin,
    )
    ids["supply"] = supply["createInboundSupply"]["inboundSupply"]["id"]


async def _order(api: Api, world: World, ids: Ids) -> None:
    await api.run(
        'mutation { adjustStockBatch(input: {location: "WH-LYON", lines: [{sku: "MUG-STONE", delta: 50, reason: FOUND},'
        ' {sku: "TEE-BLUE-M", delta: 50, reason: FOUND}]}, idempotencyKey: "world") { userErrors { code } } }',
        key=world.admin,
    )
    placed = await api.op(
        "PlaceOrder",
        {**variables("PlaceOrder"), "idempotencyKey": "world-order"},
        key=world.channel,
    )
    ids["order"] = placed["placeOrder"]["order"]["id"]
    ids["order-line"] = placed["placeOrder"]["order"]["lines"][0]["id"]
    ids["shipment"] = placed["placeOrder"]["order"]["shipments"][0]["id"]


async def _shipments(api: Api, world: World, ids: Ids) -> None:
    await api.run(
        'mutation { adjustStockBatch(input: {location: "ST-PARIS-11", lines: [{sku: "MUG-STONE", delta: 50, reason: FOUND},'
        ' {sku: "TEE-BLUE-M", delta: 50, reason: FOUND}]}, idempotencyKey: "world-paris") { userErrors { code } } }',
        key=world.admin,
    )

    async def shipment_in(states: list[str], external_id: str, pickup: bool = False) -> str:
        v = {**variables("PlaceOrder"), "idempotencyKey": f"world-{external_id}"}
        v["input"] = {**v["input"], "externalId": external_id}
        if pickup:
            v["input"]["delivery"] = {"method": "PICKUP", "pickupLocation": "ST-PARIS-11"}
        order = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
        shipment = order["shipments"][0]["id"]
        for state in states:
            if state == "ship":
                v = variables("ShipShipment")
                v["input"].update(
                    shipmentId=shipment, trackingNumber=f"TRK{external_id.replace('-', '')}"
                )
                await api.op("ShipShipment", v, key=world.admin)
            else:
                await api.op(state, {"shipmentId": shipment}, key=world.admin)
        return str(shipment)

    ids["packable"] = await shipment_in(["StartPicking"], "W-PACK")
    ids["pickable"] = await shipment_in(["StartPicking"], "W-PICKUP", pickup=True)
    ids["shippable"] = await shipment_in(["StartPicking", "PackShipment"], "W-SHIP")
    ids["shipped"] = await shipment_in(["StartPicking", "PackShipment", "ship"], "W-SHIPPED")
    ready = await shipment_in(["StartPicking", "MarkReadyForPickup"], "W-READY", pickup=True)
    ids["ready"] = ready
    code = await api.run(
        "query ($id: ID!) { node(id: $id) { ... on Shipment { pickupCode } } }",
        {"id": ready},
        key=world.admin,
    )
    ids["pickup-code"] = code["node"]["pickupCode"]


def minimal(field: str) -> tuple[str, Callable[[Ids], dict[str, Any]]]:
    if field not in MINIMAL:
        pytest.fail(
            f"no minimal document for {field!r}: add one to MINIMAL in {__name__} "
            "so its authorization is checked"
        )
    return MINIMAL[field]


REFUSED_CASES = [(f, p) for f in MATRIX for p in PRINCIPALS if p not in MATRIX[f]]
ALLOWED_CASES = [(f, p) for f in MATRIX for p in PRINCIPALS if p in MATRIX[f]]
STATUS_OF = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}


@pytest.mark.parametrize(("field", "principal"), REFUSED_CASES)
async def test_an_operation_is_refused_to_a_principal_outside_the_matrix(
    api: Api,
    world: World,
    engine: Any,
    table_names: list[str],
    field: str,
    principal: str,
) -> None:
    document, make_variables = minimal(field)
    key = (await credentials(api, world))[principal]
    ids = await world_ids(api, world, field)
    before, rows = await snapshot(api, world), await row_counts(engine, table_names)

    response = await api.post(document, make_variables(ids), key=key)

    body = response.json()
    codes = error_codes(body)
    data = body.get("data")
    if codes:
        expected = "UNAUTHENTICATED" if principal == ANONYMOUS else "FORBIDDEN"
        assert codes == [expected], body
        assert body["errors"][0]["path"] == [field], body
        assert data is None or data == {field: None}, body
        assert response.status_code == (STATUS_OF[expected] if data is None else 200), body
    else:
        assert field in READ_BY_ID, f"{field} answered {principal} without refusing: {body}"
        assert data == {field: None}, body
        assert response.status_code == 200
    assert await snapshot(api, world) == before
    assert await row_counts(engine, table_names) == rows


@pytest.mark.parametrize(("field", "principal"), ALLOWED_CASES)
async def test_an_operation_runs_for_a_principal_in_the_matrix(
    api: Api, world: World, field: str, principal: str
) -> None:
    document, make_variables = minimal(field)
    key = (await credentials(api, world))[principal]
    ids = await world_ids(api, world, field)

    response = await api.post(document, make_variables(ids), key=key)

    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    assert field in body["data"]
    payload = body["data"][field]
    if isinstance(payload, dict) and "userErrors" in payload:
        assert payload["userErrors"] == [], body
