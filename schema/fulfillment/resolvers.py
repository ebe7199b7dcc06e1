"""The partners' shipment work: work list, picking, packing, shipping, tracking, pickup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from domain.access.principal import Role
from domain.db import driver_connection
from domain.errors import DomainError, NotFound
from domain.fulfillment import lifecycle, tracking
from domain.order import queries
from schema.base import (
    Edge,
    InfoT,
    PageInfo,
    UserError,
    authorize,
    build_page,
    decode_cursor,
    encode_cursor,
    page_size,
    pk_of,
    user_errors,
)
from schema.fulfillment.types import Shipment, ShipmentPayload, ShipmentStatus
from schema.loaders import order_by_id, shipment_by_id


async def load_shipment(info: InfoT, pk: int) -> Shipment | None:
    """A shipment the caller may see: its location's partner, the carrier it was handed
    to, its order's channel or customer, or an admin."""
    row = await info.context.loader("shipment", shipment_by_id).load(pk)
    if row is None:
        return None
    p = info.context.principal
    if p.role is Role.CARRIER:
        return Shipment.of(row) if p.can_track(row.location_id, row.carrier) else None
    order = await info.context.loader("order", order_by_id).load(row.order_id)
    if p.role is Role.PARTNER:
        visible = p.can_act_at_location(row.location_id)
    else:
        visible = queries.visible(p, order) is not None
    return Shipment.of(row, order) if visible else None


@strawberry.type(description="A page of shipments.")
class ShipmentConnection:
    edges: list[Edge[Shipment]] = strawberry.field(description="The shipments of this page.")
    page_info: PageInfo = strawberry.field(description="Paging position.")


@strawberry.type(description="Result of recordTrackingEvent.")
class TrackingEventPayload:
    shipment: Shipment | None = strawberry.field(description="The shipment as it now stands.")
    duplicate: bool = strawberry.field(
        description="This carrier event id was already recorded: nothing changed."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was recorded, if so.")


@strawberry.input(description="A parcel.")
class ParcelInput:
    weight_grams: int = strawberry.field(description="Weight in grams.")


@strawberry.input(description="Hand a packed shipment to a carrier.")
class ShipShipmentInput:
    shipment_id: strawberry.ID = strawberry.field(description="The shipment.")
    carrier: str = strawberry.field(
        description="Carrier code, e.g. COLISSIMO, CHRONOPOST, DPD, GLS, UPS, DHL."
    )
    tracking_number: str = strawberry.field(description="The carrier's tracking number.")
    service: str | None = strawberry.field(
        default=None, description="The carrier's service, e.g. HOME_STANDARD."
    )
    parcels: list[ParcelInput] | None = strawberry.field(
        default=None, description="Parcels and their weights."
    )


@strawberry.input(description="A carrier's scan, from the carrier or a TMS.")
class TrackingEventInput:
    event_id: str = strawberry.field(
        description="The carrier's id of this event: the same id twice is one event."
    )
    status: ShipmentStatus = strawberry.field(
        description="IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, DELIVERY_FAILED, RETURNED_TO_SENDER (or SHIPPED)."
    )
    occurred_at: dt.datetime = strawberry.field(description="When it happened, with offset.")
    shipment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The shipment, or:"
    )
    carrier: str | None = strawberry.field(
        default=None,
        description="Carrier code (with trackingNumber); a CARRIER key's own carrier by default.",
    )
    tracking_number: str | None = strawberry.field(
        default=None, description="Tracking number (with carrier)."
    )
    location: str | None = strawberry.field(
        default=None, description="Where, as the carrier says it."
    )
    description: str | None = strawberry.field(default=None, description="The carrier's words.")


def _shipment_pk(id: str, field: list[str]) -> int:
    pk = pk_of(id, "Shipment")
    if pk is None:
        raise NotFound("no such shipment", field=field)
    return pk


