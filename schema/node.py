"""`node(id:)`: refetch any object by its global id, if the caller may see it.

Each area registers a resolver for its types; an id of an unknown type, or of an
object the caller may not see, answers null, exactly as a missing object does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select

from domain.access.principal import Role
from domain.catalog import models as catalog_models
from domain.channel import models as channel_models
from schema.base import InfoT, Node, from_global_id
from schema.catalog.types import Location, Product
from schema.channel.types import Channel

NodeResolver = Callable[[InfoT, int], Awaitable[Node | None]]
# Who reads locations and products (as the `locations` and `products` queries allow).
CATALOG_READERS = frozenset({Role.ADMIN, Role.CHANNEL, Role.PARTNER})
NODE_RESOLVERS: dict[str, NodeResolver] = {}


def node_type(name: str) -> Callable[[NodeResolver], NodeResolver]:
    def register(fn: NodeResolver) -> NodeResolver:
        NODE_RESOLVERS[name] = fn
        return fn

    return register


async def resolve_node(info: InfoT, id: str) -> Node | None:
    decoded = from_global_id(id)
    if decoded is None or info.context.principal.role is Role.ANONYMOUS:
        return None
    resolver = NODE_RESOLVERS.get(decoded[0])
    return await resolver(info, decoded[1]) if resolver else None


@node_type("Location")
async def _location(info: InfoT, pk: int) -> Node | None:
    p = info.context.principal
    if p.role not in CATALOG_READERS or (p.role is Role.PARTNER and pk not in p.location_ids):
        return None
    async with info.context.session() as session:
        m = await session.get(catalog_models.Location, pk)
    return Location.of(m) if m else None


@node_type("Product")
async def _product(info: InfoT, pk: int) -> Node | None:
    if info.context.principal.role not in CATALOG_READERS:
        return None
    async with info.context.session() as session:
        m = await session.get(catalog_models.Product, pk)
    return Product.of(m) if m else None


@node_type("Channel")
async def _channel(info: InfoT, pk: int) -> Node | None:
    p = info.context.principal
    if p.role not in (Role.ADMIN, Role.CHANNEL) or not p.can_see_channel(pk):
        return None
    async with info.context.session() as session:
        m = await session.scalar(
            select(channel_models.Channel).where(channel_models.Channel.id == pk)
        )
    return Channel.of(m) if m else None


@node_type("ApiKey")
async def _api_key(info: InfoT, pk: int) -> Node | None:
    from schema.access.resolvers import _api_key_view

    if info.context.principal.role is not Role.ADMIN:
        return None
    views = await _api_key_view(info, [pk])
    return views[0] if views else None


@node_type("Order")
async def _order(info: InfoT, pk: int) -> Node | None:
    from schema.order.resolvers import load_order

    if info.context.principal.role not in (Role.ADMIN, Role.CHANNEL, Role.CUSTOMER):
        return None
    return await load_order(info, pk)


@node_type("Shipment")
async def _shipment(info: InfoT, pk: int) -> Node | None:
    from schema.fulfillment.resolvers import load_shipment

    return await load_shipment(info, pk)


@node_type("OrderLine")
async def _order_line(info: InfoT, pk: int) -> Node | None:
    from domain.order.models import OrderLine as LineModel
    from schema.order.resolvers import load_order
    from schema.order.types import OrderLine

    async with info.context.session() as session:
        line = await session.get(LineModel, pk)
    if line is None or await load_order(info, line.order_id) is None:
        return None
    from domain.order.queries import lines_by_order

    async with info.context.session() as session:
        rows = (await lines_by_order(session, [line.order_id])).get(line.order_id, [])
    order = await load_order(info, line.order_id)
    row = next((r for r in rows if r.id == pk), None)
    return OrderLine.of(row, order.currency) if row and order else None


@node_type("Return")
async def _return(info: InfoT, pk: int) -> Node | None:
    from schema.returns.resolvers import load_return

    return await load_return(info, pk)
