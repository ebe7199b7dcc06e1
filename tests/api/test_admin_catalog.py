"""The admin console's catalog operations: locations, channels, products and API keys.

Each client operation runs unchanged, with the variables of variables.json, and its
whole answer is checked; refusals are checked to leave the database as it was, by
reading it back through the API.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.fixtures import World, make_key, variables
from tests.support import Api, operation

ADMIN_SECRET = "oms_catalog_admin_secret_0000000000"

LOCATION_FIELDS = """
  id code name kind
  address { name line1 line2 city postalCode countryCode }
  latitude longitude timezone canShip canPickup priority
  costPerShipment { amount currency }
  handlingDays cutoffHour dailyCapacity
"""

CHANNEL_FIELDS = """
  id code name kind currency allowBackorders
  allocation { sharePercent buffer excludedSkus skuRules { sku sharePercent buffer excluded } }
  sourcing { rules maxSplits }
  returnPolicy { windowDays refundShipping }
  publishTarget { webhookUrl feedDirectory }
  network { code }
"""

PRODUCT_FIELDS = "id sku name weightGrams hsCode countryOfOrigin returnable returnWindowDays"

CATALOG = f"""{{
  locations {{ {LOCATION_FIELDS} }}
  products(first: 100) {{ edges {{ node {{ {PRODUCT_FIELDS} }} }} pageInfo {{ hasNextPage }} }}
  channels {{ {CHANNEL_FIELDS} }}
  apiKeys {{ id name role prefix channelCode locationCodes createdAt revokedAt }}
}}"""


@pytest.fixture
async def admin(api: Api, sessionmaker: Any) -> str:
    """An admin key on an empty database (no world)."""
    return await make_key(sessionmaker, "ADMIN", "catalog admin", secret=ADMIN_SECRET)


async def catalog(api: Api, admin: str) -> dict[str, Any]:
    """Everything this module's operations can write, as the API shows it."""
    return await api.run(CATALOG, key=admin)


async def refetch(
    api: Api, admin: str, id: str, type_name: str, fields: str
) -> dict[str, Any] | None:
    """`node(id:)` as the admin sees it."""
    assert isinstance(id, str) and id
    data = await api.run(
        f"query($id: ID!) {{ node(id: $id) {{ __typename id ... on {type_name} {{ {fields} }} }} }}",
        {"id": id},
        key=admin,
    )
    return data["node"]


def location_as_stored(line: dict[str, Any], id: str) -> dict[str, Any]:
    """A LocationInput line of variables.json as the API answers it."""
    address = {"name": None, "line2": None, **line["address"]}
    return {
        "id": id,
        **{k: v for k, v in line.items() if k != "address"},
        "address": {
            k: address[k] for k in ("name", "line1", "line2", "city", "postalCode", "countryCode")
        },
    }


# ---------- locations ----------


async def test_upsert_locations_as_the_console_sends_it(api: Api, admin: str) -> None:
    sent = variables("UpsertLocations")
    data = await api.op("UpsertLocations", sent, key=admin)

    stored = data["upsertLocations"]["locations"]
    ids = [loc["id"] for loc in stored]
    assert all(isinstance(i, str) and i for i in ids)
    assert len(set(ids)) == 2
    assert data == {
        "upsertLocations": {
            "locations": [
                {
                    "id": ids[0],
                    "code": "WH-LYON",
                    "kind": "WAREHOUSE",
                    "canShip": True,
                    "canPickup": False,
                },
                {
                    "id": ids[1],
                    "code": "ST-PARIS-11",
                    "kind": "STORE",
                    "canShip": True,
                    "canPickup": True,
                },
            ],
            "userErrors": [],
        }
    }

    # Every field that was sent is stored as sent, and the ids refetch the locations.
    expected = [location_as_stored(line, id) for line, id in zip(sent["input"], ids, strict=True)]
    for want in expected:
        assert await refetch(api, admin, want["id"], "Location", LOCATION_FIELDS) == {
            "__typename": "Location",
            **want,
        }
    listed = await api.run(f"{{ locations {{ {LOCATION_FIELDS} }} }}", key=admin)
    assert listed == {"locations": sorted(expected, key=lambda x: x["code"])}
    one = await api.run(f'{{ location(code: "WH-LYON") {{ {LOCATION_FIELDS} }} }}', key=admin)
    assert one == {"location": expected[0]}


