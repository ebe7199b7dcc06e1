"""/readyz on migrations and on the outbox's lag."""

from __future__ import annotations

from typing import Any

import orjson

from api.health import OutboxLimits, readiness
from api.migration_state import Scripts, compare


def test_the_database_against_the_codes_migrations() -> None:
    code = Scripts(heads=frozenset({"c"}), known=frozenset({"a", "b", "c"}))
    assert compare(frozenset({"c"}), code)["status"] == "ok"
    # Migrations this code needs are missing: it cannot serve.
    assert compare(frozenset({"b"}), code)["status"] == "behind"
    assert compare(frozenset(), code)["status"] == "behind"
    # A newer deployment migrated further (a revision this code does not know).
    assert compare(frozenset({"d"}), code)["status"] == "ahead"
    assert compare(frozenset({"c"}), None)["status"] == "unknown"


async def check(app: Any, limits: OutboxLimits) -> tuple[int, dict[str, Any]]:
    runtime = app.state.runtime
    hub = runtime.services.extra["event_hub"]
    answer = await readiness(runtime.engine, runtime.redis, hub, limits)
    return answer.status_code, orjson.loads(answer.body)


async def test_an_outbox_older_than_the_limits_is_lagging_then_failing(app: Any) -> None:
    status, body = await check(app, OutboxLimits(lagging_seconds=3600))
    assert body["dependencies"]["outbox"]["status"] == "ok"
    assert body["dependencies"]["migrations"]["status"] == "ok"
    # Any age is past a negative limit: what an old backlog looks like.
    status, body = await check(app, OutboxLimits(lagging_seconds=-1))
    outbox = body["dependencies"]["outbox"]
    assert (status, body["status"], outbox["status"]) == (200, "degraded", "lagging")
    assert "relay" in outbox["impact"]
    status, body = await check(app, OutboxLimits(lagging_seconds=-1, fail_seconds=-1))
    assert (status, body["status"]) == (503, "unavailable")


def test_outbox_limits_from_the_environment() -> None:
    assert OutboxLimits.from_env({}) == OutboxLimits(60.0, None)
    assert OutboxLimits.from_env(
        {"OMS_READY_OUTBOX_MAX_AGE_SECONDS": "30", "OMS_READY_OUTBOX_FAIL_SECONDS": "600"}
    ) == OutboxLimits(30.0, 600.0)
