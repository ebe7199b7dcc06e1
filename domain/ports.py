"""The small protocols through which the domain reaches the outside world."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.events.stream import StreamEvent


class Clock(Protocol):
    def __call__(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class Job:
    """Work for the worker: a job function's name, its arguments (ids, never objects),
    and an id that makes enqueueing the same work twice harmless."""

    function: str
    args: tuple[Any, ...]
    job_id: str | None = None


class JobQueue(Protocol):
    async def enqueue(self, job: Job) -> None: ...


# Something that, in the relay's transaction, turns newly stamped events into its own
# durable rows (deliveries, notifications, publications) and returns jobs to enqueue
# once they are committed.
EventConsumer = Callable[[Any, Sequence[StreamEvent]], Awaitable[list[Job]]]


@dataclass(frozen=True, slots=True)
class RefundResult:
    succeeded: bool
    provider_reference: str | None
    pending: bool = False
    error: str | None = None


class PaymentRefunds(Protocol):
    async def refund(self, *, reference: str, amount_minor: int, currency: str) -> RefundResult: ...


class Resolver(Protocol):
    """Host name to addresses, as the system's resolver answers (getaddrinfo): textual
    IPv4 or IPv6 addresses. Raises OSError when the name does not resolve."""

    async def __call__(self, host: str) -> Sequence[str]: ...
