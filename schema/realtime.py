"""Subscriptions over graphql-transport-ws: one order's updates, or a stream of events
(a channel's, every channel's for an admin, a partner's locations').

Each subscription registers with the process's event hub before it reads the history,
so nothing falls between the replay and the live feed; what arrives twice is dropped
by its position, and a gap (or a feed that overflowed) is filled from the outbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Any, Protocol

import strawberry
from graphql import GraphQLError

from domain.access.principal import Role
from domain.db import driver_connection
from domain.events.catalog import concerns, public_payload
from domain.events.stream import StreamEvent, order_events_after, read_stream
from schema.base import JSON, InfoT, authorize, pk_of
from schema.fulfillment.types import Shipment
from schema.loaders import (
    OrderSnapshot,
    order_by_id,
    order_snapshots,
    prime_snapshot,
    shipments_of_order,
)
from schema.order.resolvers import load_order
from schema.order.types import Order

log = logging.getLogger("oms.realtime")


class Feed(Protocol):
    overflowed: bool

    @property
    def queue(self) -> Any: ...


class EventFeeds(Protocol):
    def subscribe(
        self,
        *,
        order_id: int | None = None,
        channel_id: int | None = None,
        location_ids: frozenset[int] | None = None,
    ) -> Any: ...


@strawberry.type(description="One event of an order, with the order as it stands after it.")
class OrderUpdate:
    global_sequence: int = strawberry.field(
        description="Position on the global stream (resume orderEvents after it)."
    )
    sequence: int = strawberry.field(
        description="Gap-free position in the order's history (resume orderUpdated after it)."
    )
    type: str = strawberry.field(description="What happened, e.g. SHIPMENT_STATUS_CHANGED.")
    occurred_at: dt.datetime = strawberry.field(description="When.")
    actor: str = strawberry.field(description="Who.")
    payload: JSON = strawberry.field(
        description=(
            "Details, with stable keys per type; ids are global ids (as `node(id:)` takes). "
            "A partner is shown the part that concerns its locations."
        )
    )
    order: Order | None = strawberry.field(
        description="The order as it stands now; null for a partner (see `shipments`)."
    )
    shipments: list[Shipment] = strawberry.field(
        description=(
            "The order's shipments as they stand now, those the caller may see: all of them for "
            "an admin, the channel or the customer; a partner's at its locations."
        )
    )


def _hub(info: InfoT) -> EventFeeds:
    hub = info.context.services.extra.get("event_hub")
    if hub is None:
        raise GraphQLError(
            "real-time updates are not available on this process",
            extensions={"code": "UNAVAILABLE"},
        )
    return hub


class OrderSnapshots:
    """The order as it stands after an event, read once per process for every subscriber
    the event reaches, and for all the orders of a burst of events in one read.

    Without it, each of 2,000 subscribers re-read its order (four statements) for every
    event (bench/subscriptions.py). A snapshot serves the subscribers that ask for the
    same event within FRESH_SECONDS of its read ("as it stands now" stays true to that);
    a later event, or a later replay, reads the order afresh. A failed read is not kept.
    """

    FRESH_SECONDS = 0.25

    def __init__(self, sessionmaker: Any) -> None:
        self._sessionmaker = sessionmaker
        # (order, stream position) -> (when read, snapshot), oldest first
        self._done: OrderedDict[
            tuple[int, int], tuple[float, asyncio.Future[OrderSnapshot | None]]
        ] = OrderedDict()
        self._waiting: dict[tuple[int, int], asyncio.Future[OrderSnapshot | None]] = {}
        self._flush: asyncio.Task[None] | None = None

    async def get(self, order_id: int, position: int) -> OrderSnapshot | None:
        key = (order_id, position)
        done = self._done.get(key)
        future: asyncio.Future[OrderSnapshot | None] | None = (
            done[1]
            if done is not None and time.monotonic() - done[0] <= self.FRESH_SECONDS
            else self._waiting.get(key)
        )
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[key] = future
            if self._flush is None:
                # Let every subscriber woken by this burst of events ask first.
                self._flush = asyncio.create_task(self._read())
        # shield: one subscriber going away must not cancel the read for the others.
        return await asyncio.shield(future)

    async def _read(self) -> None:
        await asyncio.sleep(0)
        batch, self._waiting, self._flush = self._waiting, {}, None
        try:
            async with self._sessionmaker() as session:
                found = await order_snapshots(session, sorted({k[0] for k in batch}))
        except Exception as exc:
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        now = time.monotonic()
        while self._done and now - next(iter(self._done.values()))[0] > self.FRESH_SECONDS:
            self._done.popitem(last=False)
        for key, future in batch.items():
            future.set_result(found.get(key[0]))
            self._done[key] = (now, future)


def _snapshots(info: InfoT) -> OrderSnapshots:
    extra = info.context.services.extra
    snapshots = extra.get("order_snapshots")
    if snapshots is None:
        snapshots = extra["order_snapshots"] = OrderSnapshots(
            info.context.services.read_sessionmaker
        )
    return snapshots


async def _update(info: InfoT, event: StreamEvent) -> OrderUpdate:
    info.context.reset_loaders()  # the order changed: read it afresh
    try:
        snapshot = await _snapshots(info).get(event.order_id, event.stream_seq)
    except Exception:  # the shared read failed: this subscriber reads on its own
        log.warning("shared order read failed; reading for one subscriber", exc_info=True)
        snapshot = None
    if snapshot is not None:
        prime_snapshot(info.context, snapshot)
    principal = info.context.principal
    partner = principal.role is Role.PARTNER
    row = await info.context.loader("order", order_by_id).load(event.order_id)
    order = None if partner else await load_order(info, event.order_id)
    if row is None or (order is None and not partner):
        raise GraphQLError("not found", extensions={"code": "NOT_FOUND"})
    shipments = [
        Shipment.of(s, row)
        for s in await info.context.loader("shipments", shipments_of_order).load(event.order_id)
        if not partner or principal.can_act_at_location(s.location_id)
    ]
    return OrderUpdate(
        global_sequence=event.stream_seq,
        sequence=event.sequence,
        type=event.type,
        occurred_at=event.occurred_at,
        actor=event.actor,
        payload=public_payload(  # type: ignore[arg-type]
            event.type, event.payload, locations=principal.location_ids if partner else None
        ),
        order=order,
        shipments=shipments,
    )


def _check_token(info: InfoT) -> None:
    expires = info.context.principal_expires_at
    if expires is not None and info.context.now() >= expires:
        raise GraphQLError("the credential has expired", extensions={"code": "UNAUTHENTICATED"})


async def _next(feed: Any) -> StreamEvent:
    return await feed.queue.get()


@strawberry.type
class RealtimeSubscription:
    @strawberry.subscription(
        description=(
            "An order's events as they happen, for its customer, its channel or an admin. With "
            "`afterSequence`, first replays what came after it: reconnect with the last sequence seen "
            "and nothing is missed or repeated."
        )
    )
    async def order_updated(
        self, info: InfoT, order_id: strawberry.ID, after_sequence: int | None = None
    ) -> AsyncGenerator[OrderUpdate, None]:
        authorize(info, Role.ADMIN, Role.CHANNEL, Role.CUSTOMER)
        pk = pk_of(order_id, "Order")
        if pk is None or await load_order(info, pk) is None:
            raise GraphQLError("not found", extensions={"code": "NOT_FOUND"})
        async with _hub(info).subscribe(order_id=pk) as feed:
            async with info.context.session() as session:
                conn = await driver_connection(session)
                if after_sequence is None:
                    last = int(
                        await conn.fetchval(
                            "SELECT COALESCE(max(sequence), 0) FROM order_events WHERE order_id = $1 AND stream_seq IS NOT NULL",
                            pk,
                        )
                    )
                    backlog: list[StreamEvent] = []
                else:
                    last = after_sequence
                    backlog = await order_events_after(conn, pk, last)
            for event in backlog:
                yield await _update(info, event)
                last = event.sequence
            while True:
                _check_token(info)
                event = await _next(feed)
                if feed.overflowed or event.sequence > last + 1:
                    feed.overflowed = False
                    async with info.context.session() as session:
                        missing = await order_events_after(
                            await driver_connection(session), pk, last
                        )
                    for gap_event in missing:
                        yield await _update(info, gap_event)
                        last = gap_event.sequence
                    continue
                if event.sequence <= last:
                    continue
                yield await _update(info, event)
                last = event.sequence

    @strawberry.subscription(
        description=(
            "Every order event of a channel (a channel key: its own; an admin: any channel, or all when "
            "`channel` is null), or for a partner (`channel` null) every event that concerns one of its "
            "locations, in stream order. Resume with `afterSequence` = the last globalSequence seen."
        )
    )
    async def order_events(
        self, info: InfoT, channel: str | None = None, after_sequence: int | None = None
    ) -> AsyncGenerator[OrderUpdate, None]:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL, Role.PARTNER)
        # A partner follows its locations, whatever the channel: channels are not its to name.
        locations = principal.location_ids if principal.role is Role.PARTNER else None
        channel_id: int | None = None
        async with info.context.session() as session:
            conn = await driver_connection(session)
            if channel is not None:
                channel_id = await conn.fetchval("SELECT id FROM channels WHERE code = $1", channel)
                if channel_id is None or not principal.can_see_channel(channel_id):
                    raise GraphQLError("not found", extensions={"code": "NOT_FOUND"})
            elif principal.role is Role.CHANNEL:
                channel_id = principal.channel_id
        async with _hub(info).subscribe(channel_id=channel_id, location_ids=locations) as feed:
            async with info.context.session() as session:
                conn = await driver_connection(session)
                if after_sequence is None:
                    last = int(
                        await conn.fetchval("SELECT COALESCE(max(stream_seq), 0) FROM order_events")
                    )
                else:
                    last = after_sequence
            while True:
                # Replay (or refill after an overflow) from the outbox, then go live.
                while True:
                    async with info.context.session() as session:
                        batch = await read_stream(
                            await driver_connection(session), last, 500, channel_id=channel_id
                        )
                    for event in batch:
                        last = event.stream_seq
                        if locations is None or concerns(event.payload, locations):
                            yield await _update(info, event)
                    if len(batch) < 500:
                        break
                feed.overflowed = False
                while not feed.overflowed:
                    _check_token(info)
                    event = await _next(feed)
                    if event.stream_seq <= last:
                        continue
                    last = event.stream_seq
                    if locations is None or concerns(event.payload, locations):
                        yield await _update(info, event)
