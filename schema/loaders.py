"""Per-request dataloaders: each batches by key and reads in a session of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from domain.catalog.models import Location
from domain.channel.models import ChannelLocation
from schema.context import Context

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")


def now_or_later(
    loader: DataLoader[K, V], key: K, build: Callable[[V], R], *, shared: bool = False
) -> Any:
    """`build(value)` at once when the loader holds the key already (primed, or loaded
    ahead by a page resolver), else an awaitable of it. A field resolver that returns
    this is async only when it must be: graphql-core's cost per awaited field was most
    of a 100-order page's CPU (bench/orders_page.py). `shared`: build once per key and
    request (a location or channel that a page shows a hundred times)."""
    future = loader.cache_map.get(key) if loader.cache else None
    if (
        future is not None
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    ):
        if not shared:
            return build(future.result())
        views: dict[K, R] = loader.__dict__.setdefault("_oms_views", {})
        view = views.get(key)
        if view is None:
            view = views[key] = build(future.result())
        return view

    async def later() -> R:
        return build(await loader.load(key))

    return later()


def batch_loader(
    fetch: Callable[[AsyncSession, list[K]], Awaitable[dict[K, V]]],
    default: Any = None,
) -> Callable[[Context], DataLoader[K, V]]:
    """A loader factory: `fetch` maps keys to values in one query; missing keys get `default`."""

    def factory(ctx: Context) -> DataLoader[K, V]:
        async def load(keys: Sequence[K]) -> list[V]:
            async with ctx.session() as session:
                found = await fetch(session, list(keys))
            return [found.get(k, default() if callable(default) else default) for k in keys]

        return DataLoader(load_fn=load)

    return factory


async def _locations(session: AsyncSession, ids: list[int]) -> dict[int, Location]:
    rows = await session.scalars(select(Location).where(Location.id.in_(ids)))
    return {r.id: r for r in rows}


async def _network(session: AsyncSession, channel_ids: list[int]) -> dict[int, list[Location]]:
    rows = await session.execute(
        select(ChannelLocation.channel_id, Location)
        .join(Location, Location.id == ChannelLocation.location_id)
        .where(ChannelLocation.channel_id.in_(channel_ids))
        .order_by(Location.code)
    )
    out: dict[int, list[Location]] = {}
    for channel_id, location in rows.all():
        out.setdefault(channel_id, []).append(location)
    return out


location_by_id = batch_loader(_locations)
network_by_channel = batch_loader(_network, default=list)


async def _channels(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.channel.models import Channel

    rows = await session.scalars(select(Channel).where(Channel.id.in_(ids)))
    return {r.id: r for r in rows}


async def _orders(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.order.queries import orders_by_id

    return await orders_by_id(session, ids)


async def _order_lines(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.order.queries import lines_by_order

    return await lines_by_order(session, ids)


async def _order_shipments(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.order.queries import shipments_by_order

    return await shipments_by_order(session, ids)


async def _shipments(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.order.queries import shipments_by_id

    return await shipments_by_id(session, ids)


channel_by_id = batch_loader(_channels)
order_by_id = batch_loader(_orders)
lines_of_order = batch_loader(_order_lines, default=list)
shipments_of_order = batch_loader(_order_shipments, default=list)
shipment_by_id = batch_loader(_shipments)


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order with what its answers usually show: lines, shipments and their locations."""

    order: Any
    lines: list[Any]
    shipments: list[Any]
    locations: dict[int, Location]


async def order_snapshots(session: AsyncSession, ids: list[int]) -> dict[int, OrderSnapshot]:
    """Several orders with their lines, shipments and locations, in four statements."""
    from domain.order.queries import lines_by_order, orders_by_id, shipments_by_order

    found = await orders_by_id(session, ids)
    if not found:
        return {}
    lines = await lines_by_order(session, list(found))
    shipments = await shipments_by_order(session, list(found))
    location_ids = sorted({s.location_id for rows in shipments.values() for s in rows})
    locations = await _locations(session, location_ids) if location_ids else {}
    out = {}
    for order_id, order in found.items():
        mine = shipments.get(order_id, [])
        out[order_id] = OrderSnapshot(
            order,
            lines.get(order_id, []),
            mine,
            {s.location_id: locations[s.location_id] for s in mine if s.location_id in locations},
        )
    return out


def prime_snapshot(ctx: Context, snapshot: OrderSnapshot) -> None:
    """Put an order already read into this request's loaders (its answer reads nothing)."""
    order_id = snapshot.order.id
    ctx.loader("order", order_by_id).prime(order_id, snapshot.order)
    ctx.loader("lines", lines_of_order).prime(order_id, snapshot.lines)
    ctx.loader("shipments", shipments_of_order).prime(order_id, snapshot.shipments)
    for location_id, location in snapshot.locations.items():
        ctx.loader("location", location_by_id).prime(location_id, location)


async def prime_order(
    ctx: Context,
    session: AsyncSession,
    order: Any,
    lines: list[Any],
    shipments: list[Any],
) -> None:
    """Put an order a mutation has just written (as its statements returned it) into this
    request's loaders, with its shipments' locations read on the mutation's own
    connection: the answer then needs no other connection."""
    location_ids = sorted({s.location_id for s in shipments})
    locations = await _locations(session, location_ids) if location_ids else {}
    prime_snapshot(ctx, OrderSnapshot(order, lines, shipments, locations))


async def _tracking(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.order.queries import tracking_by_shipment

    return await tracking_by_shipment(session, ids)


tracking_of_shipment = batch_loader(_tracking, default=list)


async def _returns(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.returns.queries import returns_by_id

    return await returns_by_id(session, ids)


async def _order_returns(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.returns.queries import returns_by_order

    return await returns_by_order(session, ids)


async def _return_lines(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.returns.queries import lines_by_return

    return await lines_by_return(session, ids)


async def _refunds(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.returns.queries import refunds_by_return

    return await refunds_by_return(session, ids)


async def _order_line(session: AsyncSession, ids: list[int]) -> dict[int, Any]:
    from domain.order.queries import lines_by_id

    return await lines_by_id(session, ids)


return_by_id = batch_loader(_returns)
returns_of_order = batch_loader(_order_returns, default=list)
lines_of_return = batch_loader(_return_lines, default=list)
refunds_of_return = batch_loader(_refunds, default=list)
order_line_by_id = batch_loader(_order_line)
