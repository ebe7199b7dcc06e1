"""Placing an order: validate, source, reserve and store it, all in one transaction.

The hot path of the system, so it speaks SQL to asyncpg directly (see STACK-NOTES).
Never oversells: the planned stock rows are locked in one statement in a fixed
(sku, location) order, re-checked under the lock, and reserved with the table's
constraints as the last guard. If another order took the stock between the plan and
the lock, the caller retries the whole transaction with a fresh plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.availability.service import ChannelConfig, NetworkStock, channel_config, network_stock
from domain.catalog.service import AddressData, check_address, check_coordinates, check_text
from domain.customer.service import normalise_email
from domain.db import driver_connection
from domain.errors import Collector, DomainError
from domain.events import catalog as events
from domain.geo import Approximation, approximate
from domain.idempotency import request_fingerprint
from domain.money import InvalidMoney, Money, check_amount
from domain.order.events import append_event
from domain.order.numbers import format_number
from domain.order.queries import LineRow, OrderRow, ShipmentRow
from domain.order.status import LineQuantities, order_status
from domain.sourcing.planner import Plan, SourcingRequest, plan

MAX_LINES = 5_000
MAX_QUANTITY = 100_000
KNOWN_SKUS_SQL = "SELECT sku FROM products WHERE sku = ANY($1::text[])"


class InsufficientStock(DomainError):
    code = "INSUFFICIENT_STOCK"


class DuplicateExternalId(DomainError):
    """The channel already has an order with this externalId, placed with other content;
    `order_id` is that order, for the client to find it."""

    code = "DUPLICATE_EXTERNAL_ID"

    def __init__(self, message: str, *, order_id: int, field: list[str | int]) -> None:
        super().__init__(message, field=field)
        self.order_id = order_id


class AlreadyPlaced(Exception):
    """The same placement (same externalId, same content) was already made: the answer is
    that order, and this attempt changes nothing (its transaction is rolled back)."""

    def __init__(self, order_id: int) -> None:
        super().__init__(order_id)
        self.order_id = order_id


def placement_hash(data: PlaceOrderData) -> str:
    """What makes two placements the same order: every field of the request."""
    return request_fingerprint(data)


class StockConflict(Exception):
    """Another transaction took planned stock first; retry with a fresh plan."""


@dataclass(frozen=True, slots=True)
class OrderLineData:
    sku: str
    quantity: int
    unit_price: tuple[str, str]
    discount: tuple[str, str] | None = None
    tax: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class PlaceOrderData:
    channel_code: str
    external_id: str
    customer_email: str
    lines: Sequence[OrderLineData]
    delivery_method: str
    customer_name: str | None = None
    customer_phone: str | None = None
    shipping_address: AddressData | None = None
    latitude: float | None = None
    longitude: float | None = None
    service_level: str | None = None
    pickup_location_code: str | None = None
    shipping_price: tuple[str, str] | None = None
    split_preference: str | None = None
    company: str | None = None
    purchase_order_number: str | None = None
    sales_rep: str | None = None


@dataclass
class PricedLine:
    line_number: int
    sku: str
    quantity: int
    unit_price: int
    discount: int
    tax: int


@dataclass
class Prepared:
    """A validated, priced and sourced order, not yet written."""

    data: PlaceOrderData
    channel: ChannelConfig
    email: str
    lines: list[PricedLine]
    shipping: int
    pickup_location_id: int | None
    plan: Plan
    stock: NetworkStock
    # Where the destination probably is, when it came without coordinates.
    approximated: Approximation | None = None
    backorders: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku -> (location, qty)

    @property
    def subtotal(self) -> int:
        return sum(line.unit_price * line.quantity for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(line.discount for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount + self.shipping

    def decision(self) -> dict[str, Any]:
        """The whole decision, as stored on the order (see domain/availability/disclosure.py
        for what each reader is shown of it)."""
        return {
            **self.plan.explanation(),
            "destinationApproximated": self.approximated.explain() if self.approximated else None,
            "backordered": {
                sku: {"locationId": loc, "quantity": q} for sku, (loc, q) in self.backorders.items()
            },
        }


def _money(
    errors: Collector, value: tuple[str, str] | None, currency: str, at: list[str | int]
) -> int:
    if value is None:
        return 0
    try:
        money = Money.parse(*value)
    except InvalidMoney as exc:
        errors.add(exc.code, exc.message, at)
        return 0
    if money.currency != currency:
        errors.add(
            "CURRENCY_MISMATCH",
            f"the channel sells in {currency}, not {money.currency}",
            [*at, "currency"],
        )
    if money.minor < 0:
        errors.add("OUT_OF_RANGE", "amounts must not be negative", [*at, "amount"])
    return money.minor


async def prepare(
    session: AsyncSession,
    principal: Principal,
    data: PlaceOrderData,
    now: dt.datetime,
    *,
    lock: bool = False,
    strict: bool = True,
) -> Prepared:
    """Everything short of writing: validation, pricing and the sourcing plan.

    `lock` plans on locked stock rows (a last attempt that cannot lose a race);
    `strict=False` returns a plan with unallocated units instead of refusing (previews).

    A refused placement whose externalId the channel already has is that order: the same
    request answers it (AlreadyPlaced), another is DUPLICATE_EXTERNAL_ID naming it, rather
    than a refusal the order's own reservation may cause (its last units, say)."""
    try:
        return await _prepare(session, principal, data, now, lock=lock, strict=strict)
    except DomainError:
        if strict:
            await refuse_if_placed(session, principal, data)
        raise


