"""Queries and mutations of orders: place, preview, cancel, read."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.access.principal import Role
from domain.availability import disclosure
from domain.errors import DomainError, NotFound
from domain.faults import retry_in_request
from domain.order import cancel as cancelling
from domain.order import placement, writing
from domain.order import queries as orders
from schema.availability.resolvers import PlannedShipmentView, SkuQuantity
from schema.base import (
    JSON,
    Edge,
    InfoT,
    PageInfo,
    authorize,
    build_page,
    claim_idempotency,
    complete_idempotency,
    decode_cursor,
    encode_cursor,
    input_dict,
    page_size,
    pk_of,
    refusal,
    selected,
    user_errors,
)
from schema.loaders import (
    channel_by_id,
    lines_of_order,
    location_by_id,
    order_by_id,
    prime_order,
    shipments_of_order,
)
from schema.order.inputs import CancelOrderLinesInput, OrderFilter, PlaceOrderInput
from schema.order.types import Order, OrderPayload

# A placement that lost planned stock to another order retries with a fresh plan; the
# last attempt plans on locked rows, so it cannot lose again.
PLACEMENT_ATTEMPTS = 6


@strawberry.type(description="A page of orders, newest first.")
class OrderConnection:
    edges: list[Edge[Order]] = strawberry.field(description="The orders of this page.")
    page_info: PageInfo = strawberry.field(description="Paging position.")
    total_count: int = strawberry.field(description="Orders matching the filter, all pages.")


@strawberry.type(description="What sourcing would do with an order, without placing it.")
class SourcingPreview:
    shipments: list[PlannedShipmentView] = strawberry.field(
        description="The shipments it would create."
    )
    unallocated: list[SkuQuantity] = strawberry.field(
        description="Units no location could serve now."
    )
    explanation: JSON = strawberry.field(description="The plan, the alternatives and the reasons.")


async def load_order(info: InfoT, order_id: int) -> Order | None:
    row = await info.context.loader("order", order_by_id).load(order_id)
    row = orders.visible(info.context.principal, row)
    return Order.of(row) if row else None


def _filter(f: OrderFilter | None, customer_id: int | None = None) -> orders.OrderFilter:
    if f is None:
        return orders.OrderFilter(customer_id=customer_id)
    return orders.OrderFilter(
        channel_code=f.channel,
        statuses=[s.value for s in f.status] if f.status else None,
        placed_after=f.placed_after,
        placed_before=f.placed_before,
        sku=f.sku,
        customer_email=f.customer_email,
        customer_id=customer_id,
    )


async def order_page(
    info: InfoT, f: orders.OrderFilter, first: int | None, after: str | None
) -> OrderConnection:
    principal = info.context.principal
    size = page_size(first)
    cursor = decode_cursor(after)
    position = None
    if cursor:
        try:
            position = (dt.datetime.fromisoformat(cursor[0]), int(cursor[1]))
        except (ValueError, IndexError):
            raise GraphQLError(
                "`after` is not a cursor of this connection", extensions={"code": "BAD_USER_INPUT"}
            ) from None
    async with info.context.session() as session:
        rows = await orders.page_of_orders(session, principal, f, size, position)
        total = await orders.count_orders(session, principal, f)
    loader = info.context.loader("order", order_by_id)
    for r in rows:
        loader.prime(r.id, r)
    await _load_ahead(info, rows[:size])
    edges, page = build_page(rows, size, Order.of, lambda r: encode_cursor(r.placed_at, r.id))
    return OrderConnection(edges=edges, page_info=page, total_count=total)


async def _load_ahead(info: InfoT, rows: list[orders.OrderRow]) -> None:
    """Load what the query asks of the page's orders before their fields resolve: the
    same statements the loaders would run, but the fields then answer without awaiting
    (see now_or_later), which was most of the page's CPU."""
    node = selected(info.selected_fields, info.field_name, "edges", "node")
    ids = [r.id for r in rows]
    if not ids or not node:
        return
    ahead = []
    if "lines" in node:
        ahead.append(info.context.loader("lines", lines_of_order).load_many(ids))
    if "channel" in node:
        channels = sorted({r.channel_id for r in rows})
        ahead.append(info.context.loader("channel", channel_by_id).load_many(channels))
    shipments = None
    if "shipments" in node:
        shipments = info.context.loader("shipments", shipments_of_order).load_many(ids)
        ahead.append(shipments)
    results = await asyncio.gather(*ahead)
    if shipments is not None and "location" in selected(node["shipments"].selections):
        per_order = results[-1]
        location_ids = sorted({s.location_id for rows_ in per_order for s in rows_})
        await info.context.loader("location", location_by_id).load_many(location_ids)