async def test_upsert_locations_twice_updates_them_by_code(api: Api, admin: str) -> None:
    first = await api.op("UpsertLocations", variables("UpsertLocations"), key=admin)
    ids = [loc["id"] for loc in first["upsertLocations"]["locations"]]

    again = variables("UpsertLocations")
    again["input"][0]["name"] = "Lyon DC (Gerland)"
    again["input"][0]["dailyCapacity"] = 6000
    again["input"][1]["canPickup"] = False
    second = await api.op("UpsertLocations", again, key=admin)

    assert second["upsertLocations"]["userErrors"] == []
    assert [loc["id"] for loc in second["upsertLocations"]["locations"]] == ids
    assert second["upsertLocations"]["locations"][1]["canPickup"] is False
    listed = await api.run("{ locations { id code name dailyCapacity canPickup } }", key=admin)
    assert listed == {
        "locations": [
            {
                "id": ids[1],
                "code": "ST-PARIS-11",
                "name": "Paris Oberkampf store",
                "dailyCapacity": 80,
                "canPickup": False,
            },
            {
                "id": ids[0],
                "code": "WH-LYON",
                "name": "Lyon DC (Gerland)",
                "dailyCapacity": 6000,
                "canPickup": False,
            },
        ]
    }
    one = await api.run('{ location(code: "WH-LYON") { name } }', key=admin)
    assert one == {"location": {"name": "Lyon DC (Gerland)"}}


async def test_a_location_batch_with_bad_lines_names_each_line_and_writes_none(
    api: Api, world: World
) -> None:
    before = await catalog(api, world.admin)
    lines = variables("UpsertLocations")["input"]
    renamed = {**copy.deepcopy(lines[0]), "name": "Renamed in a refused batch"}
    new = {**copy.deepcopy(lines[1]), "code": "ST-LILLE"}
    bad_latitude = {**copy.deepcopy(lines[1]), "code": "ST-NOWHERE", "latitude": 123}
    bad_timezone = {**copy.deepcopy(lines[1]), "code": "ST-MARS", "timezone": "Mars/Olympus_Mons"}
    bad_country = copy.deepcopy(lines[1])
    bad_country.update(code="ST-XX", address={**bad_country["address"], "countryCode": "XX"})

    data = await api.op(
        "UpsertLocations",
        {"input": [renamed, bad_latitude, bad_timezone, bad_country, new]},
        key=world.admin,
    )

    assert data == {
        "upsertLocations": {
            "locations": [],
            "userErrors": [
                {
                    "code": "INVALID_COORDINATES",
                    "field": ["input", 1, "latitude"],
                    "message": "latitude must be a finite number between -90 and 90",
                },
                {
                    "code": "INVALID_TIMEZONE",
                    "field": ["input", 2, "timezone"],
                    "message": "'Mars/Olympus_Mons' is not an IANA time zone",
                },
                {
                    "code": "INVALID_COUNTRY",
                    "field": ["input", 3, "address", "countryCode"],
                    "message": "'XX' is not an ISO 3166-1 alpha-2 country code",
                },
            ],
        }
    }
    assert await catalog(api, world.admin) == before
    for code in ("ST-LILLE", "ST-NOWHERE", "ST-MARS", "ST-XX"):
        assert await api.run(f'{{ location(code: "{code}") {{ id }} }}', key=world.admin) == {
            "location": None
        }


async def test_a_location_with_a_bad_code_or_out_of_range_numbers_is_refused(
    api: Api, world: World
) -> None:
    before = await catalog(api, world.admin)
    line = variables("UpsertLocations")["input"][1]
    line.update(code="ST PARIS 12", longitude=-181, cutoffHour=24, handlingDays=-1)
    line["costPerShipment"] = {"amount": "6.505", "currency": "EUR"}

    data = await api.op("UpsertLocations", {"input": [line]}, key=world.admin)

    codes = [(e["code"], e["field"]) for e in data["upsertLocations"]["userErrors"]]
    assert codes == [
        ("INVALID_CODE", ["input", 0, "code"]),
        ("INVALID_COORDINATES", ["input", 0, "longitude"]),
        ("OUT_OF_RANGE", ["input", 0, "handlingDays"]),
        ("OUT_OF_RANGE", ["input", 0, "cutoffHour"]),
        ("INVALID_MONEY", ["input", 0, "costPerShipment"]),
    ]
    assert data["upsertLocations"]["locations"] == []
    assert await catalog(api, world.admin) == before


