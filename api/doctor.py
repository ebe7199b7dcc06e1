"""`oms doctor`: configuration, connectivity, migrations, backlogs and lag on one screen.

What an operator runs first when something looks wrong: every check is bounded in time,
a dependency that does not answer is reported rather than waited for, secrets are
never printed, and the exit status is 0 only when everything is fine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from api.health import WORKER_HEARTBEAT_KEY
from api.migration_state import compare, database_revisions, scripts
from api.settings import Settings
from domain.events.backlog import deliveries_owed, unrelayed

CHECK_SECONDS = 3.0
T = TypeVar("T")


def _hide_password(url: str | None) -> str:
    if not url:
        return "(not set)"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(set, unreadable)"


async def _bounded(step: Callable[[], Awaitable[T]]) -> tuple[T | None, str | None]:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await step(), None
    except Exception as exc:  # reported, whatever it is
        return None, f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__


async def examine(settings: Settings) -> tuple[list[tuple[str, str, str]], bool]:
    """(section, item, finding) lines, and whether all is well."""
    lines: list[tuple[str, str, str]] = []
    healthy = True

    def report(section: str, item: str, finding: str, ok: bool = True) -> None:
        nonlocal healthy
        healthy = healthy and ok
        lines.append((section, item, finding if ok else f"PROBLEM: {finding}"))

    report("configuration", "environment", settings.env)
    report("configuration", "DATABASE_URL", _hide_password(settings.database_url))
    report("configuration", "REDIS_URL", _hide_password(settings.redis_url))
    report("configuration", "OMS_SMTP_URL", _hide_password(settings.smtp_url))
    report(
        "configuration",
        "OMS_SECRET_KEY",
        "set" if settings.secret_key else "not set",
        ok=bool(settings.secret_key) or not settings.production,
    )
    report("configuration", "database pool", f"{settings.db_pool_size} connections per process")

    facts: dict[str, Any] = {}
    if settings.database_url:
        import asyncpg

        from domain.db import asyncpg_dsn, sqlalchemy_url

        async def postgres() -> float:
            started = time.perf_counter()
            conn = await asyncpg.connect(asyncpg_dsn(sqlalchemy_url(settings.database_url or "")))
            try:
                facts["version"] = await conn.fetchval("SHOW server_version")
                facts["revisions"] = await database_revisions(conn)
                facts["outbox"] = await unrelayed(conn)
                facts["deliveries"] = await deliveries_owed(conn)
            finally:
                await conn.close()
            return time.perf_counter() - started

        took, error = await _bounded(postgres)
        if error is None and took is not None:
            report("postgres", "connection", f"PostgreSQL {facts['version']}, {took * 1000:.0f} ms")
        else:
            report("postgres", "connection", error or "no answer", ok=False)
    else:
        report("postgres", "connection", "DATABASE_URL is not set", ok=False)

    if "revisions" in facts:
        state = compare(facts["revisions"], scripts())
        at = ", ".join(state.get("at") or state.get("database") or ["none"])
        report("migrations", "database at", f"{at} ({state['status']})", ok=state["status"] == "ok")
    if "outbox" in facts:
        count, age = facts["outbox"]
        report(
            "events",
            "outbox",
            f"{count} unrelayed, oldest {age:.1f} s",
            ok=age < 60,
        )
    for kind, owed in (facts.get("deliveries") or {}).items():
        report(
            "deliveries",
            kind,
            f"{owed['due']} due now (oldest {owed['oldest_due_seconds']:.0f} s),"
            f" {owed['given_up_last_day']} given up in the last day",
            ok=owed["oldest_due_seconds"] < 300,
        )

    if settings.redis_url:
        from redis.asyncio import Redis

        async def redis() -> tuple[str, bool]:
            client = Redis.from_url(
                settings.redis_url or "", socket_timeout=2, socket_connect_timeout=2
            )
            try:
                info = await client.info("server")
                beat = await client.get(WORKER_HEARTBEAT_KEY)
                return str(info.get("redis_version")), beat is not None
            finally:
                await client.aclose()

        answer, error = await _bounded(redis)
        if answer is not None:
            version, worker_alive = answer
            report("redis", "connection", f"Redis {version}")
            report(
                "worker",
                "heartbeat",
                "recent" if worker_alive else "none: no worker is running",
                ok=worker_alive,
            )
        else:
            report("redis", "connection", error or "no answer", ok=False)
    else:
        report("redis", "connection", "REDIS_URL is not set", ok=False)
    return lines, healthy


def render(lines: list[tuple[str, str, str]], healthy: bool) -> str:
    width = max(len(item) for _, item, _ in lines)
    out: list[str] = []
    section = None
    for name, item, finding in lines:
        if name != section:
            out.append(f"{name}:")
            section = name
        out.append(f"  {item.ljust(width)}  {finding}")
    out.append("all well" if healthy else "problems found (see PROBLEM above)")
    return "\n".join(out)


def run(settings: Settings) -> int:
    lines, healthy = asyncio.run(examine(settings))
    print(render(lines, healthy))
    return 0 if healthy else 1
