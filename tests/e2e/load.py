"""Steady load for the fault tests: clients placing orders over HTTP against a real
server process, every answer recorded (status, media type, Retry-After, codes, time)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fixtures import variables
from tests.support import operation

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Answer:
    external_id: str
    skus: tuple[str, ...]
    status: int | None  # None: no HTTP answer at all
    media_type: str
    retry_after: str | None
    codes: tuple[str, ...]
    order_id: str | None
    seconds: float
    started: float

    @property
    def placed(self) -> bool:
        return self.order_id is not None


def order(external_id: str, skus: Sequence[str]) -> dict[str, Any]:
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    # A customer of its own: concurrent orders of one customer wait for each other (the
    # customer row is upserted), which is not what these tests look at.
    v["input"]["customer"]["email"] = f"{external_id.lower()}@example.com"
    v["input"]["lines"] = [
        {"sku": sku, "quantity": 1, "unitPrice": {"amount": "10.00", "currency": "EUR"}}
        for sku in skus
    ]
    v["idempotencyKey"] = f"load:{external_id}"
    return v


def new_external_id(prefix: str = "LOAD") -> str:
    return f"{prefix}-{next(_numbers):06d}"


async def place(
    client: httpx.AsyncClient, key: str, skus: Sequence[str], external_id: str
) -> Answer:
    started = time.monotonic()
    try:
        response = await client.post(
            "/graphql",
            json={"query": operation("PlaceOrder"), "variables": order(external_id, skus)},
            headers={"Authorization": f"Bearer {key}"},
        )
    except httpx.HTTPError as exc:
        seconds = time.monotonic() - started
        error = (f"{type(exc).__name__}: {exc}",)
        return Answer(external_id, tuple(skus), None, "", None, error, None, seconds, started)
    seconds = time.monotonic() - started
    media = response.headers.get("content-type", "").split(";")[0]
    codes: tuple[str, ...] = ()
    order_id = None
    if media.endswith("json"):
        body = response.json()
        codes = tuple(
            str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or ()
        )
        placed = ((body.get("data") or {}).get("placeOrder")) or {}
        codes += tuple(str(e["code"]) for e in placed.get("userErrors") or ())
        order_id = (placed.get("order") or {}).get("id")
    return Answer(
        external_id,
        tuple(skus),
        response.status_code,
        media,
        response.headers.get("retry-after"),
        codes,
        order_id,
        seconds,
        started,
    )


@dataclass
class Load:
    """`clients` loops placing orders for `skus` until `stop` is set."""

    url: str
    key: str
    skus: Sequence[str]
    clients: int = 4
    prefix: str = "LOAD"
    pause: float = 0.0
    # Send an order refused with 503 again, after its Retry-After, under the same
    # idempotency key (as a client should): each id is then placed once in the end.
    retry: bool = False
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _client(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            while not self.stop.is_set():
                external_id = new_external_id(self.prefix)
                while True:
                    answer = await place(client, self.key, self.skus, external_id)
                    self.answers.append(answer)
                    if not (self.retry and answer.status == 503):
                        break
                    await asyncio.sleep(float(answer.retry_after or 1))
                if self.pause:
                    await asyncio.sleep(self.pause)

    def start(self) -> Load:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        return self

    async def finish(self) -> list[Answer]:
        self.stop.set()
        await asyncio.gather(*self._tasks)
        return self.answers


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def until(condition: Any, within: float, what: str, step: float = 0.2) -> float:
    """Wait for `await condition()` to be true; returns the seconds it took."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within:g} s")
        await asyncio.sleep(step)
    return time.monotonic() - started
