"""A small world for API tests, built through the clients' own admin operations."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from domain.access.keys import create_api_key
from domain.db import UnitOfWork
from tests.support import Api, client_variables

ADMIN_SECRET = "oms_test_admin_secret_000000000000"


@dataclass
class World:
    admin: str
    channel: str  # web-fr
    other_channel: str  # marketplace-fr
    partner: str  # WH-LYON
    other_partner: str  # ST-PARIS-11
    keys: dict[str, str] = field(default_factory=dict)

    async def customer_token(
        self, api: Api, email: str = "camille@example.com", channel_key: str | None = None
    ) -> str:
        data = await api.op(
            "IssueCustomerToken",
            {"customerEmail": email, "ttlSeconds": 3600},
            key=channel_key or self.channel,
        )
        token = data["issueCustomerToken"]["token"]
        assert token
        return str(token)


def variables(name: str) -> dict[str, Any]:
    return copy.deepcopy(client_variables()[name])


async def make_key(
    sessionmaker: Any,
    role: str,
    name: str,
    channel: str | None = None,
    locations: list[str] | None = None,
    secret: str | None = None,
    carrier: str | None = None,
) -> str:
    async with UnitOfWork(sessionmaker) as uow:
        _, key = await create_api_key(
            uow.session,
            name=name,
            role=role,
            channel_code=channel,
            location_codes=locations,
            secret=secret,
            carrier=carrier,
        )
    return key


@pytest.fixture
async def world(api: Api, sessionmaker: Any) -> World:
    return await build_world(api, sessionmaker)


async def build_world(api: Api, sessionmaker: Any) -> World:
    """Two locations, the clients' products, two channels, and a key for each role."""
    admin = await make_key(sessionmaker, "ADMIN", "test admin", secret=ADMIN_SECRET)
    locs = await api.op("UpsertLocations", variables("UpsertLocations"), key=admin)
    assert locs["upsertLocations"]["userErrors"] == []
    prods = await api.op("UpsertProducts", variables("UpsertProducts"), key=admin)
    assert prods["upsertProducts"]["userErrors"] == []
    channel_vars = variables("UpsertChannel")
    channel_vars["input"]["publishTarget"] = None
    web = await api.op("UpsertChannel", channel_vars, key=admin)
    assert web["upsertChannel"]["userErrors"] == []
    other = copy.deepcopy(channel_vars)
    other["input"].update(
        code="marketplace-fr", name="Marketplace France", kind="MARKETPLACE", network=["WH-LYON"]
    )
    other["input"]["allocation"] = {"sharePercent": 50, "buffer": 1, "excludedSkus": []}
    res = await api.op("UpsertChannel", other, key=admin)
    assert res["upsertChannel"]["userErrors"] == []
    return World(
        admin=admin,
        channel=await make_key(sessionmaker, "CHANNEL", "web-fr storefront", channel="web-fr"),
        other_channel=await make_key(
            sessionmaker, "CHANNEL", "marketplace connector", channel="marketplace-fr"
        ),
        partner=await make_key(sessionmaker, "PARTNER", "Lyon WMS", locations=["WH-LYON"]),
        other_partner=await make_key(
            sessionmaker, "PARTNER", "Paris store app", locations=["ST-PARIS-11"]
        ),
        keys={
            "both-partner": await make_key(
                sessionmaker, "PARTNER", "3PL for both", locations=["WH-LYON", "ST-PARIS-11"]
            ),
            "carrier": await make_key(
                sessionmaker, "CARRIER", "Colissimo TMS", carrier="COLISSIMO"
            ),
        },
    )
