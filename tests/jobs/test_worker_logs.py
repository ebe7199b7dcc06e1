"""The worker is quiet at INFO: arq's two lines per job (about 100 a minute from the
crons alone) are DEBUG, while failures still show."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.logs import configure_logging
from domain.ports import Job
from jobs.queue import ArqQueue


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    arq_level = logging.getLogger("arq.worker").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("arq.worker").setLevel(arq_level)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def run_with_logging(
    level: str, queue: ArqQueue, run_jobs: Callable[..., Any]
) -> list[logging.LogRecord]:
    configure_logging(level, json=False)
    lines = Lines()
    logging.getLogger().addHandler(lines)
    for i in range(5):
        await queue.enqueue(Job("sweep_webhooks", (), f"log-test-{level}-{i}"))
    assert await run_jobs() >= 5
    return [r for r in lines.records if r.name.startswith("arq")]


async def test_arq_job_lines_are_debug_only(
    sessionmaker: Any, queue: ArqQueue, run_jobs: Callable[..., Any], logging_restored: None
) -> None:
    at_info = await run_with_logging("INFO", queue, run_jobs)
    assert [r.getMessage() for r in at_info if r.levelno < logging.WARNING] == []
    assert logging.getLogger("arq.worker").isEnabledFor(logging.WARNING)

    at_debug = await run_with_logging("DEBUG", queue, run_jobs)
    assert any("sweep_webhooks" in r.getMessage() for r in at_debug), at_debug