async def _run(
    info: InfoT,
    shipment_id: strawberry.ID,
    step: Callable[[Any, Any, int, dt.datetime], Awaitable[Any]],
) -> ShipmentPayload:
    principal = authorize(info, Role.ADMIN, Role.PARTNER)
    try:
        pk = _shipment_pk(shipment_id, ["shipmentId"])
        async with info.context.uow() as uow:
            await step(await driver_connection(uow.session), principal, pk, info.context.now())
    except DomainError as exc:
        return ShipmentPayload(shipment=None, user_errors=user_errors(exc))
    return ShipmentPayload(shipment=await load_shipment(info, pk), user_errors=[])


@strawberry.type
class FulfillmentQuery:
    @strawberry.field(
        description="A location's shipments by status, most urgent (earliest ship-by) first."
    )
    async def shipments(
        self,
        info: InfoT,
        location: str,
        status: list[ShipmentStatus] | None = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, at most 100.")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> ShipmentConnection:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        size = page_size(first)
        cursor = decode_cursor(after)
        position = None
        if cursor:
            try:
                position = (dt.datetime.fromisoformat(cursor[0]), int(cursor[1]))
            except (ValueError, IndexError):
                raise GraphQLError(
                    "`after` is not a cursor of this connection",
                    extensions={"code": "BAD_USER_INPUT"},
                ) from None
        async with info.context.session() as session:
            location_id = await (await driver_connection(session)).fetchval(
                "SELECT id FROM locations WHERE code = $1", location
            )
            if location_id is None or not principal.can_act_at_location(location_id):
                return ShipmentConnection(
                    edges=[],
                    page_info=PageInfo(
                        has_next_page=False,
                        has_previous_page=False,
                        start_cursor=None,
                        end_cursor=None,
                    ),
                )
            rows = await queries.shipments_at(
                session, location_id, [s.value for s in status] if status else None, size, position
            )
        orders = info.context.loader("order", order_by_id)
        loaded = {r.order_id: await orders.load(r.order_id) for r in rows[:size]}
        far = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
        edges, page = build_page(
            rows,
            size,
            lambda r: Shipment.of(r, loaded.get(r.order_id)),
            lambda r: encode_cursor(r.ship_by or far, r.id),
        )
        return ShipmentConnection(edges=edges, page_info=page)

    @strawberry.field(
        description="One shipment, if the caller may see it (a carrier: the parcels handed to it)."
    )
    async def shipment(self, info: InfoT, id: strawberry.ID) -> Shipment | None:
        authorize(info, Role.ADMIN, Role.PARTNER, Role.CARRIER, Role.CHANNEL, Role.CUSTOMER)
        pk = pk_of(id, "Shipment")
        return await load_shipment(info, pk) if pk is not None else None


@strawberry.type
class FulfillmentMutation:
    @strawberry.mutation(
        description=(
            "Start picking an allocated shipment (ALLOCATED → PICKING). Safe to retry: on a "
            "shipment already PICKING it answers the shipment as it is and changes nothing."
        )
    )
    async def start_picking(self, info: InfoT, shipment_id: strawberry.ID) -> ShipmentPayload:
        return await _run(info, shipment_id, lifecycle.start_picking)

    @strawberry.mutation(
        description=(
            "Packed and ready for the carrier (PICKING → PACKED), with parcels if known. Safe to "
            "retry: on a shipment already PACKED (with the same parcels, if given) it changes nothing."
        )
    )
    async def pack_shipment(
        self, info: InfoT, shipment_id: strawberry.ID, parcels: list[ParcelInput] | None = None
    ) -> ShipmentPayload:
        weights = [p.weight_grams for p in parcels or []]

        async def step(conn: Any, principal: Any, pk: int, now: dt.datetime) -> None:
            await lifecycle.pack(conn, principal, pk, now, weights)

        return await _run(info, shipment_id, step)

    @strawberry.mutation(
        description=(
            "Hand to the carrier (PACKED → SHIPPED): stock leaves (on hand and reserved go down). "
            "Safe to retry: a shipment already shipped under the same carrier and tracking number "
            "answers as it is; another tracking number is a CONFLICT."
        )
    )
    async def ship_shipment(self, info: InfoT, input: ShipShipmentInput) -> ShipmentPayload:
        data = lifecycle.ShipData(
            carrier=input.carrier,
            tracking_number=input.tracking_number,
            service=input.service,
            parcels=[p.weight_grams for p in input.parcels or []],
        )

        async def step(conn: Any, principal: Any, pk: int, now: dt.datetime) -> None:
            await lifecycle.ship(conn, principal, pk, data, now)

        return await _run(info, input.shipment_id, step)

    @strawberry.mutation(
        description=(
            "A click-and-collect order is ready (→ READY_FOR_PICKUP); issues a pickup code. Safe "
            "to retry: on a shipment already READY_FOR_PICKUP it changes nothing (same code)."
        )
    )
    async def mark_ready_for_pickup(
        self, info: InfoT, shipment_id: strawberry.ID
    ) -> ShipmentPayload:
        return await _run(info, shipment_id, lifecycle.ready_for_pickup)

    @strawberry.mutation(
        description=(
            "The customer collected it, showing the pickup code (→ PICKED_UP). Safe to retry: "
            "the same code on a shipment already PICKED_UP changes nothing."
        )
    )
    async def confirm_pickup(
        self, info: InfoT, shipment_id: strawberry.ID, pickup_code: str
    ) -> ShipmentPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        try:
            pk = _shipment_pk(shipment_id, ["shipmentId"])
            async with info.context.uow() as uow:
                outcome = await lifecycle.confirm_pickup(
                    await driver_connection(uow.session),
                    principal,
                    pk,
                    pickup_code,
                    info.context.now(),
                )
        except DomainError as exc:
            return ShipmentPayload(shipment=None, user_errors=user_errors(exc))
        if not outcome.picked_up:
            # The failed attempt is counted (committed); the shipment did not change.
            return ShipmentPayload(
                shipment=None,
                user_errors=[
                    UserError(
                        code="WRONG_PICKUP_CODE",
                        field=["pickupCode"],
                        message=f"wrong pickup code; {outcome.attempts_left} attempts left",
                    )
                ],
            )
        return ShipmentPayload(shipment=await load_shipment(info, pk), user_errors=[])

    @strawberry.mutation(
        description=(
            "Record a carrier's scan, by shipment id or carrier and tracking number, for a partner's "
            "location or (a CARRIER key) a parcel handed to its carrier. Idempotent by the carrier's "
            "event id; a late or out-of-order event joins the history without moving the shipment; "
            "an event dated more than 5 minutes ahead of the service's clock is refused "
            "(OCCURRED_IN_FUTURE)."
        )
    )
    async def record_tracking_event(
        self, info: InfoT, input: TrackingEventInput
    ) -> TrackingEventPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER, Role.CARRIER)
        try:
            pk = (
                _shipment_pk(input.shipment_id, ["input", "shipmentId"])
                if input.shipment_id
                else None
            )
            data = tracking.TrackingData(
                event_id=input.event_id,
                status=input.status.value,
                occurred_at=input.occurred_at,
                shipment_id=pk,
                carrier=input.carrier,
                tracking_number=input.tracking_number,
                location=input.location,
                description=input.description,
            )
            async with info.context.uow() as uow:
                outcome = await tracking.record_tracking_event(
                    await driver_connection(uow.session), principal, data, info.context.now()
                )
        except DomainError as exc:
            return TrackingEventPayload(
                shipment=None, duplicate=False, user_errors=user_errors(exc)
            )
        return TrackingEventPayload(
            shipment=await load_shipment(info, outcome.shipment_id),
            duplicate=outcome.duplicate,
            user_errors=[],
        )