# ---------- channels ----------


async def test_upsert_channel_as_the_console_sends_it(api: Api, admin: str) -> None:
    locations = await api.op("UpsertLocations", variables("UpsertLocations"), key=admin)
    lyon, paris = (loc["id"] for loc in locations["upsertLocations"]["locations"])
    sent = variables("UpsertChannel")

    data = await api.op("UpsertChannel", sent, key=admin)

    channel_id = data["upsertChannel"]["channel"]["id"]
    assert isinstance(channel_id, str) and channel_id
    assert data == {
        "upsertChannel": {
            "channel": {
                "id": channel_id,
                "code": "web-fr",
                "currency": "EUR",
                "network": [{"code": "ST-PARIS-11"}, {"code": "WH-LYON"}],
            },
            "userErrors": [],
        }
    }
    expected = {
        "id": channel_id,
        "code": "web-fr",
        "name": "Web shop France",
        "kind": "WEB",
        "currency": "EUR",
        "allowBackorders": False,
        "allocation": {"sharePercent": 100, "buffer": 0, "excludedSkus": [], "skuRules": []},
        "sourcing": {
            "rules": [
                "PICKUP_LOCATION",
                "FEWEST_PARCELS",
                "DISTANCE",
                "PRIORITY",
                "COST",
                "MOST_STOCK",
            ],
            "maxSplits": 3,
        },
        "returnPolicy": {"windowDays": 30, "refundShipping": False},
        "publishTarget": {
            "webhookUrl": "https://marketplace.example.com/stock",
            "feedDirectory": None,
        },
        "network": [{"code": "ST-PARIS-11"}, {"code": "WH-LYON"}],
    }
    assert await refetch(api, admin, channel_id, "Channel", CHANNEL_FIELDS) == {
        "__typename": "Channel",
        **expected,
    }
    assert await api.run(f'{{ channel(code: "web-fr") {{ {CHANNEL_FIELDS} }} }}', key=admin) == {
        "channel": expected
    }
    assert await api.run(f"{{ channels {{ {CHANNEL_FIELDS} }} }}", key=admin) == {
        "channels": [expected]
    }
    # The network's ids are the locations' own.
    network = await api.run('{ channel(code: "web-fr") { network { id } } }', key=admin)
    assert sorted(n["id"] for n in network["channel"]["network"]) == sorted([lyon, paris])


async def test_upsert_channel_returns_the_publish_secret_once(api: Api, admin: str) -> None:
    await api.op("UpsertLocations", variables("UpsertLocations"), key=admin)
    document = """
      mutation($input: ChannelInput!) {
        upsertChannel(input: $input) { channel { code } publishSecret userErrors { code } }
      }
    """
    sent = variables("UpsertChannel")

    first = await api.run(document, sent, key=admin)
    secret = first["upsertChannel"]["publishSecret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert first == {
        "upsertChannel": {"channel": {"code": "web-fr"}, "publishSecret": secret, "userErrors": []}
    }

    second = await api.run(document, sent, key=admin)
    assert second == {
        "upsertChannel": {"channel": {"code": "web-fr"}, "publishSecret": None, "userErrors": []}
    }
    # Nothing the API shows afterwards contains the secret.
    response = await api.post(CATALOG, key=admin)
    assert secret not in response.text


