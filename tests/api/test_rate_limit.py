"""The per-credential cost budget: counted in each process, shared through Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.fixtures import World, make_key
from tests.support import Api

QUERY = "{ products(first: 10) { edges { node { sku } } } }"
BUDGET = 200


@asynccontextmanager
async def api_process(settings: Any, clock: Any) -> AsyncIterator[Api]:
    """Another API process (its own app, pools and budget counts) on the same servers."""
    from api.app import create_app

    application = create_app(
        dataclasses.replace(settings, cost_budget_per_minute=BUDGET), clock=clock
    )
    async with application.router.lifespan_context(application), Api.over_asgi(application) as api:
        yield api


async def wait_for_a_fresh_minute() -> None:
    # Budgets are per wall-clock minute: do not let the test straddle two.
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.1)


async def test_a_credential_over_its_budget_is_refused_everywhere(
    api: Api,
    world: World,
    sessionmaker: Any,
    app_settings: Any,
    clock: Any,
    servers: dict[str, str],
) -> None:
    # Keys of their own: other tests' charges to the shared keys count in the same minute.
    tag = uuid.uuid4().hex[:8]
    storefront = await make_key(sessionmaker, "CHANNEL", f"budget {tag}", channel="web-fr")
    other = await make_key(sessionmaker, "CHANNEL", f"budget other {tag}", channel="web-fr")
    await wait_for_a_fresh_minute()
    async with (
        api_process(app_settings, clock) as first,
        api_process(app_settings, clock) as second,
    ):
        answers = []
        for _ in range(40):
            response = await first.post(QUERY, key=storefront)
            answers.append(response)
            if response.status_code != 200:
                break
        cost = answers[0].json()["extensions"]["cost"]["requested"]
        served = [r for r in answers if r.status_code == 200]
        assert len(served) == BUDGET // cost  # exact within one process
        refused = answers[-1]
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"

        # Another credential has a budget of its own.
        assert (await first.post(QUERY, key=other)).status_code == 200

        # The other process learns of the spending through Redis after a flush.
        await asyncio.sleep(0.5)
        assert (await second.post(QUERY, key=storefront)).status_code == 429
        assert (await second.post(QUERY, key=other)).status_code == 200

        await asyncio.sleep(0.5)
        redis = Redis.from_url(servers["redis_url"])
        try:
            keys = [k async for k in redis.scan_iter("oms:cost:*")]
            totals = {k.decode(): int(await redis.get(k)) for k in keys}
        finally:
            await redis.aclose()
        # Every charge reached Redis, refused ones included, from both processes.
        (channel_total,) = [v for k, v in totals.items() if f":budget {tag}:" in k]
        assert channel_total == cost * (len(answers) + 1)


@asynccontextmanager
async def api_process_with(settings: Any, clock: Any, **overrides: Any) -> AsyncIterator[Any]:
    """An API process with settings of its own; yields (app, its Api)."""
    from api.app import create_app

    application = create_app(dataclasses.replace(settings, **overrides), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


def client_at(application: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=(address, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://oms.test")


async def test_trivial_requests_are_not_free_and_a_refusal_says_when_to_retry(
    world: World, sessionmaker: Any, app_settings: Any, clock: Any
) -> None:
    from schema.limits import MIN_CHARGE

    key = await make_key(sessionmaker, "CHANNEL", f"flood {uuid.uuid4().hex[:8]}", channel="web-fr")
    await wait_for_a_fresh_minute()
    async with api_process(app_settings, clock) as api:
        statuses = []
        for _ in range(BUDGET // MIN_CHARGE + 5):
            response = await api.post("{ __typename }", key=key)
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
    # `{ __typename }` costs 1, but each request is charged at least MIN_CHARGE.
    assert statuses.count(200) == BUDGET // MIN_CHARGE
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}


async def test_callers_without_a_credential_are_limited_per_client_address(
    api: Any, app_settings: Any, clock: Any
) -> None:
    from schema.limits import MIN_CHARGE

    await wait_for_a_fresh_minute()
    allowance = 5
    tag = uuid.uuid4().int % 250
    async with (
        api_process_with(
            app_settings, clock, anonymous_budget_per_minute=allowance * MIN_CHARGE
        ) as application,
        client_at(application, f"10.9.{tag}.1") as first,
        client_at(application, f"10.9.{tag}.2") as second,
    ):
        answers = [
            (await first.post("/graphql", json={"query": "{ __typename }"})).status_code
            for _ in range(allowance + 2)
        ]
        other = await second.post("/graphql", json={"query": "{ __typename }"})
    assert answers == [200] * allowance + [429, 429]
    assert other.status_code == 200
