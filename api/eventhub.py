"""Real time for one API process: LISTEN for committed events, relay them, and fan
the stamped stream out to this process's subscribers.

One dedicated asyncpg connection listens (never a pooled one, STACK-NOTES); it is
pinged, and on loss reconnected, re-LISTENed and caught up from the table. NOTIFY is
only a wake-up: every read is from the outbox, after the last stream position seen, so
a missed notification delays, it never loses. Each subscriber has a bounded queue; one
that falls behind is told so and catches up from the database on its own, so a slow
client never slows the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from domain.events.catalog import concerns
from domain.events.stream import STREAM_CHANNEL, StreamEvent, read_stream, stream_head
from domain.faults import is_transient
from domain.order.events import EVENTS_CHANNEL

log = logging.getLogger("oms.eventhub")

QUEUE_SIZE = 1000
POLL_SECONDS = 1.0  # safety net when a notification is missed
PING_SECONDS = 2.0
READ_BATCH = 1000


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    return None


@dataclass(eq=False)
class Feed:
    """One subscriber's view of the stream."""

    order_id: int | None
    channel_id: int | None
    # A partner's feed: only the events that concern one of these locations.
    location_ids: frozenset[int] | None = None
    queue: asyncio.Queue[StreamEvent] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    def wants(self, event: StreamEvent) -> bool:
        if self.order_id is not None and event.order_id != self.order_id:
            return False
        if self.location_ids is not None and not concerns(event.payload, self.location_ids):
            return False
        return self.channel_id is None or event.channel_id == self.channel_id

    def offer(self, event: StreamEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


# The relay found another process stamping (domain/events/stream.py): look again soon,
# for what committed after that process's pass began; less and less often while that
# lasts (a stuck stamper is ended by the server within seconds).
RELAY_BUSY_RETRY_SECONDS = (0.05, 1.0)


class EventHub:
    def __init__(
        self,
        dsn: str,
        relay: Callable[[], Awaitable[object]] | None = None,
        connect_args: dict[str, Any] | None = None,
    ) -> None:
        self._dsn = dsn
        self._relay = relay
        # asyncpg.connect's arguments (timeouts, server settings: see domain.db.Waits).
        self._connect_args = dict(connect_args or {})
        # Feeds indexed by what they follow, so fan-out costs what it delivers.
        self._by_order: dict[int, set[Feed]] = {}
        self._by_channel: dict[int, set[Feed]] = {}
        self._everything: set[Feed] = set()
        self._head = 0
        self._listener: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._wake_fanout = asyncio.Event()
        self._wake_relay = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def head(self) -> int:
        return self._head

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up (as far as this process knows)."""
        return self._listener is not None and not self._listener.is_closed()

    async def start(self) -> None:
        # Reads go through a small pool of their own, which replaces broken connections.
        # They only SELECT, so there is nothing to reset between uses (the default
        # reset is one more statement per read).
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=2, reset=_nothing_to_reset, **self._connect_args
        )
        await self._connect()
        async with self._pool.acquire() as conn:
            self._head = await stream_head(conn)
        self._tasks = [
            asyncio.create_task(self._fanout_loop(), name="eventhub-fanout"),
            asyncio.create_task(self._relay_loop(), name="eventhub-relay"),
            asyncio.create_task(self._watchdog(), name="eventhub-watchdog"),
        ]
        self._wake_relay.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._disconnect()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        *,
        order_id: int | None = None,
        channel_id: int | None = None,
        location_ids: frozenset[int] | None = None,
    ) -> AsyncIterator[Feed]:
        feed = Feed(order_id, channel_id, location_ids)
        index = self._index(feed)
        index.add(feed)
        try:
            yield feed
        finally:
            index.discard(feed)

    def _index(self, feed: Feed) -> set[Feed]:
        if feed.order_id is not None:
            return self._by_order.setdefault(feed.order_id, set())
        if feed.channel_id is not None:
            return self._by_channel.setdefault(feed.channel_id, set())
        return self._everything

    # ---- connections ----

    async def _connect(self) -> None:
        self._listener = await asyncpg.connect(self._dsn, **self._connect_args)
        await self._listener.add_listener(EVENTS_CHANNEL, self._on_event)
        await self._listener.add_listener(STREAM_CHANNEL, self._on_stream)

    async def _disconnect(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._listener.close(), 2)
        self._listener = None

    def _on_event(self, *_: Any) -> None:
        self._wake_relay.set()

    def _on_stream(self, *_: Any) -> None:
        self._wake_fanout.set()

    async def _watchdog(self) -> None:
        backoff = 0.5
        while True:
            await asyncio.sleep(PING_SECONDS)
            try:
                assert self._listener is not None
                await asyncio.wait_for(self._listener.execute("SELECT 1"), PING_SECONDS)
                backoff = 0.5
            except Exception:
                log.warning("event listener lost its database connection; reconnecting")
                await self._disconnect()
                while True:
                    try:
                        await self._connect()
                        break
                    except Exception:
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 10)
                # Catch up on whatever was committed while we were away.
                self._wake_relay.set()
                self._wake_fanout.set()

    # ---- loops ----

    async def _relay_loop(self) -> None:
        busy_delay = RELAY_BUSY_RETRY_SECONDS[0]
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that lands as the event fires, and stop() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake_relay.wait()
            self._wake_relay.clear()
            if self._relay is None:
                continue
            try:
                done = await self._relay()
            except Exception as exc:
                # A database away is expected to pass: one line; anything else in full.
                log.warning("relay failed; will retry: %s", exc, exc_info=not is_transient(exc))
                continue
            if done is None:  # another process is stamping: look again shortly
                await asyncio.sleep(busy_delay)
                busy_delay = min(busy_delay * 2, RELAY_BUSY_RETRY_SECONDS[1])
                self._wake_relay.set()
            else:
                busy_delay = RELAY_BUSY_RETRY_SECONDS[0]

    async def _fanout_loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that lands as the event fires, and stop() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake_fanout.wait()
            self._wake_fanout.clear()
            try:
                await self._fan_out()
            except Exception as exc:
                log.warning(
                    "event fan-out failed; will retry: %s", exc, exc_info=not is_transient(exc)
                )

    async def _fan_out(self) -> None:
        assert self._pool is not None
        while True:
            async with self._pool.acquire() as conn:
                events = await read_stream(conn, self._head, READ_BATCH)
            if not events:
                return
            for event in events:
                for feeds in (
                    self._by_order.get(event.order_id, ()),
                    self._by_channel.get(event.channel_id, ()),
                    self._everything,
                ):
                    for feed in feeds:
                        if feed.wants(event):
                            feed.offer(event)
            self._head = events[-1].stream_seq
            if len(events) < READ_BATCH:
                return
