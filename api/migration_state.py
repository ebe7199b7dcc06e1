"""Whether the database's schema is the one this code was written for (alembic heads).

Read by /readyz and `oms doctor`. The code's revisions come from the migration scripts
shipped with it (alembic/ beside the packages), read once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scripts:
    heads: frozenset[str]
    known: frozenset[str]  # every revision of the scripts


@functools.cache
def scripts() -> Scripts | None:
    """This code's migrations, or None where the scripts are not shipped."""
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        return None
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    directory = ScriptDirectory.from_config(Config(str(ini)))
    return Scripts(
        heads=frozenset(directory.get_heads()),
        known=frozenset(r.revision for r in directory.walk_revisions()),
    )


async def database_revisions(conn: Any) -> frozenset[str]:
    """The revisions the database says it is at (an asyncpg connection)."""
    exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
    if not exists:
        return frozenset()
    rows = await conn.fetch("SELECT version_num FROM alembic_version")
    return frozenset(r["version_num"] for r in rows)


def compare(database: frozenset[str], code: Scripts | None) -> dict[str, Any]:
    """`ok`; `behind` (the database lacks migrations this code needs: it cannot serve);
    `ahead` (a newer deployment migrated further: migrations are written to work with
    the code before them, so this one still serves); or `unknown`."""
    if code is None:
        return {"status": "unknown", "database": sorted(database)}
    if database == code.heads:
        return {"status": "ok", "at": sorted(database)}
    status = "behind" if database <= code.known else "ahead"
    return {"status": status, "database": sorted(database), "code": sorted(code.heads)}