async def refuse_if_placed(
    session: AsyncSession, principal: Principal, data: PlaceOrderData
) -> None:
    """AlreadyPlaced or DuplicateExternalId if the channel has an order with this
    externalId (visible to the caller); nothing otherwise. Only on the refusal path, so
    a placement costs no statement for it."""
    conn = await driver_connection(session)
    existing = await conn.fetchrow(
        "SELECT o.id, o.number, o.channel_id, o.request_hash FROM orders o"
        " JOIN channels c ON c.id = o.channel_id WHERE c.code = $1 AND o.external_id = $2",
        data.channel_code,
        data.external_id,
    )
    if existing is None or not principal.can_see_channel(existing["channel_id"]):
        return
    _refuse_existing(existing, data)


def _refuse_existing(existing: Any, data: PlaceOrderData) -> None:
    if existing["request_hash"] == placement_hash(data):
        raise AlreadyPlaced(existing["id"])
    raise DuplicateExternalId(
        f"this channel already has order {existing['number']} with externalId"
        f" {data.external_id!r}, placed with other content",
        order_id=existing["id"],
        field=["input", "externalId"],
    )


async def _prepare(
    session: AsyncSession,
    principal: Principal,
    data: PlaceOrderData,
    now: dt.datetime,
    *,
    lock: bool,
    strict: bool,
) -> Prepared:
    if principal.role not in (Role.ADMIN, Role.CHANNEL):
        raise DomainError("only a channel or an admin places orders", code="FORBIDDEN")
    channel = await channel_config(session, principal, data.channel_code, ["input", "channel"])
    errors = Collector()
    if not 1 <= len(data.external_id) <= 100:
        errors.add("INVALID", "externalId must be 1 to 100 characters", ["input", "externalId"])
    email = ""
    try:
        email = normalise_email(data.customer_email, ["input", "customer", "email"])
    except DomainError as exc:
        errors.errors.append(exc)
    if not data.lines:
        errors.add("REQUIRED", "an order has at least one line", ["input", "lines"])
    if len(data.lines) > MAX_LINES:
        errors.add("TOO_MANY", f"an order has at most {MAX_LINES:,} lines", ["input", "lines"])
        errors.raise_if_any()
    lines: list[PricedLine] = []
    for i, given in enumerate(data.lines):
        at: list[str | int] = ["input", "lines", i]
        if not 1 <= given.quantity <= MAX_QUANTITY:
            errors.add(
                "OUT_OF_RANGE",
                f"quantity must be between 1 and {MAX_QUANTITY:,}",
                [*at, "quantity"],
            )
        price = _money(errors, given.unit_price, channel.currency, [*at, "unitPrice"])
        discount = _money(errors, given.discount, channel.currency, [*at, "discount"])
        tax = _money(errors, given.tax, channel.currency, [*at, "tax"])
        if discount > price * max(given.quantity, 0):
            errors.add(
                "OUT_OF_RANGE", "a discount cannot exceed the line's amount", [*at, "discount"]
            )
        lines.append(PricedLine(i + 1, given.sku, given.quantity, price, discount, tax))
    shipping = _money(errors, data.shipping_price, channel.currency, ["input", "shippingPrice"])
    if not errors:  # each amount is in range; what they add up to must be too
        total = sum(line.unit_price * line.quantity for line in lines) + shipping
        check_amount(errors, total, channel.currency, ["input", "lines"], "the order's total")

    conn = await driver_connection(session)
    pickup_location_id: int | None = None
    if data.shipping_address is not None:
        # Coordinates are checked on any address given (a pickup's too): 999 is never a
        # latitude.
        check_coordinates(errors, data.latitude, data.longitude, ["input", "shippingAddress"])
    if data.delivery_method == "SHIP":
        if data.shipping_address is None:
            errors.add("REQUIRED", "shipping needs a shippingAddress", ["input", "shippingAddress"])
        else:
            check_address(errors, data.shipping_address, ["input", "shippingAddress"])
        if data.service_level not in (None, "STANDARD", "EXPRESS"):
            errors.add("INVALID", "unknown service level", ["input", "delivery", "serviceLevel"])
    elif data.delivery_method == "PICKUP":
        row = await conn.fetchrow(
            "SELECT l.id, l.can_pickup, cl.channel_id IS NOT NULL AS in_network FROM locations l"
            " LEFT JOIN channel_locations cl ON cl.location_id = l.id AND cl.channel_id = $2 WHERE l.code = $1",
            data.pickup_location_code or "",
            channel.id,
        )
        if row is None or not row["in_network"]:
            errors.add(
                "UNKNOWN_LOCATION",
                f"{data.pickup_location_code!r} is not a store of this channel",
                ["input", "delivery", "pickupLocation"],
            )
        elif not row["can_pickup"]:
            errors.add(
                "PICKUP_NOT_AVAILABLE",
                f"{data.pickup_location_code} does not do click and collect",
                ["input", "delivery", "pickupLocation"],
            )
        else:
            pickup_location_id = row["id"]
    else:
        errors.add("INVALID", "delivery method is SHIP or PICKUP", ["input", "delivery", "method"])
    is_b2b = channel_kind_is_b2b(channel.kind)
    if data.company is not None and not is_b2b:
        errors.add("INVALID", "B2B details are for B2B channels", ["input", "b2b"])
    if is_b2b and not data.company:
        errors.add("REQUIRED", "a B2B order names its company", ["input", "b2b", "company"])
    check_text(
        errors,
        data.purchase_order_number,
        ["input", "b2b", "purchaseOrderNumber"],
        100,
        required=False,
    )
    skus = sorted({line.sku for line in lines})
    known = {r["sku"] for r in await conn.fetch(KNOWN_SKUS_SQL, skus)}
    for i, priced in enumerate(lines):
        if priced.sku not in known:
            errors.add("UNKNOWN_SKU", f"no product {priced.sku!r}", ["input", "lines", i, "sku"])
    errors.raise_if_any()

    stock = await network_stock(session, channel.id, skus, lock=lock, checked=True)
    sellable = {sku: channel.allocation.sellable(sku, stock.network_available[sku]) for sku in skus}
    destination, approximated = _destination(data)
    sourced = plan(
        stock.sites,
        SourcingRequest(
            lines=[(line.sku, line.quantity) for line in lines],
            method=data.delivery_method,
            rules=channel.rules,
            max_splits=channel.max_splits,
            now=now,
            service_level=data.service_level or "STANDARD",
            split_preference=data.split_preference,
            pickup_location_id=pickup_location_id,
            destination=destination,
            sellable=sellable,
        ),
    )
    prepared = Prepared(
        data, channel, email, lines, shipping, pickup_location_id, sourced, stock, approximated
    )
    short = Collector()
    for sku, qty in sorted(sourced.unallocated.items()):
        inbound = stock.next_inbound.get(sku)
        if channel.allow_backorders and inbound is not None:
            prepared.backorders[sku] = (inbound[0], qty)
            continue
        index = next(i for i, line in enumerate(lines) if line.sku == sku)
        short.add(
            "INSUFFICIENT_STOCK",
            f"{sku}: {qty} of the units asked for cannot be served (the channel may sell {sellable[sku]} now"
            + (
                ", and the chosen store cannot serve the whole basket"
                if data.delivery_method == "PICKUP"
                else ""
            )
            + ")",
            ["input", "lines", index, "quantity"],
        )
    if short and strict:
        raise (
            InsufficientStock(short.errors[0].message, field=short.errors[0].field)
            if len(short.errors) == 1
            else _many(short)
        )
    return prepared


