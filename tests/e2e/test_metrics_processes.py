"""Metrics of real processes: several API processes add up at /metrics, and the worker
answers scrapes on a port of its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import environment
from tests.receivers import free_port


def figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310
            if r.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def two_api_processes(servers: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--port", str(port), "--workers", "2"],
        env=environment(servers),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_two_api_processes_add_up_at_metrics(two_api_processes: str) -> None:
    url = two_api_processes
    # New connections each time: the kernel spreads them over both processes.
    for _ in range(40):
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.post("/graphql", json={"query": "query Ping { __typename }"})
            assert answer.status_code == 200
    async with httpx.AsyncClient(base_url=url) as client:
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    total = figures(scraped.text)[
        (
            "oms_graphql_operations_total",
            (("operation", "Ping"), ("transport", "http"), ("type", "query")),
        )
    ]
    assert total == 40  # both processes' counts, added up


async def test_the_worker_answers_scrapes_on_its_own_port(start_worker: Any) -> None:
    port = free_port()
    worker = start_worker(OMS_WORKER_METRICS_ADDRESS=f"127.0.0.1:{port}")
    wait_for(f"http://127.0.0.1:{port}/metrics")
    deadline = time.monotonic() + 30
    while True:  # the sweeps run as the worker starts
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        found = figures(text)
        sweep = ("oms_job_duration_seconds_count", (("function", "cron:sweep_webhooks"),))
        runs = found.get(sweep, 0.0)
        if runs >= 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    jobs = sorted(labels for name, labels in found if name == "oms_job_duration_seconds_count")
    assert runs >= 1, (jobs, worker.log()[-2000:])
