"""The per-credential cost budget: counted in each process, shared through Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