def _destination(
    data: PlaceOrderData,
) -> tuple[tuple[float, float] | None, Approximation | None]:
    """Where the order goes, for distance rules: the address's coordinates, else its postal
    code's area or its town (approximated), else unknown."""
    if data.latitude is not None and data.longitude is not None:
        return (data.latitude, data.longitude), None
    a = data.shipping_address
    if data.delivery_method != "SHIP" or a is None:
        return None, None
    approximated = approximate(a.country_code, a.postal_code, a.city)
    if approximated is None:
        return None, None
    return (approximated.latitude, approximated.longitude), approximated


def _many(short: Collector) -> DomainError:
    from domain.errors import ValidationFailed

    failure = ValidationFailed(short.errors)
    failure.code = "INSUFFICIENT_STOCK"
    return failure


def channel_kind_is_b2b(kind: str | None) -> bool:
    return kind == "B2B"


def _assign_to_lines(
    lines: list[PricedLine], per_sku: dict[str, int], taken: dict[int, int]
) -> dict[int, int]:
    """Spread a shipment's per-SKU quantities over the order's lines of that SKU, in line
    order (a SKU may appear on several lines)."""
    out: dict[int, int] = {}
    for line in lines:
        want = per_sku.get(line.sku, 0)
        if want <= 0:
            continue
        free = line.quantity - taken.get(line.line_number, 0)
        use = min(free, want)
        if use > 0:
            out[line.line_number] = use
            taken[line.line_number] = taken.get(line.line_number, 0) + use
            per_sku[line.sku] = want - use
    return out


