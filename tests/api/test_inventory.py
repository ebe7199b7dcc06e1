"""Stock through the partners' and channels' own operations."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fixtures import World, variables
from tests.support import Api

STOCK_LEVELS = "query ($sku: String!) { stockLevels(sku: $sku) { location { code } onHand reserved safetyStock damaged incoming available reorderPoint } }"
LEDGER = "{ ledgerDiscrepancies { sku locationCode onHand ledgerOnHand } }"


async def levels(api: Api, key: str, sku: str) -> dict[str, dict[str, Any]]:
    data = await api.run(STOCK_LEVELS, {"sku": sku}, key=key)
    return {row["location"]["code"]: row for row in data["stockLevels"]}


async def test_set_stock_levels_as_the_wms_sends_it(api: Api, world: World) -> None:
    data = await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    assert data == {
        "setStockLevels": {
            "stockLevels": [
                {
                    "sku": "TEE-BLUE-M",
                    "location": {"code": "WH-LYON"},
                    "onHand": 140,
                    "reserved": 0,
                    "available": 138,
                },
                {
                    "sku": "MUG-STONE",
                    "location": {"code": "WH-LYON"},
                    "onHand": 36,
                    "reserved": 0,
                    "available": 36,
                },
            ],
            "userErrors": [],
        }
    }
    stored = await levels(api, world.admin, "TEE-BLUE-M")
    assert stored["WH-LYON"] == {
        "location": {"code": "WH-LYON"},
        "onHand": 140,
        "reserved": 0,
        "safetyStock": 2,
        "damaged": 0,
        "incoming": 0,
        "available": 138,
        "reorderPoint": 20,
    }
    assert (await api.run(LEDGER, key=world.admin))["ledgerDiscrepancies"] == []


async def test_same_idempotency_key_replays_and_a_different_request_is_refused(
    api: Api, world: World
) -> None:
    first = await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    again = await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    assert again == first
    changed = variables("SetStockLevels")
    changed["input"]["levels"][0]["onHand"] = 1
    refused = await api.op("SetStockLevels", changed, key=world.partner)
    assert refused["setStockLevels"]["stockLevels"] == []
    assert [e["code"] for e in refused["setStockLevels"]["userErrors"]] == [
        "IDEMPOTENCY_KEY_REUSED"
    ]
    assert (await levels(api, world.admin, "TEE-BLUE-M"))["WH-LYON"]["onHand"] == 140


async def test_older_count_is_ignored_and_reported(api: Api, world: World) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    stale = variables("SetStockLevels")
    stale["input"]["asOf"] = "2026-11-22T05:00:00Z"
    stale["input"]["levels"] = [
        {"sku": "TEE-BLUE-M", "onHand": 3},
        {"sku": "MUG-STONE", "onHand": 30},
    ]
    stale["idempotencyKey"] = "older"
    # MUG-STONE was counted at 06:00 too, so both lines are stale.
    query = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
      setStockLevels(input: $input, idempotencyKey: $idempotencyKey) {
        stockLevels { sku onHand } ignored { line sku reason lastCountedAt } userErrors { code } } }"""
    data = await api.run(query, stale, key=world.partner)
    assert data["setStockLevels"]["stockLevels"] == []
    assert data["setStockLevels"]["userErrors"] == [{"code": "STALE_COUNT"}] * 2
    assert data["setStockLevels"]["ignored"] == [
        {
            "line": 0,
            "sku": "TEE-BLUE-M",
            "reason": "STALE",
            "lastCountedAt": "2026-11-22T06:00:00Z",
        },
        {
            "line": 1,
            "sku": "MUG-STONE",
            "reason": "STALE",
            "lastCountedAt": "2026-11-22T06:00:00Z",
        },
    ]
    newer = variables("SetStockLevels")
    newer["input"]["asOf"] = "2026-11-22T07:00:00Z"
    newer["input"]["levels"] = [{"sku": "TEE-BLUE-M", "onHand": 100}]
    newer["idempotencyKey"] = "newer"
    data = await api.run(query, newer, key=world.partner)
    assert data["setStockLevels"]["stockLevels"] == [{"sku": "TEE-BLUE-M", "onHand": 100}]
    assert (await levels(api, world.admin, "TEE-BLUE-M"))["WH-LYON"]["safetyStock"] == 2  # kept


