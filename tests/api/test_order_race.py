"""Never an oversold unit: many clients racing for the last units of a SKU."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import text

from tests.fixtures import World, variables
from tests.support import Api

PLACE = """mutation ($input: PlaceOrderInput!, $idempotencyKey: String!) {
  placeOrder(input: $input, idempotencyKey: $idempotencyKey) {
    order { id lines { sku quantity quantityAllocated } } userErrors { code field message } } }"""


async def race_world(api: Api, world: World) -> None:
    locations = variables("UpsertLocations")["input"]
    lille = dict(locations[0], code="WH-LILLE", name="Lille", latitude=50.63, longitude=3.06)
    assert (await api.op("UpsertLocations", {"input": [lille]}, key=world.admin))[
        "upsertLocations"
    ]["userErrors"] == []
    products = [{"sku": "R1", "name": "Race one"}, {"sku": "R2", "name": "Race two"}]
    await api.op("UpsertProducts", {"input": products}, key=world.admin)
    channel = variables("UpsertChannel")
    channel["input"].update(
        code="race", network=["WH-LYON", "ST-PARIS-11", "WH-LILLE"], publishTarget=None
    )
    assert (await api.op("UpsertChannel", channel, key=world.admin))["upsertChannel"][
        "userErrors"
    ] == []
    # 10 units of each SKU, spread over three locations
    for i, (location, qty) in enumerate((("WH-LYON", 4), ("ST-PARIS-11", 3), ("WH-LILLE", 3))):
        await api.run(
            """mutation ($input: AdjustStockBatchInput!, $k: String!) { adjustStockBatch(input: $input, idempotencyKey: $k) { userErrors { code } } }""",
            {
                "input": {
                    "location": location,
                    "lines": [
                        {"sku": "R1", "delta": qty, "reason": "RECEIPT"},
                        {"sku": "R2", "delta": qty, "reason": "RECEIPT"},
                    ],
                },
                "k": f"stock-{i}",
            },
            key=world.admin,
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_two_hundred_clients_never_oversell(
    api: Api, world: World, engine: Any, seed: int
) -> None:
    await race_world(api, world)
    rng = random.Random(seed)
    multi_line = seed > 1
    admin_channel_key = world.admin

    def order(i: int) -> dict[str, Any]:
        v = variables("PlaceOrder")
        lines = [
            {
                "sku": "R1",
                "quantity": rng.randint(1, 3),
                "unitPrice": {"amount": "5.00", "currency": "EUR"},
            }
        ]
        if multi_line:
            lines.append(
                {
                    "sku": "R2",
                    "quantity": rng.randint(1, 3),
                    "unitPrice": {"amount": "5.00", "currency": "EUR"},
                }
            )
            rng.shuffle(lines)
        v["input"].update(
            channel="race",
            externalId=f"R-{seed}-{i}",
            lines=lines,
            splitPreference=rng.choice(["FASTEST", "CONSOLIDATE"]),
        )
        v["idempotencyKey"] = f"race-{seed}-{i}"
        return v

    answers = await asyncio.gather(
        *(api.run(PLACE, order(i), key=admin_channel_key) for i in range(200))
    )
    placed = [a["placeOrder"]["order"] for a in answers if a["placeOrder"]["order"]]
    refusals = [e["code"] for a in answers for e in a["placeOrder"]["userErrors"]]
    assert set(refusals) <= {"INSUFFICIENT_STOCK"}
    assert len(placed) + sum(1 for a in answers if a["placeOrder"]["userErrors"]) == 200
    for sku in ("R1", "R2") if multi_line else ("R1",):
        sold = sum(
            line["quantityAllocated"] for o in placed for line in o["lines"] if line["sku"] == sku
        )
        assert sold <= 10
        assert all(
            line["quantityAllocated"] == line["quantity"] for o in placed for line in o["lines"]
        )
        async with engine.connect() as conn:
            reserved = await conn.scalar(
                text("SELECT sum(reserved) FROM stock_levels WHERE sku = :s"), {"s": sku}
            )
            over = await conn.scalar(
                text("SELECT count(*) FROM stock_levels WHERE reserved > on_hand")
            )
        assert reserved == sold
        assert over == 0
    assert len(placed) >= 3  # stock did go to someone
    assert (await api.run("{ ledgerDiscrepancies { sku } }", key=world.admin))[
        "ledgerDiscrepancies"
    ] == []