@dataclass(frozen=True, slots=True)
class Placed:
    """The order as stored, from the rows its statements returned: what a reader of the
    order would see, without reading it again."""

    order: OrderRow
    lines: list[LineRow]
    shipments: list[ShipmentRow]


_ORDER_RETURNING = (
    "id, number, channel_id, external_id, customer_id, currency, status, return_status, delivery_method,"
    " service_level, pickup_location_id, split_preference, ship_name, ship_line1, ship_line2, ship_city,"
    " ship_postal_code, ship_country_code, company, purchase_order_number, sales_rep, subtotal_minor,"
    " discount_minor, tax_minor, shipping_minor, total_minor, placed_at"
)
_LINE_RETURNING = (
    "id, order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,"
    " quantity_cancelled, quantity_allocated, quantity_backordered, quantity_shipped,"
    " quantity_delivered, quantity_returned"
)
_SHIPMENT_RETURNING = (
    "id, order_id, location_id, method, status, service_level, carrier, service, tracking_number,"
    " tracking_url, ship_by, deliver_by, pickup_code, shipped_at, delivered_at"
)


async def write(
    session: AsyncSession, principal: Principal, p: Prepared, now: dt.datetime
) -> Placed:
    """Reserve and store the prepared order. Raises StockConflict if the planned stock is
    gone (the caller retries with a fresh plan)."""
    conn = await driver_connection(session)
    data = p.data
    request_hash = placement_hash(data)
    reserve = sorted(
        ((sku, s.site.location_id, q) for s in p.plan.shipments for sku, q in s.lines.items()),
        key=lambda r: (r[0], r[1]),
    )
    if reserve:
        locked = await conn.fetch(
            "SELECT s.sku, s.location_id, s.on_hand - s.reserved - s.safety_stock - s.damaged AS available"
            " FROM stock_levels s JOIN unnest($1::text[], $2::bigint[]) AS t(sku, location_id)"
            " ON s.sku = t.sku AND s.location_id = t.location_id"
            " ORDER BY s.sku, s.location_id FOR UPDATE OF s",
            [r[0] for r in reserve],
            [r[1] for r in reserve],
        )
        available = {(r["sku"], r["location_id"]): r["available"] for r in locked}
        if any(available.get((sku, loc), 0) < q for sku, loc, q in reserve):
            raise StockConflict()

    # The customer (created, or name and phone refreshed) and the order number, in one
    # round trip.
    customer = await conn.fetchrow(
        "WITH c AS (INSERT INTO customers (channel_id, email, name, phone) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (channel_id, email) DO UPDATE SET name = coalesce(excluded.name, customers.name),"
        " phone = coalesce(excluded.phone, customers.phone)"
        " RETURNING customers.id, customers.name, customers.phone)"
        " SELECT c.id, c.name, c.phone, nextval('order_number_seq') AS number FROM c",
        p.channel.id,
        p.email,
        data.customer_name,
        data.customer_phone,
    )
    customer_id, sequence_value = customer["id"], customer["number"]
    address = data.shipping_address
    initial_status = order_status(
        [LineQuantities(line.quantity, 0) for line in p.lines],
        ["ALLOCATED"] * len(p.plan.shipments) + ["PENDING"] * (1 if p.backorders else 0),
    )
    order = await conn.fetchrow(
        f"""
        INSERT INTO orders (number, channel_id, external_id, customer_id, currency, status, delivery_method,
            service_level, pickup_location_id, split_preference, ship_name, ship_line1, ship_line2, ship_city,
            ship_postal_code, ship_country_code, ship_latitude, ship_longitude, company, purchase_order_number,
            sales_rep, subtotal_minor, discount_minor, tax_minor, shipping_minor, total_minor, sourcing_decision,
            placed_at, updated_at, request_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
            $22, $23, $24, $25, $26, $27::jsonb, $28, $28, $29)
        ON CONFLICT (channel_id, external_id) DO NOTHING
        RETURNING {_ORDER_RETURNING}
        """,
        format_number(int(sequence_value)),
        p.channel.id,
        data.external_id,
        customer_id,
        p.channel.currency,
        initial_status,
        data.delivery_method,
        data.service_level if data.delivery_method == "SHIP" else None,
        p.pickup_location_id,
        p.plan.preference,
        address.name if address else None,
        address.line1 if address else None,
        address.line2 if address else None,
        address.city if address else None,
        address.postal_code if address else None,
        address.country_code if address else None,
        data.latitude,
        data.longitude,
        data.company,
        data.purchase_order_number,
        data.sales_rep,
        p.subtotal,
        p.discount,
        p.tax,
        p.shipping,
        p.total,
        orjson.dumps(p.decision()).decode(),
        now,
        request_hash,
    )
    if order is None:
        existing = await conn.fetchrow(
            "SELECT id, number, request_hash FROM orders WHERE channel_id = $1 AND external_id = $2",
            p.channel.id,
            data.external_id,
        )
        _refuse_existing(existing, data)
    order_id = order["id"]

    taken: dict[int, int] = {}
    shipments_lines: list[
        tuple[str, int, str, dt.datetime | None, dt.datetime | None, dict[int, int]]
    ] = []
    for s in p.plan.shipments:
        shipments_lines.append(
            (
                "ALLOCATED",
                s.site.location_id,
                s.method,
                s.ship_by,
                s.deliver_by,
                _assign_to_lines(p.lines, dict(s.lines), taken),
            )
        )
    # Backordered units wait in one PENDING shipment per location their supply arrives at.
    waiting: dict[int, dict[str, int]] = {}
    for sku, (location_id, qty) in sorted(p.backorders.items()):
        waiting.setdefault(location_id, {})[sku] = qty
    for location_id, per_sku in sorted(waiting.items()):
        shipments_lines.append(
            ("PENDING", location_id, "SHIP", None, None, _assign_to_lines(p.lines, per_sku, taken))
        )
    allocated: dict[int, int] = {}
    backordered: dict[int, int] = {}
    for status, _, _, _, _, by_line in shipments_lines:
        target = backordered if status == "PENDING" else allocated
        for line_number, q in by_line.items():
            target[line_number] = target.get(line_number, 0) + q

    line_rows = await conn.fetch(
        f"""
        INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,
            allocated_at_placement, quantity_allocated, quantity_backordered)
        SELECT $1, * FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[],
            $8::int[], $9::int[], $10::int[])
        RETURNING {_LINE_RETURNING}
        """,
        order_id,
        [line.line_number for line in p.lines],
        [line.sku for line in p.lines],
        [line.quantity for line in p.lines],
        [line.unit_price for line in p.lines],
        [line.discount for line in p.lines],
        [line.tax for line in p.lines],
        [allocated.get(line.line_number, 0) for line in p.lines],
        [allocated.get(line.line_number, 0) for line in p.lines],
        [backordered.get(line.line_number, 0) for line in p.lines],
    )
    line_ids = {r["line_number"]: r["id"] for r in line_rows}
    sku_of = {line.line_number: line.sku for line in p.lines}
    shipment_rows = await _insert_shipments(
        conn, order_id, shipments_lines, data.service_level, now
    )
    sl_shipment, sl_line, sl_sku, sl_qty = [], [], [], []
    shipments: list[ShipmentRow] = []
    for row, (_, _, _, _, _, by_line) in zip(shipment_rows, shipments_lines, strict=True):
        for line_number, q in by_line.items():
            sl_shipment.append(row["id"])
            sl_line.append(line_ids[line_number])
            sl_sku.append(sku_of[line_number])
            sl_qty.append(q)
        lines_of = sorted((line_ids[n], sku_of[n], q) for n, q in by_line.items() if q > 0)
        shipments.append(ShipmentRow(**dict(row), lines=tuple(lines_of)))
    await conn.execute(
        "INSERT INTO shipment_lines (shipment_id, order_line_id, sku, quantity)"
        " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[])",
        sl_shipment,
        sl_line,
        sl_sku,
        sl_qty,
    )
    if reserve:
        await conn.execute(
            "UPDATE stock_levels s SET reserved = s.reserved + t.q, updated_at = $4"
            " FROM unnest($1::text[], $2::bigint[], $3::int[]) AS t(sku, location_id, q)"
            " WHERE s.sku = t.sku AND s.location_id = t.location_id",
            [r[0] for r in reserve],
            [r[1] for r in reserve],
            [r[2] for r in reserve],
            now,
        )
        await conn.execute(
            "INSERT INTO inventory_movements (sku, location_id, kind, reserved_delta, reference, actor, occurred_at)"
            " SELECT sku, location_id, 'RESERVE', q, $4, $5, $6 FROM unnest($1::text[], $2::bigint[], $3::int[])"
            " AS t(sku, location_id, q)",
            [r[0] for r in reserve],
            [r[1] for r in reserve],
            [r[2] for r in reserve],
            f"order:{order_id}",
            principal.actor,
            now,
        )
    _, sequence = await append_event(
        conn,
        order_id=order_id,
        channel_id=p.channel.id,
        type="ORDER_PLACED",
        actor=principal.actor,
        payload={
            "status": initial_status,
            "externalId": data.external_id,
            "total": str(Money(p.total, p.channel.currency)),
            "currency": p.channel.currency,
            "skus": {line.sku: line.quantity for line in p.lines},
            # Where it is to be prepared: each location's partners hear of it.
            **events.shipments_part(
                {
                    "shipmentId": s.id,
                    "locationId": s.location_id,
                    "method": s.method,
                    "status": s.status,
                }
                for s in sorted(shipments, key=lambda s: s.id)
            ),
        },
        now=now,
    )
    return Placed(
        order=OrderRow(
            **dict(order),
            channel_code=p.channel.code,
            customer_email=p.email,
            customer_name=customer["name"],
            customer_phone=customer["phone"],
            last_event_sequence=sequence,
        ),
        lines=[LineRow(**dict(r)) for r in sorted(line_rows, key=lambda r: r["line_number"])],
        shipments=sorted(shipments, key=lambda s: s.id),
    )


async def _insert_shipments(
    conn: Any,
    order_id: int,
    shipments: list[tuple[str, int, str, dt.datetime | None, dt.datetime | None, dict[int, int]]],
    service_level: str | None,
    now: dt.datetime,
) -> list[Any]:
    """The inserted shipment rows, in the order of `shipments`."""
    rows = await conn.fetch(
        f"""
        INSERT INTO shipments (order_id, location_id, method, status, service_level, ship_by, deliver_by, created_at, updated_at)
        SELECT $1, location_id, method, status, service_level, ship_by, deliver_by, $8, $8
        FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
            AS t(location_id, method, status, service_level, ship_by, deliver_by)
        RETURNING {_SHIPMENT_RETURNING}
        """,
        order_id,
        [s[1] for s in shipments],
        [s[2] for s in shipments],
        [s[0] for s in shipments],
        [service_level if s[2] == "SHIP" else None for s in shipments],
        [s[3] for s in shipments],
        [s[4] for s in shipments],
        now,
    )
    # (location, method, status) is unique within one placement's shipments.
    by_key = {(r["location_id"], r["method"], r["status"]): r for r in rows}
    return [by_key[(s[1], s[2], s[0])] for s in shipments]
