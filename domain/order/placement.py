"""Placing an order: validate, source, reserve and store it, all in one transaction.

The hot path of the system, so it speaks SQL to asyncpg directly (see STACK-NOTES).
This module validates, prices and sources (`prepare`); domain/order/writing.py
reserves and stores (`write`). Never oversells: the planned stock rows are locked in
one statement in a fixed (sku, location) order, re-checked under the lock, and reserved
with the table's constraints as the last guard. If another order took the stock
between the plan and the lock, the caller retries the whole transaction with a fresh
plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.availability.service import ChannelConfig, NetworkStock, channel_config, network_stock
from domain.catalog.service import AddressData, check_address, check_coordinates, check_text
from domain.customer.service import normalise_email
from domain.db import driver_connection
from domain.errors import Collector, DomainError
from domain.geo import Approximation, approximate
from domain.idempotency import request_fingerprint
from domain.money import InvalidMoney, Money, check_amount
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
    refuse_existing(existing, data)


def refuse_existing(existing: Any, data: PlaceOrderData) -> None:
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
    if data.shipping_address is not None and data.delivery_method != "SHIP":
        # Coordinates are checked on any address given (a pickup's too: a shipping
        # address has them checked with the rest of it below): 999 is never a latitude.
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
