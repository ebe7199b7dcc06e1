"""`oms dev` supervises its children: a worker that dies is started again, and the API
keeps serving meanwhile; the worker itself outlives a Redis restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.embedded import free_port
from tests.conftest import EMBEDDED
from tests.e2e.test_server_processes import alive, wait_for


def children(parent: int, word: bytes) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        if ppid == parent and word in cmdline and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def dev(servers: dict[str, str], tmp_path: Path) -> Any:
    """`oms dev` on a database and a Redis database of its own (it seeds demo data)."""
    pg = EMBEDDED["pg"]
    if pg is None:
        pytest.fail("this test creates a database in the session's own PostgreSQL")
    database_url = pg.create_database("oms_dev_supervised")
    redis_url = servers["redis_url"].rsplit("/", 1)[0] + "/7"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "OMS_DATA_DIR": str(tmp_path),
        "OMS_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "dev.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "dev"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: healthy(url), 120), (tmp_path / "dev.log").read_text()[-3000:]
        yield proc, url, tmp_path / "dev.log"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_oms_dev_starts_a_dead_worker_again_and_the_api_keeps_serving(dev: Any) -> None:
    proc, url, log = dev
    assert wait_for(lambda: len(children(proc.pid, b"worker")) == 1, 30)
    [worker] = children(proc.pid, b"worker")
    [api] = children(proc.pid, b"serve")

    for round_ in range(2):  # dying again waits a little longer
        os.kill(worker, signal.SIGKILL)
        started = time.monotonic()
        replaced = False
        while time.monotonic() - started < 20:
            assert healthy(url), "the API stopped answering while the worker was down"
            found = children(proc.pid, b"worker")
            if found and worker not in found:
                replaced = True
                break
            time.sleep(0.2)
        assert replaced, log.read_text()[-3000:]
        [worker] = children(proc.pid, b"worker")
        print(
            f"\nworker killed (round {round_ + 1}): a new one {time.monotonic() - started:.1f} s later"
        )
    assert proc.poll() is None
    assert children(proc.pid, b"serve") == {api}  # the same API process throughout
    assert "the worker exited" in log.read_text()

    proc.terminate()
    assert proc.wait(30) == 0
    assert wait_for(lambda: not alive(worker) and not alive(api), 20)
