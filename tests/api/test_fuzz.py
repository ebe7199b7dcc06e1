"""Property-based fuzzing of the whole schema under every role.

hypothesis-graphql writes valid-looking queries and mutations from the committed
schema (strings with NUL bytes, extreme numbers, any enum, any nesting the schema
allows) and each is sent through the HTTP endpoint as one role. Whatever it sends:
no HTTP 5xx, no INTERNAL error, nothing of another tenant in any answer, and the
stock ledger still matches every stock level afterwards.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from hypothesis_graphql import strategies as gql

from domain.inventory.service import ledger_discrepancies
from tests.fixtures import World, variables
from tests.support import Api

SCHEMA = (Path(__file__).parents[2] / "schema.graphql").read_text()
EXAMPLES_PER_ROLE = 150

CUSTOM_SCALARS = {
    "DateTime": st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.UTC),
    ).map(lambda d: nodes.String(d.isoformat())),
    "Decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
        st.sampled_from(["1e999999", "-1e999999", "NaN", "Infinity", "1" * 400, "0.000001"]),
        st.text(max_size=12),
    ).map(nodes.String),
    "JSON": st.one_of(st.text(max_size=20).map(nodes.String), st.integers().map(nodes.Int)),
}

OPERATIONS = st.one_of(
    gql.queries(SCHEMA, custom_scalars=CUSTOM_SCALARS),
    gql.mutations(SCHEMA, custom_scalars=CUSTOM_SCALARS),
)


async def tenants(api: Api, world: World) -> dict[str, Any]:
    """Stock, and one order on each channel, by customers of their own."""
    stock = await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    assert stock["setStockLevels"]["userErrors"] == []
    web = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    assert web["userErrors"] == [], web
    market_vars = copy.deepcopy(variables("PlaceOrder"))
    market_vars["input"].update(
        channel="marketplace-fr",
        externalId="MKT-SECRET-77",
        customer={"email": "secret-buyer@example.org", "name": "Dominique Secret", "phone": None},
        lines=[
            {"sku": "MUG-STONE", "quantity": 1, "unitPrice": {"amount": "12.00", "currency": "EUR"}}
        ],
    )
    market_vars["idempotencyKey"] = "marketplace-fr:MKT-SECRET-77"
    market = await api.op("PlaceOrder", market_vars, key=world.other_channel)
    assert market["placeOrder"]["userErrors"] == [], market
    return {
        "web": web["order"]["number"],
        "market": market["placeOrder"]["order"]["number"],
    }


def forbidden_for(role: str, world: World, numbers: dict[str, Any]) -> list[str]:
    """What must never appear in an answer to this role."""
    secrets = [world.admin, world.channel, world.other_channel, world.partner, world.other_partner]
    market = [numbers["market"], "secret-buyer@example.org", "MKT-SECRET-77", "Dominique Secret"]
    web = [numbers["web"], "camille@example.com", "WEB-100045", "Camille Martin"]
    if role == "ADMIN":
        return secrets
    if role in ("CHANNEL", "CUSTOMER", "PARTNER"):
        # The web-fr storefront, its customer, and the Paris store (marketplace-fr ships
        # from Lyon only) know nothing of the marketplace's order.
        return secrets + market
    return secrets + market + web


@pytest.fixture
async def fuzzed_world(api: Api, world: World) -> dict[str, Any]:
    """The world with both tenants' orders, and every role's credential."""
    numbers = await tenants(api, world)
    return {
        "numbers": numbers,
        "keys": {
            "ADMIN": world.admin,
            "CHANNEL": world.channel,
            "PARTNER": world.other_partner,
            "CUSTOMER": await world.customer_token(api),
            "ANONYMOUS": None,
        },
    }


@pytest.mark.parametrize("role", ["ANONYMOUS", "CUSTOMER", "PARTNER", "CHANNEL", "ADMIN"])
@settings(
    max_examples=EXAMPLES_PER_ROLE,
    deadline=None,
    database=None,
    # The world is built once per role and lives through every example, on purpose:
    # what one generated mutation changes, the next operations meet.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=OPERATIONS)
async def test_no_operation_of_the_schema_is_a_fault_or_a_leak(
    api: Api,
    world: World,
    sessionmaker: Any,
    fuzzed_world: dict[str, Any],
    role: str,
    document: str,
) -> None:
    forbidden = forbidden_for(role, world, fuzzed_world["numbers"])
    response = await api.post(document, key=fuzzed_world["keys"][role])
    text = response.text
    assert response.status_code < 500, (document, text[:500])
    body = response.json()
    codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
    assert "INTERNAL" not in codes, (document, body)
    for secret in forbidden:
        assert secret not in text, (role, secret, document, text[:500])
    async with sessionmaker() as session:
        assert list(await ledger_discrepancies(session)) == []
