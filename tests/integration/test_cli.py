"""The command line against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import text


def _oms(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_inventory_check_reports_a_level_that_left_its_ledger(
    pg_server: str, engine, clean_db
) -> None:  # type: ignore[no-untyped-def]
    ok = _oms(pg_server, "inventory", "check")
    assert ok.returncode == 0, ok.stderr
    assert "agree" in ok.stdout
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO products (sku, name) VALUES ('X', 'x')"))
        loc = await conn.scalar(
            text(
                "INSERT INTO locations (code, name, kind, address_line1, city, postal_code, country_code, latitude,"
                " longitude, timezone, can_ship, can_pickup) VALUES ('L', 'L', 'STORE', 'a', 'b', 'c', 'FR', 1, 1,"
                " 'Europe/Paris', true, true) RETURNING id"
            )
        )
        # a write that bypassed the ledger
        await conn.execute(
            text("INSERT INTO stock_levels (sku, location_id, on_hand) VALUES ('X', :l, 5)"),
            {"l": loc},
        )
    bad = _oms(pg_server, "inventory", "check")
    assert bad.returncode == 1
    assert "on_hand=5, ledger_on_hand=0" in bad.stdout


def test_create_api_key_prints_the_secret_once(pg_server: str) -> None:
    out = _oms(pg_server, "create-api-key", "--role", "ADMIN", "--name", "ops")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("oms_")
    bad = _oms(
        pg_server, "create-api-key", "--role", "PARTNER", "--name", "x", "--location", "NOWHERE"
    )
    assert bad.returncode != 0
    assert "UNKNOWN_LOCATION" in bad.stderr


def test_create_api_key_for_a_carrier_binds_it_to_its_carrier(pg_server: str) -> None:
    out = _oms(
        pg_server, "create-api-key", "--role", "CARRIER", "--name", "tms", "--carrier", "COLISSIMO"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("oms_")
    missing = _oms(pg_server, "create-api-key", "--role", "CARRIER", "--name", "tms")
    assert missing.returncode != 0
    assert "REQUIRED: a CARRIER key is bound to one carrier" in missing.stderr


def test_schema_command_prints_the_sdl() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "api", "schema"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "type Query" in out.stdout
