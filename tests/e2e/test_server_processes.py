"""`oms serve` with several processes: each binds the port itself (SO_REUSEPORT), the
parent restarts one that dies and stops them all."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

SPAWNED = b"multiprocessing.spawn"


def api_processes(parent: int) -> set[int]:
    """Children of `parent` that serve the API (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        if ppid == parent and SPAWNED in cmdline and b"resource_tracker" not in cmdline:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] != b"Z"


def wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def answered(url: str, times: int) -> int:
    ok = 0
    for _ in range(times):  # a new connection each time: the kernel picks a process
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310
            ok += response.status == 200
    return ok


def test_processes_share_the_port_are_restarted_and_stop_together(start_server: Any) -> None:
    server = start_server(OMS_WORKERS="2")
    parent = server.proc.pid
    assert wait_for(lambda: len(api_processes(parent)) == 2, 30)
    assert answered(server.url, 40) == 40

    first = api_processes(parent)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    # Once it is dead (its socket closed: what it had queued is lost with it), the other
    # process serves meanwhile, and the parent starts a replacement.
    assert wait_for(lambda: not alive(victim), 10)
    assert answered(server.url, 10) == 10
    assert wait_for(
        lambda: len(api_processes(parent)) == 2 and victim not in api_processes(parent), 30
    )
    assert wait_for(lambda: answered(server.url, 1) == 1, 30)

    children = api_processes(parent)
    server.proc.terminate()
    server.proc.wait(20)
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), 20)
