"""A peer API process caught holding locks (run by tests/e2e/test_frozen_peer.py).

It opens, with the API's own connection settings (OMS_DB_* from the environment), the
two transactions an API process can be frozen in: a placement's, holding the stock rows
of the SKUs given on the command line (and reserving one more of each, uncommitted),
and the event relay's, holding the stamping lock. It prints HOLDING and waits; the test
freezes it (SIGSTOP). On a line `commit` from stdin (once resumed) it tries to commit
both and prints what happened.

    python -m tests.e2e.frozen_peer SKU [SKU ...]
"""

from __future__ import annotations

import asyncio
import os
import sys

from domain.db import UnitOfWork, Waits, create_engine, create_sessionmaker, driver_connection
from domain.events.stream import stamp_pending


async def main(skus: list[str]) -> int:
    engine = create_engine(
        os.environ["DATABASE_URL"], pool_size=2, waits=Waits.from_env(os.environ)
    )
    sessionmaker = create_sessionmaker(engine)
    placing = UnitOfWork(sessionmaker)
    await placing.__aenter__()
    conn = await driver_connection(placing.session)
    await conn.fetch(
        "SELECT sku, location_id FROM stock_levels WHERE sku = ANY($1::text[])"
        " ORDER BY sku, location_id FOR UPDATE",
        skus,
    )
    await conn.execute(
        "UPDATE stock_levels SET reserved = reserved + 1 WHERE sku = ANY($1::text[])", skus
    )
    while True:  # the relay's lock, once no other stamper has it
        relaying = UnitOfWork(sessionmaker)
        await relaying.__aenter__()
        if await stamp_pending(await driver_connection(relaying.session)) is not None:
            break
        await relaying.__aexit__(None, None, None)
        await asyncio.sleep(0.01)
    print("HOLDING", flush=True)

    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "commit":
        return 2
    outcomes = []
    for name, uow in (("placement", placing), ("relay", relaying)):
        try:
            await uow.__aexit__(None, None, None)
            outcomes.append(f"{name} committed")
        except Exception as exc:
            outcomes.append(f"{name} failed: {type(exc).__name__}")
    print("; ".join(outcomes), flush=True)
    await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
