"""A wider French network for the storefront's sourcing tests, added to the small world
of tests/fixtures.py through the admin's own operations (coordinates as in the demo
data set, api/demo.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from tests.fixtures import World, variables
from tests.support import Api

SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code field message } } }"""

_counts = itertools.count()

# code, kind, city, postal code, country, latitude, longitude, time zone, can ship, can pickup
PLACES = {
    "WH-PARIS-NORD": (
        "WAREHOUSE",
        "Gonesse",
        "95500",
        "FR",
        48.98,
        2.47,
        "Europe/Paris",
        True,
        False,
    ),
    "WH-LILLE": ("WAREHOUSE", "Lesquin", "59810", "FR", 50.578, 3.104, "Europe/Paris", True, False),
    "WH-BORDEAUX": (
        "WAREHOUSE",
        "Bordeaux",
        "33300",
        "FR",
        44.869,
        -0.554,
        "Europe/Paris",
        True,
        False,
    ),
    "WH-MARSEILLE": (
        "WAREHOUSE",
        "Marseille",
        "13015",
        "FR",
        43.353,
        5.344,
        "Europe/Paris",
        True,
        False,
    ),
    "ST-MARSEILLE-01": (
        "STORE",
        "Marseille",
        "13001",
        "FR",
        43.2926,
        5.3781,
        "Europe/Paris",
        True,
        True,
    ),
    "ST-NICE": ("STORE", "Nice", "06000", "FR", 43.702, 7.267, "Europe/Paris", True, True),
    "ST-STRASBOURG": (
        "STORE",
        "Strasbourg",
        "67000",
        "FR",
        48.5836,
        7.7475,
        "Europe/Paris",
        True,
        True,
    ),
    "ST-GENEVE": ("STORE", "Genève", "1204", "CH", 46.204, 6.148, "Europe/Zurich", False, True),
    "ST-PARIS-02": ("STORE", "Paris", "75002", "FR", 48.8686, 2.3412, "Europe/Paris", True, True),
}


def location_input(code: str, **changes: Any) -> dict[str, Any]:
    kind, city, postal, country, lat, lon, tz, ship, pickup = PLACES[code]
    loc = {
        "code": code,
        "name": f"{code} ({city})",
        "kind": kind,
        "address": {
            "line1": "1 rue du Test",
            "city": city,
            "postalCode": postal,
            "countryCode": country,
        },
        "latitude": lat,
        "longitude": lon,
        "timezone": tz,
        "canShip": ship,
        "canPickup": pickup,
        "priority": 10 if kind == "WAREHOUSE" else 50,
        "costPerShipment": {"amount": "6.50", "currency": "EUR"},
        "handlingDays": 1 if kind == "WAREHOUSE" else 0,
        "cutoffHour": 15 if kind == "WAREHOUSE" else 17,
    }
    loc.update(changes)
    return loc


async def add_locations(
    api: Api, world: World, codes: list[str], *, channel: str = "web-fr", **changes: Any
) -> None:
    """Create the locations and put them in the channel's network (with its own)."""
    res = await api.op(
        "UpsertLocations",
        {"input": [location_input(code, **changes) for code in codes]},
        key=world.admin,
    )
    assert res["upsertLocations"]["userErrors"] == []
    v = variables("UpsertChannel")
    v["input"]["publishTarget"] = None
    if channel != "web-fr":
        v["input"].update(code="marketplace-fr", name="Marketplace France", kind="MARKETPLACE")
        v["input"]["network"] = ["WH-LYON"]
        v["input"]["allocation"] = {"sharePercent": 50, "buffer": 1, "excludedSkus": []}
    v["input"]["network"] = [*v["input"]["network"], *codes]
    res = await api.op("UpsertChannel", v, key=world.admin)
    assert res["upsertChannel"]["userErrors"] == []


async def stock(api: Api, key: str, location: str, levels: list[dict[str, Any]]) -> None:
    as_of = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_counts))
    data = await api.run(
        SET,
        {
            "input": {"location": location, "asOf": as_of.isoformat(), "levels": levels},
            "idempotencyKey": f"sf-{location}-{as_of.isoformat()}",
        },
        key=key,
    )
    assert data["setStockLevels"]["userErrors"] == []
