"""Keeping child processes running: `oms dev` (the API and the worker) and
`oms serve --workers N` (API processes) restart a child that dies, after a delay that
grows while it keeps dying (1 s, 2 s, 4 s ... at most 30 s) and starts over once it has
run for a minute. One child's death never stops the others: the API keeps serving
while the worker is restarted, and the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger("oms.supervise")

H = TypeVar("H")

FIRST_DELAY_SECONDS = 1.0
LONGEST_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0


@dataclass
class Backoff:
    """Delays between restarts of one child."""

    first: float = FIRST_DELAY_SECONDS
    longest: float = LONGEST_DELAY_SECONDS
    stable_after: float = STABLE_AFTER_SECONDS
    failures: int = 0
    started_at: float = 0.0

    def started(self, now: float) -> None:
        self.started_at = now

    def exited(self, now: float) -> float:
        """The delay before the next start, for a child that just exited."""
        if now - self.started_at >= self.stable_after:
            self.failures = 0
        self.failures += 1
        return min(self.longest, self.first * 2 ** (self.failures - 1))


@dataclass
class Child(Generic[H]):
    """One supervised process: `start` makes one, `exit_code` says whether it ended
    (None while it runs)."""

    name: str
    start: Callable[[], H]
    exit_code: Callable[[H], int | None]
    backoff: Backoff = field(default_factory=Backoff)
    handle: H | None = None
    restart_at: float | None = None
    restarts: int = 0

    def launch(self, now: float) -> H:
        self.handle = self.start()
        self.backoff.started(now)
        self.restart_at = None
        return self.handle

    def tend(self, now: float) -> None:
        """Call regularly: notices an exit, and starts a new process when it is time."""
        if self.handle is None:
            return
        if self.restart_at is None:
            code = self.exit_code(self.handle)
            if code is None:
                return
            delay = self.backoff.exited(now)
            self.restart_at = now + delay
            log.warning("%s exited (code %s); starting another in %.0f s", self.name, code, delay)
        if now >= self.restart_at:
            self.restarts += 1
            self.launch(now)
