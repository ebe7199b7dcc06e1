"""`oms`: the command line of the service.

oms dev                 everything for development: embedded PostgreSQL and Redis
                        (unless DATABASE_URL / REDIS_URL are set), migrations, demo
                        data on first start, the API and the worker; Ctrl-C stops all
oms serve               the API (uvicorn)
oms worker              the arq worker
oms migrate             apply database migrations
oms seed                load the demo data set
oms create-api-key      create an API key and print its secret once
oms schema              print the GraphQL SDL
oms doctor              configuration, connectivity, migrations, backlogs and lag
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from api import channels_cli
from api.report_cli import register_report
from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _require_db(settings: Settings) -> str:
    if not settings.database_url:
        sys.exit("DATABASE_URL is not set (or use `oms dev`, which starts a private PostgreSQL)")
    return settings.database_url


def migrate(database_url: str) -> None:
    """Upgrade to the latest migration. Alembic's async env runs its own event loop, so
    when called from inside a running loop (tests) it runs in a thread of its own."""
    from alembic.config import Config

    from alembic import command

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging"] = True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(config, "head")
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(command.upgrade, config, "head").result()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    migrate(_require_db(settings))
    print("database is at the latest migration")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from api.server import serve

    serve(
        args.host or settings.host,
        args.port or settings.port,
        args.workers,
        settings.log_level,
        settings.log_json,
    )


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    from api.logs import configure_logging
    from jobs.runner import run

    _require_db(settings)
    configure_logging(settings.log_level, settings.log_json)
    # Jobs read their configuration from the environment: the key that signs the label
    # links of emails is the API's (in development, the generated one).
    os.environ.setdefault("OMS_SECRET_KEY", settings.signing_key())
    from api import tracing
    from jobs.worker import WorkerSettings

    tracing.configure("oms-worker")

    run(WorkerSettings)


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    from api.demo import seed

    result = asyncio.run(seed(_require_db(settings), force=args.force))
    print(result)


def cmd_create_api_key(args: argparse.Namespace, settings: Settings) -> None:
    from domain.access.keys import create_api_key
    from domain.db import UnitOfWork, create_engine, create_sessionmaker
    from domain.errors import DomainError, ValidationFailed

    async def run() -> str:
        engine = create_engine(_require_db(settings), pool_size=1)
        try:
            async with UnitOfWork(create_sessionmaker(engine)) as uow:
                _, secret = await create_api_key(
                    uow.session,
                    name=args.name,
                    role=args.role,
                    channel_code=args.channel,
                    location_codes=args.location,
                    carrier=args.carrier,
                )
            return secret
        finally:
            await engine.dispose()

    try:
        secret = asyncio.run(run())
    except DomainError as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
        sys.exit("\n".join(f"{e.code}: {e.message}" for e in errors))
    print(secret)


def cmd_inventory_check(args: argparse.Namespace, settings: Settings) -> None:
    """Compare every stock level with the sums of its ledger movements; exit 1 on any gap."""
    from domain.db import BATCH_WAITS, create_engine, create_read_sessionmaker
    from domain.inventory.service import ledger_discrepancies

    async def run() -> list[object]:
        engine = create_engine(_require_db(settings), pool_size=1, waits=BATCH_WAITS)
        try:
            async with create_read_sessionmaker(engine)() as session:
                return list(await ledger_discrepancies(session))
        finally:
            await engine.dispose()

    gaps = asyncio.run(run())
    if not gaps:
        print("ledger and stock levels agree")
        return
    for gap in gaps:
        print(gap)
    sys.exit(f"{len(gaps)} stock levels differ from their ledger")


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> None:
    from api import doctor

    sys.exit(doctor.run(settings))


def cmd_schema(args: argparse.Namespace, settings: Settings) -> None:
    from schema.root import build_schema

    print(build_schema().as_str())


def cmd_dev(args: argparse.Namespace, settings: Settings) -> None:
    from api.devstack import run_dev

    sys.exit(run_dev(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description="Order management system")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("dev", help="run everything locally (embedded PostgreSQL and Redis)")
    p.set_defaults(fn=cmd_dev)

    p = sub.add_parser("serve", help="serve the GraphQL API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("OMS_WORKERS", "1")),
        help="API processes sharing the port (default: OMS_WORKERS, else 1)",
    )
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("worker", help="run the arq worker")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(fn=cmd_migrate)

    p = sub.add_parser("seed", help="load demo data (once; --force to reload)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(fn=cmd_seed)

    p = sub.add_parser("create-api-key", help="create an API key and print its secret once")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=["ADMIN", "CHANNEL", "PARTNER", "CARRIER"])
    p.add_argument("--channel", help="channel code (CHANNEL keys)")
    p.add_argument("--location", action="append", help="location code (PARTNER keys; repeat)")
    p.add_argument("--carrier", help="carrier code, e.g. COLISSIMO (CARRIER keys)")
    p.set_defaults(fn=cmd_create_api_key)

    p = sub.add_parser("inventory", help="inventory tools")
    inv = p.add_subparsers(dest="inventory_command", required=True)
    q = inv.add_parser("check", help="report stock levels that differ from their ledger")
    q.set_defaults(fn=cmd_inventory_check)

    p = sub.add_parser(
        "doctor", help="configuration, connectivity, migrations, backlogs and lag, on one screen"
    )
    p.set_defaults(fn=cmd_doctor)

    p = sub.add_parser("schema", help="print the GraphQL SDL")
    p.set_defaults(fn=cmd_schema)

    register_report(sub)
    channels_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        args.fn(args, settings)
    except Exception as exc:
        found = _unreachable(exc)
        if found is None:
            raise
        # A server that is not there is one clear line, not a hundred of traceback.
        redis, reason = found
        name, url, variable = (
            ("Redis", settings.redis_url, "REDIS_URL")
            if redis
            else ("PostgreSQL", settings.database_url, "DATABASE_URL")
        )
        hint = "" if os.environ.get(variable) else " (is `make run` running?)"
        where = _without_password(url) if url else "its configured address"
        sys.exit(f"oms: cannot reach {name} at {where}: {reason}{hint}")


def _unreachable(exc: BaseException) -> tuple[bool, str] | None:
    """(whether it is Redis, why) if `exc` is a connection that could not be made."""
    seen: BaseException | None = exc
    while seen is not None:
        redis = type(seen).__module__.startswith("redis")
        if redis and type(seen).__name__ in ("ConnectionError", "TimeoutError"):
            return True, str(seen) or type(seen).__name__
        if isinstance(seen, (ConnectionError, TimeoutError)) or (
            isinstance(seen, OSError) and seen.errno is not None
        ):
            return False, seen.strerror or type(seen).__name__
        if type(seen).__name__ in ("CannotConnectNowError", "ConnectionDoesNotExistError"):
            return False, str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"