async def test_a_stale_line_is_a_user_error_the_partner_document_sees(
    api: Api, world: World
) -> None:
    """A WMS that reads only userErrors (as the shared partner document does) cannot miss
    a line that was not applied; the other lines are applied."""
    first = variables("SetStockLevels")
    first["input"]["asOf"] = "2026-11-22T07:00:00Z"
    first["input"]["levels"] = [{"sku": "MUG-STONE", "onHand": 36}]
    first["idempotencyKey"] = "mugs-at-7"
    assert (await api.op("SetStockLevels", first, key=world.partner))["setStockLevels"][
        "userErrors"
    ] == []
    # A batch counted at 06:00 arrives late: the tees were never counted, the mugs were
    # counted since.
    late = variables("SetStockLevels")
    late["idempotencyKey"] = "late-6"

    data = await api.op("SetStockLevels", late, key=world.partner)

    assert data == {
        "setStockLevels": {
            "stockLevels": [
                {
                    "sku": "TEE-BLUE-M",
                    "location": {"code": "WH-LYON"},
                    "onHand": 140,
                    "reserved": 0,
                    "available": 138,
                }
            ],
            "userErrors": [
                {
                    "code": "STALE_COUNT",
                    "field": ["input", "levels", 1],
                    "message": "MUG-STONE: not applied, this count (asOf 2026-11-22T06:00:00+00:00)"
                    " is not newer than the count in force (counted at 2026-11-22T07:00:00+00:00,"
                    " onHand now 36); the other lines were applied",
                }
            ],
        }
    }
    assert (await levels(api, world.admin, "MUG-STONE"))["WH-LYON"]["onHand"] == 36
    assert (await levels(api, world.admin, "TEE-BLUE-M"))["WH-LYON"]["onHand"] == 140
    # The retry of the same request answers the same, error included.
    assert await api.op("SetStockLevels", late, key=world.partner) == data


async def test_a_batch_with_one_bad_line_writes_nothing_and_names_the_line(
    api: Api, world: World
) -> None:
    bad = variables("SetStockLevels")
    bad["input"]["levels"].append({"sku": "NO-SUCH-SKU", "onHand": 5})
    bad["input"]["levels"].append({"sku": "MUG-STONE", "onHand": -4})
    data = await api.op("SetStockLevels", bad, key=world.partner)
    errors = data["setStockLevels"]["userErrors"]
    assert {
        "code": "UNKNOWN_SKU",
        "field": ["input", "levels", 2, "sku"],
        "message": "no product 'NO-SUCH-SKU'",
    } in errors
    assert any(
        e["code"] == "DUPLICATE" and e["field"] == ["input", "levels", 3, "sku"] for e in errors
    )
    assert any(
        e["code"] == "OUT_OF_RANGE" and e["field"] == ["input", "levels", 3, "onHand"]
        for e in errors
    )
    assert await levels(api, world.admin, "TEE-BLUE-M") == {}


async def test_partner_cannot_touch_another_partners_location(api: Api, world: World) -> None:
    data = await api.op("SetStockLevels", variables("SetStockLevels"), key=world.other_partner)
    assert data["setStockLevels"]["userErrors"] == [
        {
            "code": "UNKNOWN_LOCATION",
            "field": ["input", "location"],
            "message": "no location 'WH-LYON'",
        }
    ]
    adjust = await api.op("AdjustStock", variables("AdjustStock"), key=world.other_partner)
    assert adjust["adjustStock"]["userErrors"][0]["code"] == "UNKNOWN_LOCATION"
    assert await levels(api, world.admin, "MUG-STONE") == {}
    # and it sees no stock there either
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    assert await levels(api, world.other_partner, "MUG-STONE") == {}