async def test_upsert_channel_twice_updates_it_by_code(api: Api, world: World) -> None:
    before = await api.run('{ channel(code: "web-fr") { id } }', key=world.admin)
    changed = variables("UpsertChannel")
    changed["input"].update(
        name="Boutique en ligne", network=["WH-LYON"], allowBackorders=True, publishTarget=None
    )
    changed["input"]["allocation"] = {
        "sharePercent": 80,
        "buffer": 2,
        "excludedSkus": ["MUG-STONE"],
    }
    changed["input"]["returnPolicy"] = {"windowDays": 14, "refundShipping": True}

    data = await api.op("UpsertChannel", changed, key=world.admin)

    assert data["upsertChannel"]["userErrors"] == []
    assert data["upsertChannel"]["channel"]["id"] == before["channel"]["id"]
    after = await api.run(
        """{ channel(code: "web-fr") { id name allowBackorders network { code }
             allocation { sharePercent buffer excludedSkus }
             returnPolicy { windowDays refundShipping } publishTarget { webhookUrl } } }""",
        key=world.admin,
    )
    assert after == {
        "channel": {
            "id": before["channel"]["id"],
            "name": "Boutique en ligne",
            "allowBackorders": True,
            "network": [{"code": "WH-LYON"}],
            "allocation": {"sharePercent": 80, "buffer": 2, "excludedSkus": ["MUG-STONE"]},
            "returnPolicy": {"windowDays": 14, "refundShipping": True},
            "publishTarget": {"webhookUrl": None},
        }
    }
    names = await api.run("{ channels { code } }", key=world.admin)
    assert names == {"channels": [{"code": "marketplace-fr"}, {"code": "web-fr"}]}


@pytest.mark.parametrize("currency", ["EUR1", "XYZ", "eur", "XXX", ""])
async def test_a_channel_with_a_currency_that_is_not_iso_4217_is_refused(
    api: Api, world: World, currency: str
) -> None:
    before = await catalog(api, world.admin)
    sent = variables("UpsertChannel")
    sent["input"].update(code="web-xx", currency=currency)

    data = await api.op("UpsertChannel", sent, key=world.admin)

    assert data == {
        "upsertChannel": {
            "channel": None,
            "userErrors": [
                {
                    "code": "INVALID_CURRENCY",
                    "field": ["input", "currency"],
                    "message": f"{currency!r} is not an ISO 4217 currency code",
                }
            ],
        }
    }
    assert await catalog(api, world.admin) == before


async def test_a_channel_selling_from_an_unknown_location_is_refused(
    api: Api, world: World
) -> None:
    before = await catalog(api, world.admin)
    sent = variables("UpsertChannel")
    sent["input"].update(name="Changed", network=["WH-LYON", "WH-NOWHERE"])

    data = await api.op("UpsertChannel", sent, key=world.admin)

    assert data == {
        "upsertChannel": {
            "channel": None,
            "userErrors": [
                {
                    "code": "UNKNOWN_LOCATION",
                    "field": ["input", "network", 1],
                    "message": "no location 'WH-NOWHERE'",
                }
            ],
        }
    }
    assert await catalog(api, world.admin) == before


async def test_a_plain_http_webhook_to_a_public_host_is_refused(api: Api, world: World) -> None:
    before = await catalog(api, world.admin)
    sent = variables("UpsertChannel")
    sent["input"]["publishTarget"] = {"webhookUrl": "http://marketplace.example.com/stock"}

    data = await api.op("UpsertChannel", sent, key=world.admin)

    assert data == {
        "upsertChannel": {
            "channel": None,
            "userErrors": [
                {
                    "code": "INSECURE_URL",
                    "field": ["input", "publishTarget", "webhookUrl"],
                    "message": "use https (plain http is allowed only to loopback in development)",
                }
            ],
        }
    }
    assert await catalog(api, world.admin) == before


async def test_a_plain_http_webhook_to_loopback_is_allowed_in_development(
    api: Api, world: World
) -> None:
    sent = variables("UpsertChannel")
    sent["input"]["publishTarget"] = {"webhookUrl": "http://127.0.0.1:9/x"}

    data = await api.op("UpsertChannel", sent, key=world.admin)

    assert data["upsertChannel"]["userErrors"] == []
    stored = await api.run(
        '{ channel(code: "web-fr") { publishTarget { webhookUrl feedDirectory } } }',
        key=world.admin,
    )
    assert stored == {
        "channel": {"publishTarget": {"webhookUrl": "http://127.0.0.1:9/x", "feedDirectory": None}}
    }


# ---------- products ----------


