"""Validating and writing products and locations, in bulk.

Every line of a batch is validated before anything is written, and all problems are
reported at once with the index of the line, so a client can fix its batch in one go.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog.models import LOCATION_KINDS, Location, Product
from domain.errors import Collector
from domain.geo import check_coordinates, is_country, is_timezone
from domain.money import InvalidMoney, Money

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
MAX_BATCH = 10_000
_CHUNK = 1_000  # rows per INSERT, well under PostgreSQL's 32,767 bind parameters


@dataclass(frozen=True, slots=True)
class AddressData:
    line1: str
    city: str
    postal_code: str
    country_code: str
    name: str | None = None
    line2: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class LocationData:
    code: str
    name: str
    kind: str
    address: AddressData
    latitude: float
    longitude: float
    timezone: str
    can_ship: bool
    can_pickup: bool
    priority: int = 100
    cost_per_shipment: tuple[str, str] | None = None  # (amount, currency)
    handling_days: int = 1
    cutoff_hour: int = 14
    daily_capacity: int | None = None


@dataclass(frozen=True, slots=True)
class ProductData:
    sku: str
    name: str
    weight_grams: int | None = None
    hs_code: str | None = None
    country_of_origin: str | None = None
    returnable: bool = True
    return_window_days: int | None = None


def check_code(errors: Collector, value: str, field: list[str | int], what: str) -> None:
    if not CODE_PATTERN.match(value):
        errors.add(
            "INVALID_CODE",
            f"{what} {value!r} must be 1-64 letters, digits or . _ : / - and start with a letter or digit",
            field,
        )


def check_text(
    errors: Collector,
    value: str | None,
    field: list[str | int],
    max_len: int,
    required: bool = True,
) -> None:
    if value is None or not value.strip():
        if required:
            errors.add("REQUIRED", f"{field[-1]} must not be empty", field)
        return
    if len(value) > max_len:
        errors.add("TOO_LONG", f"{field[-1]} must be at most {max_len} characters", field)


def check_address(errors: Collector, address: AddressData, field: list[str | int]) -> None:
    check_text(errors, address.line1, [*field, "line1"], 200)
    check_text(errors, address.city, [*field, "city"], 100)
    check_text(errors, address.postal_code, [*field, "postalCode"], 20)
    check_text(errors, address.name, [*field, "name"], 200, required=False)
    check_text(errors, address.line2, [*field, "line2"], 200, required=False)
    if not is_country(address.country_code):
        errors.add(
            "INVALID_COUNTRY",
            f"{address.country_code!r} is not an ISO 3166-1 alpha-2 country code",
            [*field, "countryCode"],
        )
    check_coordinates(errors, address.latitude, address.longitude, field)


def _validate_location(errors: Collector, loc: LocationData, at: list[str | int]) -> Money | None:
    check_code(errors, loc.code, [*at, "code"], "location code")
    check_text(errors, loc.name, [*at, "name"], 200)
    if loc.kind not in LOCATION_KINDS:
        errors.add("INVALID", f"unknown location kind {loc.kind!r}", [*at, "kind"])
    check_address(errors, loc.address, [*at, "address"])
    check_coordinates(errors, loc.latitude, loc.longitude, at)
    if not is_timezone(loc.timezone):
        errors.add(
            "INVALID_TIMEZONE", f"{loc.timezone!r} is not an IANA time zone", [*at, "timezone"]
        )
    if not 0 <= loc.priority <= 1_000_000:
        errors.add("OUT_OF_RANGE", "priority must be between 0 and 1,000,000", [*at, "priority"])
    if not 0 <= loc.handling_days <= 60:
        errors.add("OUT_OF_RANGE", "handlingDays must be between 0 and 60", [*at, "handlingDays"])
    if not 0 <= loc.cutoff_hour <= 23:
        errors.add("OUT_OF_RANGE", "cutoffHour must be between 0 and 23", [*at, "cutoffHour"])
    if loc.daily_capacity is not None and not 0 <= loc.daily_capacity <= 10_000_000:
        errors.add(
            "OUT_OF_RANGE", "dailyCapacity must be between 0 and 10,000,000", [*at, "dailyCapacity"]
        )
    if loc.cost_per_shipment is None:
        return None
    try:
        cost = Money.parse(*loc.cost_per_shipment)
    except InvalidMoney as exc:
        errors.add(exc.code, exc.message, [*at, "costPerShipment"])
        return None
    if cost.minor < 0:
        errors.add("OUT_OF_RANGE", "costPerShipment must not be negative", [*at, "costPerShipment"])
    return cost


async def upsert_locations(session: AsyncSession, items: Sequence[LocationData]) -> list[Location]:
    errors = Collector()
    if not items:
        errors.add("REQUIRED", "at least one location is required", ["input"])
    if len(items) > MAX_BATCH:
        errors.add("TOO_MANY", f"at most {MAX_BATCH} locations per call", ["input"])
        errors.raise_if_any()
    seen: dict[str, int] = {}
    rows = []
    for index, loc in enumerate(items):
        at: list[str | int] = ["input", index]
        if loc.code in seen:
            errors.add(
                "DUPLICATE",
                f"location {loc.code!r} appears twice (lines {seen[loc.code]} and {index})",
                [*at, "code"],
            )
        seen[loc.code] = index
        cost = _validate_location(errors, loc, at)
        rows.append(
            {
                "code": loc.code,
                "name": loc.name.strip(),
                "kind": loc.kind,
                "address_name": loc.address.name,
                "address_line1": loc.address.line1,
                "address_line2": loc.address.line2,
                "city": loc.address.city,
                "postal_code": loc.address.postal_code,
                "country_code": loc.address.country_code,
                "latitude": loc.latitude,
                "longitude": loc.longitude,
                "timezone": loc.timezone,
                "can_ship": loc.can_ship,
                "can_pickup": loc.can_pickup,
                "priority": loc.priority,
                "cost_per_shipment_minor": cost.minor if cost else None,
                "cost_currency": cost.currency if cost else None,
                "handling_days": loc.handling_days,
                "cutoff_hour": loc.cutoff_hour,
                "daily_capacity": loc.daily_capacity,
            }
        )
    errors.raise_if_any()
    stmt = insert(Location)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Location.code],
        set_={k: stmt.excluded[k] for k in rows[0] if k != "code"}
        | {"updated_at": stmt.excluded.updated_at},
    )
    for start in range(0, len(rows), _CHUNK):
        await session.execute(stmt.values(rows[start : start + _CHUNK]))
    result = await session.scalars(
        select(Location)
        .where(Location.code.in_(list(seen)))
        .execution_options(populate_existing=True)
    )
    by_code = {loc.code: loc for loc in result}
    return [by_code[code] for code in seen]


async def upsert_products(session: AsyncSession, items: Sequence[ProductData]) -> int:
    """Create or update products; returns how many lines were written."""
    errors = Collector()
    if len(items) > MAX_BATCH:
        errors.add("TOO_MANY", f"at most {MAX_BATCH} products per call", ["input"])
        errors.raise_if_any()
    seen: dict[str, int] = {}
    rows = []
    for index, p in enumerate(items):
        at: list[str | int] = ["input", index]
        check_code(errors, p.sku, [*at, "sku"], "SKU")
        if p.sku in seen:
            errors.add(
                "DUPLICATE",
                f"SKU {p.sku!r} appears twice (lines {seen[p.sku]} and {index})",
                [*at, "sku"],
            )
        seen[p.sku] = index
        check_text(errors, p.name, [*at, "name"], 300)
        if p.weight_grams is not None and not 0 <= p.weight_grams <= 10_000_000:
            errors.add(
                "OUT_OF_RANGE", "weightGrams must be between 0 and 10,000,000", [*at, "weightGrams"]
            )
        if p.hs_code is not None and not re.fullmatch(r"\d{6,10}", p.hs_code):
            errors.add("INVALID_HS_CODE", "hsCode must be 6 to 10 digits", [*at, "hsCode"])
        if p.country_of_origin is not None and not is_country(p.country_of_origin):
            errors.add(
                "INVALID_COUNTRY",
                f"{p.country_of_origin!r} is not an ISO 3166-1 alpha-2 country code",
                [*at, "countryOfOrigin"],
            )
        if p.return_window_days is not None and not 0 <= p.return_window_days <= 730:
            errors.add(
                "OUT_OF_RANGE",
                "returnWindowDays must be between 0 and 730",
                [*at, "returnWindowDays"],
            )
        rows.append(
            {
                "sku": p.sku,
                "name": p.name.strip(),
                "weight_grams": p.weight_grams,
                "hs_code": p.hs_code,
                "country_of_origin": p.country_of_origin,
                "returnable": p.returnable,
                "return_window_days": p.return_window_days,
            }
        )
    errors.raise_if_any()
    if not rows:
        return 0
    stmt = insert(Product)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Product.sku],
        set_={k: stmt.excluded[k] for k in rows[0] if k != "sku"}
        | {"updated_at": stmt.excluded.updated_at},
    )
    for start in range(0, len(rows), _CHUNK):
        await session.execute(stmt.values(rows[start : start + _CHUNK]))
    return len(rows)


async def unknown_skus(session: AsyncSession, skus: Sequence[str]) -> set[str]:
    wanted = set(skus)
    if not wanted:
        return set()
    found = set((await session.scalars(select(Product.sku).where(Product.sku.in_(wanted)))).all())
    return wanted - found
