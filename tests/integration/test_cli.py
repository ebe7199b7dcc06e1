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


def test_a_database_that_is_not_there_is_one_clear_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api.embedded import free_port

    url = f"postgresql://oms:secret@127.0.0.1:{free_port()}/oms"
    out = _oms(url, "inventory", "check")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("oms: cannot reach PostgreSQL at postgresql://oms:***@127.0.0.1:")
    assert "secret" not in out.stderr


def test_commands_find_the_servers_of_make_run_through_the_data_directory(
    pg_server: str, clean_db, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from api.settings import forget_dev_servers, write_dev_servers

    write_dev_servers(tmp_path, pg_server, "redis://127.0.0.1:1/0")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    run = subprocess.run(
        [sys.executable, "-m", "api", "inventory", "check"],
        env={**env, "OMS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "agree" in run.stdout
    # Gone with `make run`: the hint says so.
    forget_dev_servers(tmp_path)
    gone = subprocess.run(
        [sys.executable, "-m", "api", "inventory", "check"],
        env={**env, "OMS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert gone.returncode == 1
    assert "DATABASE_URL is not set" in gone.stderr


def test_a_port_left_in_time_wait_is_free_for_the_next_start() -> None:
    import socket

    from api.devstack import _port_free

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert not _port_free(port)  # listening
    accepted.close()  # the server side closes first: its end waits in TIME_WAIT
    server.close()
    client.close()
    assert _port_free(port)


def test_doctor_shows_each_part_and_exits_non_zero_on_a_problem(
    servers: dict[str, str], clean_db
) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "DATABASE_URL": servers["database_url"], "REDIS_URL": servers["redis_url"]}
    out = subprocess.run(
        [sys.executable, "-m", "api", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = out.stdout
    for section in (
        "configuration:",
        "postgres:",
        "migrations:",
        "events:",
        "deliveries:",
        "redis:",
        "worker:",
    ):
        assert section in report, report
    assert "PostgreSQL 16" in report and "(ok)" in report
    assert "0 unrelayed" in report or "unrelayed, oldest" in report
    # No worker runs beside the suite: that is the problem reported, and the exit status.
    if "PROBLEM" in report:
        assert out.returncode == 1 and "problems found" in report
    else:
        assert out.returncode == 0 and "all well" in report


def test_doctor_reports_a_missing_database_without_a_traceback() -> None:
    from api.embedded import free_port

    url = f"postgresql://oms:secret@127.0.0.1:{free_port()}/oms"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    out = subprocess.run(
        [sys.executable, "-m", "api", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "PROBLEM" in out.stdout and "Traceback" not in out.stderr
    assert "secret" not in out.stdout + out.stderr
    assert "oms:***@127.0.0.1" in out.stdout