async def test_upsert_products_as_the_console_sends_it(api: Api, admin: str) -> None:
    sent = variables("UpsertProducts")

    data = await api.op("UpsertProducts", sent, key=admin)

    assert data == {"upsertProducts": {"count": 2, "userErrors": []}}
    listed = await api.run(
        f"{{ products(first: 100) {{ edges {{ cursor node {{ {PRODUCT_FIELDS} }} }} "
        "pageInfo { hasNextPage hasPreviousPage } } }",
        key=admin,
    )
    edges = listed["products"]["edges"]
    ids = [e["node"]["id"] for e in edges]
    assert all(isinstance(i, str) and i for i in ids)
    assert all(isinstance(e["cursor"], str) and e["cursor"] for e in edges)
    expected = [
        {"id": id, **line}
        for id, line in zip(ids, sorted(sent["input"], key=lambda p: p["sku"]), strict=True)
    ]
    assert listed == {
        "products": {
            "edges": [
                {"cursor": e["cursor"], "node": want}
                for e, want in zip(edges, expected, strict=True)
            ],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
        }
    }
    for want in expected:
        assert await refetch(api, admin, want["id"], "Product", PRODUCT_FIELDS) == {
            "__typename": "Product",
            **want,
        }
        one = await api.run(
            f"query($sku: String!) {{ product(sku: $sku) {{ {PRODUCT_FIELDS} }} }}",
            {"sku": want["sku"]},
            key=admin,
        )
        assert one == {"product": want}


async def test_upsert_products_twice_updates_them_by_sku(api: Api, admin: str) -> None:
    await api.op("UpsertProducts", variables("UpsertProducts"), key=admin)
    before = await api.run('{ product(sku: "MUG-STONE") { id } }', key=admin)
    again = variables("UpsertProducts")
    again["input"][1].update(name="Stoneware mug, grey", returnable=False, returnWindowDays=None)

    data = await api.op("UpsertProducts", again, key=admin)

    assert data == {"upsertProducts": {"count": 2, "userErrors": []}}
    after = await api.run(
        '{ product(sku: "MUG-STONE") { id name returnable returnWindowDays } }', key=admin
    )
    assert after == {
        "product": {
            "id": before["product"]["id"],
            "name": "Stoneware mug, grey",
            "returnable": False,
            "returnWindowDays": None,
        }
    }
    skus = await api.run("{ products { edges { node { sku } } } }", key=admin)
    assert skus == {
        "products": {"edges": [{"node": {"sku": "MUG-STONE"}}, {"node": {"sku": "TEE-BLUE-M"}}]}
    }


async def test_five_thousand_products_in_one_call_and_paged_through(api: Api, admin: str) -> None:
    lines = [
        {"sku": f"BULK-{i:05d}", "name": f"Bulk product {i}", "weightGrams": i % 1000}
        for i in range(5000)
    ]

    data = await api.op("UpsertProducts", {"input": lines}, key=admin)

    assert data == {"upsertProducts": {"count": 5000, "userErrors": []}}
    page_query = """
      query($after: String) {
        products(first: 100, after: $after) {
          edges { cursor node { sku name weightGrams } }
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        }
      }
    """
    seen: list[dict[str, Any]] = []
    after = None
    pages = 0
    while True:
        page = (await api.run(page_query, {"after": after}, key=admin))["products"]
        pages += 1
        edges = page["edges"]
        assert len(edges) == 100
        assert page["pageInfo"]["startCursor"] == edges[0]["cursor"]
        assert page["pageInfo"]["endCursor"] == edges[-1]["cursor"]
        seen.extend(e["node"] for e in edges)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert pages < 60
    assert pages == 50
    assert seen == [{k: line[k] for k in ("sku", "name", "weightGrams")} for line in lines]

    # `first` is capped at 100.
    capped = await api.run("{ products(first: 1000) { edges { cursor } } }", key=admin)
    assert len(capped["products"]["edges"]) == 100


@pytest.mark.parametrize("cursor", ["%%%", "!!", "not a cursor"])
async def test_a_cursor_that_is_not_one_is_refused(api: Api, world: World, cursor: str) -> None:
    response = await api.post(
        "query($after: String) { products(first: 10, after: $after) { edges { cursor } } }",
        {"after": cursor},
        key=world.admin,
    )
    body = response.json()
    # Not silently the first page again: a client would loop on it forever.
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "`after` is not a cursor of this connection"