@strawberry.type
class OrderQuery:
    @strawberry.field(
        description="One order, if the caller may see it (its channel, its customer, or admin)."
    )
    async def order(self, info: InfoT, id: strawberry.ID) -> Order | None:
        authorize(info, Role.ADMIN, Role.CHANNEL, Role.CUSTOMER)
        pk = pk_of(id, "Order")
        return await load_order(info, pk) if pk is not None else None

    @strawberry.field(description="An order by the channel's own id.")
    async def order_by_external_id(
        self, info: InfoT, channel: str, external_id: str
    ) -> Order | None:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        async with info.context.session() as session:
            row = await orders.order_by_external_id(session, channel, external_id)
        row = orders.visible(principal, row)
        return Order.of(row) if row else None

    @strawberry.field(description="Orders, newest first, filtered; a channel sees its own.")
    async def orders(
        self,
        info: InfoT,
        filter: OrderFilter | None = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, at most 100.")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> OrderConnection:
        authorize(info, Role.ADMIN, Role.CHANNEL)
        return await order_page(info, _filter(filter), first, after)

    @strawberry.field(
        description="What sourcing would do with this order now, without reserving anything."
    )
    async def sourcing_preview(self, info: InfoT, input: PlaceOrderInput) -> SourcingPreview:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        try:
            async with info.context.uow() as uow:
                prepared = await placement.prepare(
                    uow.session, principal, input.to_data(), info.context.now(), strict=False
                )
                # A preview writes nothing, whatever prepare touched (customers are not created).
                await uow.session.rollback()
        except DomainError as exc:
            raise refusal(exc) from None
        return SourcingPreview(
            shipments=[PlannedShipmentView.of(s) for s in prepared.plan.shipments],
            unallocated=[
                SkuQuantity(sku=k, quantity=v) for k, v in sorted(prepared.plan.unallocated.items())
            ],
            explanation=disclosure.plan_for(principal, prepared.decision()),  # type: ignore[arg-type]
        )


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        description=(
            "Place an order: validate, source, reserve and store it in one transaction. Idempotent by key "
            "(24 h) and by the channel's externalId: the same request under another key answers the "
            "order already placed (nothing changes, no event); other content under a known externalId "
            "is DUPLICATE_EXTERNAL_ID with that order in `order`. A line that cannot be served is "
            "INSUFFICIENT_STOCK, never a partial order."
        )
    )
    async def place_order(
        self, info: InfoT, input: PlaceOrderInput, idempotency_key: str
    ) -> OrderPayload:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        data = input.to_data()
        fingerprint = input_dict(input)
        order_id: int | None = None
        for attempt in range(PLACEMENT_ATTEMPTS):
            try:
                async with info.context.uow() as uow:
                    replay = await claim_idempotency(
                        info, uow.session, "placeOrder", idempotency_key, fingerprint
                    )
                    if replay is not None:
                        order_id = int(replay["orderId"])
                        break
                    now = info.context.now()
                    prepared = await placement.prepare(
                        uow.session, principal, data, now, lock=attempt == PLACEMENT_ATTEMPTS - 1
                    )
                    placed = await writing.write(uow.session, principal, prepared, now)
                    order_id = placed.order.id
                    await complete_idempotency(
                        info, uow.session, "placeOrder", idempotency_key, {"orderId": order_id}
                    )
                    await prime_order(
                        info.context, uow.session, placed.order, placed.lines, placed.shipments
                    )
                break
            except placement.StockConflict:
                continue
            except placement.AlreadyPlaced as exc:
                # The same placement under another key: that order, nothing changed.
                order_id = exc.order_id
                break
            except placement.DuplicateExternalId as exc:
                return OrderPayload(
                    order=await load_order(info, exc.order_id), user_errors=user_errors(exc)
                )
            except DomainError as exc:
                return OrderPayload(order=None, user_errors=user_errors(exc))
            except Exception as exc:
                delay = retry_in_request(exc, attempt)
                if delay is None or attempt == PLACEMENT_ATTEMPTS - 1:
                    raise  # answered as a typed, retryable error (schema/errors.py)
                await asyncio.sleep(delay)
        assert order_id is not None
        return OrderPayload(order=await load_order(info, order_id), user_errors=[])

    @strawberry.mutation(
        description="Cancel what has not shipped of an order, releasing its reservations."
    )
    async def cancel_order(
        self, info: InfoT, order_id: strawberry.ID, reason: str | None = None
    ) -> OrderPayload:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        pk = pk_of(order_id, "Order")
        try:
            if pk is None:
                raise NotFound("no such order", field=["orderId"])
            async with info.context.uow() as uow:
                await cancelling.cancel(
                    uow.session,
                    principal,
                    order_id=pk,
                    lines=None,
                    reason=reason,
                    now=info.context.now(),
                )
        except DomainError as exc:
            return OrderPayload(order=None, user_errors=user_errors(exc))
        return OrderPayload(order=await load_order(info, pk), user_errors=[])

    @strawberry.mutation(
        description="Cancel some units of some lines, if not shipped; reservations released."
    )
    async def cancel_order_lines(self, info: InfoT, input: CancelOrderLinesInput) -> OrderPayload:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        pk = pk_of(input.order_id, "Order")
        try:
            if pk is None:
                raise NotFound("no such order", field=["input", "orderId"])
            lines = []
            for i, line in enumerate(input.lines):
                line_pk = pk_of(line.order_line_id, "OrderLine")
                if line_pk is None:
                    raise NotFound(
                        "no such line on this order",
                        field=["input", "lines", str(i), "orderLineId"],
                    )
                lines.append((line_pk, line.quantity))
            async with info.context.uow() as uow:
                await cancelling.cancel(
                    uow.session,
                    principal,
                    order_id=pk,
                    lines=lines,
                    reason=input.reason,
                    now=info.context.now(),
                )
        except DomainError as exc:
            return OrderPayload(order=None, user_errors=user_errors(exc))
        return OrderPayload(order=await load_order(info, pk), user_errors=[])