async def test_adjust_stock_as_the_wms_sends_it(api: Api, world: World) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    data = await api.op("AdjustStock", variables("AdjustStock"), key=world.partner)
    assert data == {
        "adjustStock": {
            "stockLevel": {"sku": "MUG-STONE", "onHand": 35, "available": 35},
            "userErrors": [],
        }
    }
    replay = await api.op("AdjustStock", variables("AdjustStock"), key=world.partner)
    assert replay == data
    assert (await levels(api, world.admin, "MUG-STONE"))["WH-LYON"]["onHand"] == 35
    assert (await api.run(LEDGER, key=world.admin))["ledgerDiscrepancies"] == []


async def test_adjustment_below_zero_is_refused(api: Api, world: World) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    v = variables("AdjustStock")
    v["input"]["delta"] = -37
    data = await api.op("AdjustStock", v, key=world.partner)
    assert data["adjustStock"]["stockLevel"] is None
    assert data["adjustStock"]["userErrors"][0]["code"] == "NEGATIVE_STOCK"
    assert data["adjustStock"]["userErrors"][0]["field"] == ["input", "delta"]
    assert (await levels(api, world.admin, "MUG-STONE"))["WH-LYON"]["onHand"] == 36


async def test_low_stock_lists_levels_at_or_below_their_reorder_point(
    api: Api, world: World
) -> None:
    v = variables("SetStockLevels")
    v["input"]["levels"] = [
        {
            "sku": "TEE-BLUE-M",
            "onHand": 12,
            "safetyStock": 2,
            "reorderPoint": 10,
        },  # available 10: low
        {"sku": "MUG-STONE", "onHand": 36, "safetyStock": 0, "reorderPoint": 10},  # fine
    ]
    await api.op("SetStockLevels", v, key=world.partner)
    data = await api.op("LowStock", variables("LowStock"), key=world.admin)
    assert data == {
        "lowStock": [
            {
                "sku": "TEE-BLUE-M",
                "location": {"code": "WH-LYON"},
                "available": 10,
                "reorderPoint": 10,
            }
        ]
    }
    assert (await api.op("LowStock", variables("LowStock"), key=world.other_partner)) == {
        "lowStock": []
    }


async def test_stock_levels_as_the_console_reads_them(api: Api, world: World) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    data = await api.op("StockLevels", variables("StockLevels"), key=world.admin)
    assert data == {
        "stockLevels": [
            {
                "location": {"code": "WH-LYON"},
                "onHand": 140,
                "reserved": 0,
                "safetyStock": 2,
                "damaged": 0,
                "incoming": 0,
                "available": 138,
            }
        ]
    }


async def test_ten_thousand_lines_in_one_call(api: Api, world: World) -> None:
    products = [{"sku": f"BULK-{i:05d}", "name": f"Bulk {i}"} for i in range(10_000)]
    for start in range(0, 10_000, 5_000):
        res = await api.op(
            "UpsertProducts", {"input": products[start : start + 5_000]}, key=world.admin
        )
        assert res["upsertProducts"]["count"] == 5_000
    v = {
        "input": {
            "location": "WH-LYON",
            "asOf": "2026-11-22T06:00:00Z",
            "levels": [{"sku": p["sku"], "onHand": i % 50} for i, p in enumerate(products)],
        },
        "idempotencyKey": "bulk-1",
    }
    query = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
      setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code } } }"""
    data = await api.run(query, v, key=world.partner)
    assert data["setStockLevels"]["userErrors"] == []
    assert (await levels(api, world.admin, "BULK-09999"))["WH-LYON"]["onHand"] == 49
    assert (await api.run(LEDGER, key=world.admin))["ledgerDiscrepancies"] == []


async def test_concurrent_counts_and_adjustments_keep_the_ledger_exact(
    api: Api, world: World
) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)

    async def adjust(i: int) -> None:
        v = variables("AdjustStock")
        v["input"]["delta"] = 1 if i % 2 else -1
        v["idempotencyKey"] = f"adj-{i}"
        await api.op("AdjustStock", v, key=world.partner)

    await asyncio.gather(*(adjust(i) for i in range(40)))
    assert (await levels(api, world.admin, "MUG-STONE"))["WH-LYON"]["onHand"] == 36
    assert (await api.run(LEDGER, key=world.admin))["ledgerDiscrepancies"] == []