async def test_a_product_batch_with_a_duplicate_sku_writes_nothing(api: Api, world: World) -> None:
    before = await catalog(api, world.admin)
    lines = [
        {"sku": "NEW-1", "name": "New one"},
        {"sku": "MUG-STONE", "name": "Renamed mug"},
        {"sku": "NEW-1", "name": "New one again"},
    ]

    data = await api.op("UpsertProducts", {"input": lines}, key=world.admin)

    assert data == {
        "upsertProducts": {
            "count": 0,
            "userErrors": [
                {
                    "code": "DUPLICATE",
                    "field": ["input", 2, "sku"],
                    "message": "SKU 'NEW-1' appears twice (lines 0 and 2)",
                }
            ],
        }
    }
    assert await catalog(api, world.admin) == before
    assert await api.run('{ product(sku: "NEW-1") { id } }', key=world.admin) == {"product": None}


@pytest.mark.parametrize("sku", ["", "TEE BLUE", "-TEE", "TÉE", "x" * 65, "TEE,BLUE"])
async def test_an_invalid_sku_is_refused(api: Api, world: World, sku: str) -> None:
    before = await catalog(api, world.admin)
    lines = [{"sku": "NEW-OK", "name": "Fine"}, {"sku": sku, "name": "Not fine"}]

    data = await api.op("UpsertProducts", {"input": lines}, key=world.admin)

    assert data == {
        "upsertProducts": {
            "count": 0,
            "userErrors": [
                {
                    "code": "INVALID_CODE",
                    "field": ["input", 1, "sku"],
                    "message": f"SKU {sku!r} must be 1-64 letters, digits or . _ : / - and start with a letter or digit",
                }
            ],
        }
    }
    assert await catalog(api, world.admin) == before


async def test_product_fields_out_of_range_are_each_reported(api: Api, world: World) -> None:
    before = await catalog(api, world.admin)
    lines = [
        {"sku": "NEW-1", "name": " ", "weightGrams": -1},
        {"sku": "NEW-2", "name": "Ok", "hsCode": "61091", "countryOfOrigin": "pt"},
        {"sku": "NEW-3", "name": "Ok", "returnWindowDays": 731},
    ]

    data = await api.op("UpsertProducts", {"input": lines}, key=world.admin)

    assert [(e["code"], e["field"]) for e in data["upsertProducts"]["userErrors"]] == [
        ("REQUIRED", ["input", 0, "name"]),
        ("OUT_OF_RANGE", ["input", 0, "weightGrams"]),
        ("INVALID_HS_CODE", ["input", 1, "hsCode"]),
        ("INVALID_COUNTRY", ["input", 1, "countryOfOrigin"]),
        ("OUT_OF_RANGE", ["input", 2, "returnWindowDays"]),
    ]
    assert data["upsertProducts"]["count"] == 0
    assert await catalog(api, world.admin) == before


# ---------- API keys ----------


async def test_create_api_key_as_the_console_sends_it(api: Api, world: World) -> None:
    data = await api.op("CreateApiKey", variables("CreateApiKey"), key=world.admin)

    payload = data["createApiKey"]
    key_id, secret = payload["apiKey"]["id"], payload["secret"]
    assert isinstance(key_id, str) and key_id
    assert isinstance(secret, str) and secret.startswith("oms_") and len(secret) >= 40
    assert data == {
        "createApiKey": {
            "apiKey": {"id": key_id, "name": "Lyon WMS", "role": "PARTNER"},
            "secret": secret,
            "userErrors": [],
        }
    }

    # The secret authenticates, as a partner of WH-LYON.
    viewer = await api.run("{ viewer { role name channelCode locationCodes } }", key=secret)
    assert viewer == {
        "viewer": {
            "role": "PARTNER",
            "name": "Lyon WMS",
            "channelCode": None,
            "locationCodes": ["WH-LYON"],
        }
    }
    assert await api.run("{ locations { code } }", key=secret) == {
        "locations": [{"code": "WH-LYON"}]
    }

    # apiKeys lists it with its prefix, and never the secret.
    response = await api.post(
        "{ apiKeys { id name role prefix channelCode locationCodes createdAt revokedAt } }",
        key=world.admin,
    )
    assert response.status_code == 200
    assert secret not in response.text
    listed = [k for k in response.json()["data"]["apiKeys"] if k["id"] == key_id]
    assert len(listed) == 1
    assert listed[0] == {
        "id": key_id,
        "name": "Lyon WMS",
        "role": "PARTNER",
        "prefix": secret[:12],
        "channelCode": None,
        "locationCodes": ["WH-LYON"],
        "createdAt": listed[0]["createdAt"],
        "revokedAt": None,
    }
    assert secret.startswith(listed[0]["prefix"]) and len(listed[0]["prefix"]) < len(secret)

    # Its id refetches it.
    assert await refetch(api, world.admin, key_id, "ApiKey", "name role prefix") == {
        "__typename": "ApiKey",
        "id": key_id,
        "name": "Lyon WMS",
        "role": "PARTNER",
        "prefix": secret[:12],
    }


