"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import concurrent.futures

from alembic.config import Config

from alembic import command
from api.cli import ROOT


def _check(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging"] = True
    command.check(config)  # raises if autogenerate would produce any operation


async def test_models_and_migrations_agree(pg_server: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(_check, pg_server).result()
