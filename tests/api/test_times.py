"""Every time the API answers is in one convention: the instant in UTC with a Z, in
DateTime fields and in explanations alike (a store's promise used to say +01:00 and an
order's shipment +00:00 for the same kind of time)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.api.test_orders import stocked
from tests.fixtures import World, variables
from tests.support import Api

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)")


def times_in(value: Any) -> list[str]:
    return [m.group(0) for m in ISO.finditer(json.dumps(value))]


async def test_every_answered_time_is_utc_with_a_z(api: Api, world: World) -> None:
    await stocked(api, world)
    options = await api.op("FulfillmentOptions", variables("FulfillmentOptions"), key=world.channel)
    placed = await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel)
    history = await api.op(
        "OrderHistory", {"id": placed["placeOrder"]["order"]["id"]}, key=world.admin
    )
    seen = times_in(options) + times_in(placed) + times_in(history)
    assert len(seen) >= 8
    assert all(t.endswith("Z") for t in seen), seen
    # The same instant as before, written in UTC: Thursday 20:00 in Lyon.
    assert options["fulfillmentOptions"]["options"][0]["deliverBy"] == "2026-11-26T19:00:00Z"