async def test_create_channel_and_admin_keys(api: Api, world: World) -> None:
    channel_key = await api.op(
        "CreateApiKey",
        {
            "input": {
                "name": "Marketplace connector 2",
                "role": "CHANNEL",
                "channel": "marketplace-fr",
            }
        },
        key=world.admin,
    )
    admin_key = await api.op(
        "CreateApiKey", {"input": {"name": "ERP", "role": "ADMIN"}}, key=world.admin
    )
    assert channel_key["createApiKey"]["userErrors"] == []
    assert admin_key["createApiKey"]["userErrors"] == []

    assert await api.run(
        "{ viewer { role name channelCode locationCodes } }",
        key=channel_key["createApiKey"]["secret"],
    ) == {
        "viewer": {
            "role": "CHANNEL",
            "name": "Marketplace connector 2",
            "channelCode": "marketplace-fr",
            "locationCodes": [],
        }
    }
    assert await api.run(
        "{ viewer { role name channelCode locationCodes } }",
        key=admin_key["createApiKey"]["secret"],
    ) == {"viewer": {"role": "ADMIN", "name": "ERP", "channelCode": None, "locationCodes": []}}


@pytest.mark.parametrize(
    ("input", "error"),
    [
        (
            {"name": "Storefront", "role": "CHANNEL", "channel": None, "locations": None},
            {
                "code": "REQUIRED",
                "field": ["input", "channel"],
                "message": "a CHANNEL key is bound to one channel",
            },
        ),
        (
            {"name": "Storefront", "role": "CHANNEL", "channel": "web-de"},
            {
                "code": "UNKNOWN_CHANNEL",
                "field": ["input", "channel"],
                "message": "no channel 'web-de'",
            },
        ),
        (
            {"name": "Lyon WMS", "role": "PARTNER", "channel": None, "locations": ["WH-BERLIN"]},
            {
                "code": "UNKNOWN_LOCATION",
                "field": ["input", "locations", 0],
                "message": "no location 'WH-BERLIN'",
            },
        ),
        (
            {"name": "Lyon WMS", "role": "PARTNER", "locations": []},
            {
                "code": "REQUIRED",
                "field": ["input", "locations"],
                "message": "a PARTNER key is bound to at least one location",
            },
        ),
        (
            {"name": "  ", "role": "ADMIN"},
            {
                "code": "INVALID",
                "field": ["input", "name"],
                "message": "name must be 1 to 200 characters",
            },
        ),
    ],
    ids=[
        "channel-key-without-channel",
        "unknown-channel",
        "unknown-location",
        "no-location",
        "blank-name",
    ],
)
async def test_an_api_key_with_a_missing_or_unknown_binding_is_refused(
    api: Api, world: World, input: dict[str, Any], error: dict[str, Any]
) -> None:
    before = await catalog(api, world.admin)

    data = await api.op("CreateApiKey", {"input": input}, key=world.admin)

    assert data == {"createApiKey": {"apiKey": None, "secret": None, "userErrors": [error]}}
    assert await catalog(api, world.admin) == before


async def test_revoking_an_unknown_api_key_changes_nothing(api: Api, world: World) -> None:
    before = await catalog(api, world.admin)
    document = (
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } userErrors { code field } } }"
    )

    for unknown in ("TG9jYXRpb246MQ", "QXBpS2V5Ojk5OTk5OQ", "not-an-id"):
        data = await api.run(document, {"id": unknown}, key=world.admin)
        assert data == {
            "revokeApiKey": {"apiKey": None, "userErrors": [{"code": "NOT_FOUND", "field": ["id"]}]}
        }
    assert await catalog(api, world.admin) == before


def test_the_client_documents_are_the_ones_run() -> None:
    # Guard against a silent rename in admin.graphql: the tests above run these.
    for name in ("UpsertLocations", "UpsertChannel", "UpsertProducts", "CreateApiKey"):
        assert operation(name).startswith("mutation " + name)
