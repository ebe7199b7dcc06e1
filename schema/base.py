"""Shared GraphQL building blocks: Node and global ids, pages, money, errors."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, Generic, NewType, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from domain.access.principal import AccessDenied, Principal, Role
from domain.errors import DomainError, ValidationFailed
from domain.global_ids import global_id
from domain.money import Money as DomainMoney
from schema import observed
from schema.context import Context
from schema.inputs import direct_input

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")

InfoT = Info[Context, None]


# ---------- global ids ----------


@lru_cache(maxsize=1 << 16)  # a page of orders encodes a thousand ids
def to_global_id(type_name: str, pk: int | str) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything that is not one of our ids."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return type_name, int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def pk_of(global_id: str, type_name: str) -> int | None:
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


@strawberry.interface(description="An object with a global, opaque id that `node(id:)` refetches.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global, opaque identifier.")


# ---------- errors ----------


# One step of a path into an input: a field name or a list index (its GraphQL scalar
# is defined in schema/scalars.py).
PathSegment = NewType("PathSegment", object)


@strawberry.type(description="A business refusal: the request was understood but not carried out.")
class UserError:
    code: str = strawberry.field(
        description="Stable machine-readable code (e.g. INSUFFICIENT_STOCK, NOT_FOUND, INVALID)."
    )
    field: Sequence[str | int] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "lines", 2, "sku"]: '
        "names as strings, list indices as integers (as GraphQL error paths are).",
        graphql_type=list[PathSegment] | None,
    )
    message: str = strawberry.field(description="What went wrong, for people.")

    def __post_init__(self) -> None:
        observed.user_error(self.code)  # for the access log (schema/observed.py)


def user_errors(exc: DomainError) -> list[UserError]:
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    return [UserError(code=e.code, field=e.field, message=e.message) for e in errors]


def refusal(exc: DomainError) -> GraphQLError:
    """A business refusal of a query (which has no userErrors to carry it): a GraphQL
    error whose extensions have the code and field of the (first) problem, and every
    problem under `userErrors` when there are several."""
    errors = exc.errors if isinstance(exc, ValidationFailed) and exc.errors else [exc]
    extensions: dict[str, Any] = {"code": errors[0].code, "field": errors[0].field}
    if len(errors) > 1:
        extensions["userErrors"] = [
            {"code": e.code, "field": e.field, "message": e.message} for e in errors
        ]
    return GraphQLError(exc.message, extensions=extensions)


def authorize(info: InfoT, *roles: Role) -> Principal:
    """The caller, if their role may run this operation; a top-level GraphQL error otherwise."""
    principal = info.context.principal
    try:
        principal.require(*roles)
    except AccessDenied as exc:
        raise GraphQLError(str(exc), extensions={"code": exc.code}) from None
    return principal


def not_found(message: str, field: Sequence[str]) -> list[UserError]:
    return [UserError(code="NOT_FOUND", field=list(field), message=message)]


# ---------- money and places ----------


@strawberry.type(description="An amount of money in a currency.")
class Money:
    amount: Decimal = strawberry.field(
        description="Decimal amount as a string, with the currency's number of decimals."
    )
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount=DomainMoney(minor, currency).amount, currency=currency)


@direct_input
@strawberry.input(description="An amount of money in a currency.")
class MoneyInput:
    amount: Decimal = strawberry.field(description='Decimal amount, e.g. "24.90".')
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. EUR.")


@strawberry.type(description="A postal address.")
class Address:
    name: str | None = strawberry.field(description="Recipient or place name.")
    line1: str = strawberry.field(description="Street and number.")
    line2: str | None = strawberry.field(description="Further address detail.")
    city: str = strawberry.field(description="City.")
    postal_code: str = strawberry.field(description="Postal code.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")


@direct_input
@strawberry.input(description="A postal address, optionally with coordinates for distance rules.")
class AddressInput:
    line1: str = strawberry.field(description="Street and number.")
    city: str = strawberry.field(description="City.")
    postal_code: str = strawberry.field(description="Postal code.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    name: str | None = strawberry.field(default=None, description="Recipient or place name.")
    line2: str | None = strawberry.field(default=None, description="Further address detail.")
    latitude: float | None = strawberry.field(
        default=None,
        description=(
            "WGS84 latitude, -90 to 90; with longitude or not at all (INVALID_COORDINATES). "
            "Without coordinates, distance rules use the postal code's area, else the city."
        ),
    )
    longitude: float | None = strawberry.field(
        default=None, description="WGS84 longitude, -180 to 180; with latitude or not at all."
    )


# ---------- pages ----------


@strawberry.type(description="Where a page of a connection stands.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow `endCursor`.")
    has_previous_page: bool = strawberry.field(description="Items precede `startCursor`.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item; pass as `after`."
    )


def page_size(first: int | None) -> int:
    """`first`, defaulted and capped; a negative value is a request error."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0:
        raise GraphQLError("`first` must not be negative", extensions={"code": "BAD_USER_INPUT"})
    return min(first, MAX_PAGE_SIZE)


def encode_cursor(*parts: Any) -> str:
    text = "|".join(p.isoformat() if isinstance(p, dt.datetime) else str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[str] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text:
        raise GraphQLError(
            "`after` is not a cursor of this connection", extensions={"code": "BAD_USER_INPUT"}
        )
    return text.split("|")


@strawberry.type(description="One item of a page, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


def build_page(
    rows: Sequence[Any],
    size: int,
    to_node: Callable[[Any], T],
    cursor_of: Callable[[Any], str],
) -> tuple[list[Edge[T]], PageInfo]:
    """Rows were fetched with `LIMIT size + 1`: the extra row only says a next page exists."""
    has_next = len(rows) > size
    rows = rows[:size]
    edges = [Edge(cursor=cursor_of(r), node=to_node(r)) for r in rows]
    info = PageInfo(
        has_next_page=has_next,
        has_previous_page=False,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return edges, info


JSON = strawberry.scalars.JSON


# ---------- idempotency ----------


async def claim_idempotency(
    info: InfoT, session: Any, operation: str, key: str, request: Any
) -> dict[str, Any] | None:
    """Inside the mutation's unit of work: the first result if this key was used for
    this very request, an IDEMPOTENCY_KEY_REUSED refusal if for another, else None."""
    from domain import idempotency

    return await idempotency.claim(
        session,
        actor=info.context.principal.scope,
        operation=operation,
        key=key,
        fingerprint=idempotency.request_fingerprint(request),
        now=info.context.now(),
    )


async def complete_idempotency(
    info: InfoT, session: Any, operation: str, key: str, result: dict[str, Any]
) -> None:
    from domain import idempotency

    await idempotency.complete(
        session, actor=info.context.principal.scope, operation=operation, key=key, result=result
    )


def input_dict(value: Any) -> Any:
    """A strawberry input as plain data, for fingerprinting a request."""
    import dataclasses
    from enum import Enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: input_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [input_dict(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# ---------- what a query asks for ----------


def selected(selections: Any, *path: str) -> dict[str, Any]:
    """The fields selected at `path` under `selections` (strawberry's `info.selected_fields`
    or a field's `.selections`), fragments flattened: name -> SelectedField."""
    from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

    found: dict[str, Any] = {}

    def collect(items: Any, into: dict[str, Any]) -> None:
        for item in items:
            if isinstance(item, SelectedField):
                into.setdefault(item.name, item)
            elif isinstance(item, FragmentSpread | InlineFragment):
                collect(item.selections, into)

    collect(selections, found)
    for name in path:
        field = found.get(name)
        if field is None:
            return {}
        found = {}
        collect(field.selections, found)
    return found
