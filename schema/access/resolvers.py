"""API keys, customer tokens and the caller's own view (`me`, `viewer`)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import select

from domain.access import keys
from domain.access.models import ApiKey as ApiKeyModel
from domain.access.models import ApiKeyLocation
from domain.access.principal import Role as DomainRole
from domain.catalog.models import Location
from domain.channel.models import Channel
from domain.customer.models import Customer
from domain.customer.service import normalise_email, upsert_customer
from domain.errors import DomainError
from schema.base import InfoT, Node, UserError, authorize, pk_of, to_global_id, user_errors

if TYPE_CHECKING:
    from schema.order.resolvers import OrderConnection


@strawberry.enum(
    description=(
        "What an API key may do. ADMIN: everything (the operations staff). CHANNEL: a sales "
        "channel's own orders. PARTNER: stock, shipments and returns at its locations "
        "(warehouse, store, 3PL). CARRIER: tracking events of the parcels handed to its "
        "carrier, nothing else."
    )
)
class Role(Enum):
    ADMIN = "ADMIN"
    CHANNEL = "CHANNEL"
    PARTNER = "PARTNER"
    CARRIER = "CARRIER"


@strawberry.type(
    description="An API key. Its secret is shown once, at creation, and stored only hashed."
)
class ApiKey(Node):
    name: str = strawberry.field(description="Who or what uses it, e.g. 'Lyon WMS'.")
    role: Role = strawberry.field(description="What it may do.")
    prefix: str = strawberry.field(
        description="First characters of the secret, to tell keys apart."
    )
    channel_code: str | None = strawberry.field(
        description="The channel a CHANNEL key is bound to."
    )
    location_codes: list[str] = strawberry.field(
        description="The locations a PARTNER key acts for."
    )
    carrier: str | None = strawberry.field(
        description="The carrier a CARRIER key records tracking events for, e.g. COLISSIMO."
    )
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    revoked_at: dt.datetime | None = strawberry.field(description="When it was revoked, if it was.")


@strawberry.input(description="A new API key.")
class ApiKeyInput:
    name: str = strawberry.field(description="Who or what will use it.")
    role: Role = strawberry.field(description="What it may do.")
    channel: str | None = strawberry.field(
        default=None, description="Channel code, for a CHANNEL key."
    )
    locations: list[str] | None = strawberry.field(
        default=None, description="Location codes, for a PARTNER key."
    )
    carrier: str | None = strawberry.field(
        default=None, description="Carrier code (e.g. COLISSIMO), for a CARRIER key."
    )


@strawberry.type(description="Result of createApiKey.")
class ApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key.")
    secret: str | None = strawberry.field(description="The secret: shown this once, never again.")
    user_errors: list[UserError] = strawberry.field(description="Why no key was created, if so.")


@strawberry.type(description="Result of revokeApiKey.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The revoked key.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.type(description="Result of issueCustomerToken.")
class CustomerTokenPayload:
    token: str | None = strawberry.field(
        description="Bearer token for the customer's own app or page."
    )
    expires_at: dt.datetime | None = strawberry.field(description="When the token stops working.")
    user_errors: list[UserError] = strawberry.field(description="Why no token was issued, if so.")


@strawberry.type(description="The customer a customer token speaks for.")
class Me:
    email: str = strawberry.field(description="The customer's email.")
    name: str | None = strawberry.field(description="The customer's name.")
    customer_id: strawberry.Private[int]
    channel_id: strawberry.Private[int]

    @strawberry.field(description="The customer's own orders on this channel, newest first.")
    async def orders(
        self,
        info: InfoT,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, at most 100.")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> Annotated[OrderConnection, strawberry.lazy("schema.order.resolvers")]:
        from domain.order.queries import OrderFilter
        from schema.order.resolvers import order_page

        return await order_page(info, OrderFilter(customer_id=self.customer_id), first, after)


@strawberry.type(description="Who the caller is, as the API sees them.")
class Viewer:
    role: str = strawberry.field(
        description="ANONYMOUS, ADMIN, CHANNEL, PARTNER, CARRIER or CUSTOMER."
    )
    name: str = strawberry.field(description="Key name, or the customer's email.")
    channel_code: str | None = strawberry.field(
        description="Channel of a CHANNEL key or customer token."
    )
    location_codes: list[str] = strawberry.field(description="Locations of a PARTNER key.")
    carrier: str | None = strawberry.field(default=None, description="Carrier of a CARRIER key.")


async def _api_key_view(info: InfoT, ids: list[int]) -> list[ApiKey]:
    async with info.context.session() as session:
        rows = (
            await session.execute(
                select(ApiKeyModel, Channel.code)
                .outerjoin(Channel, Channel.id == ApiKeyModel.channel_id)
                .where(ApiKeyModel.id.in_(ids))
                .order_by(ApiKeyModel.id)
            )
        ).all()
        locs = (
            await session.execute(
                select(ApiKeyLocation.api_key_id, Location.code)
                .join(Location, Location.id == ApiKeyLocation.location_id)
                .where(ApiKeyLocation.api_key_id.in_(ids))
                .order_by(Location.code)
            )
        ).all()
    by_key: dict[int, list[str]] = {}
    for key_id, code in locs:
        by_key.setdefault(key_id, []).append(code)
    return [
        ApiKey(
            id=to_global_id("ApiKey", k.id),
            name=k.name,
            role=Role(k.role),
            prefix=k.prefix,
            channel_code=code,
            location_codes=by_key.get(k.id, []),
            carrier=k.carrier,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )
        for k, code in rows
    ]


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="The customer behind a customer token; null for other credentials."
    )
    async def me(self, info: InfoT) -> Me | None:
        principal = info.context.principal
        if principal.role is not DomainRole.CUSTOMER or principal.customer_id is None:
            authorize(info, DomainRole.CUSTOMER)
            return None
        async with info.context.session() as session:
            customer = await session.get(Customer, principal.customer_id)
        if customer is None:
            return None
        return Me(
            email=customer.email,
            name=customer.name,
            customer_id=customer.id,
            channel_id=customer.channel_id,
        )

    @strawberry.field(description="Who the caller is: role, name, and what it is bound to.")
    async def viewer(self, info: InfoT) -> Viewer:
        p = info.context.principal
        channel_code = None
        location_codes: list[str] = []
        async with info.context.session() as session:
            if p.channel_id is not None:
                channel_code = await session.scalar(
                    select(Channel.code).where(Channel.id == p.channel_id)
                )
            if p.location_ids:
                location_codes = list(
                    await session.scalars(
                        select(Location.code)
                        .where(Location.id.in_(p.location_ids))
                        .order_by(Location.code)
                    )
                )
        return Viewer(
            role=p.role.value,
            name=p.name,
            channel_code=channel_code,
            location_codes=location_codes,
            carrier=p.carrier,
        )

    @strawberry.field(description="Every API key, live and revoked (admin).")
    async def api_keys(self, info: InfoT) -> list[ApiKey]:
        authorize(info, DomainRole.ADMIN)
        async with info.context.session() as session:
            ids = list(await session.scalars(select(ApiKeyModel.id)))
        return await _api_key_view(info, ids)


@strawberry.type
class AccessMutation:
    @strawberry.mutation(
        description="Create an API key; its secret is in the answer, and only there."
    )
    async def create_api_key(self, info: InfoT, input: ApiKeyInput) -> ApiKeyPayload:
        authorize(info, DomainRole.ADMIN)
        try:
            async with info.context.uow() as uow:
                key, secret = await keys.create_api_key(
                    uow.session,
                    name=input.name,
                    role=input.role.value,
                    channel_code=input.channel,
                    location_codes=input.locations,
                    carrier=input.carrier,
                )
        except DomainError as exc:
            return ApiKeyPayload(api_key=None, secret=None, user_errors=user_errors(exc))
        [view] = await _api_key_view(info, [key.id])
        return ApiKeyPayload(api_key=view, secret=secret, user_errors=[])

    @strawberry.mutation(
        description=(
            "Revoke an API key. It stops working within the service's key cache time"
            " (OMS_AUTH_CACHE_SECONDS, 1 s by default), and so do the customer tokens it minted;"
            " WebSockets opened with either are closed (4401) soon after."
        )
    )
    async def revoke_api_key(self, info: InfoT, id: strawberry.ID) -> RevokeApiKeyPayload:
        authorize(info, DomainRole.ADMIN)
        pk = pk_of(id, "ApiKey")
        try:
            if pk is None:
                raise DomainError("no such API key", field=["id"], code="NOT_FOUND")
            async with info.context.uow() as uow:
                await keys.revoke_api_key(uow.session, pk)
        except DomainError as exc:
            return RevokeApiKeyPayload(api_key=None, user_errors=user_errors(exc))
        [view] = await _api_key_view(info, [pk])
        return RevokeApiKeyPayload(api_key=view, user_errors=[])

    @strawberry.mutation(
        description=(
            "Mint a short-lived token for one customer of the calling channel, for the customer's "
            "own app or tracking page. The channel vouches for the customer's identity. The "
            "token stands on the API key that minted it: revoking that key ends the token (and "
            "closes the WebSockets it opened) as it ends the key."
        )
    )
    async def issue_customer_token(
        self,
        info: InfoT,
        customer_email: str,
        ttl_seconds: Annotated[
            int | None,
            strawberry.argument(
                description="Lifetime in seconds: 60 to 86,400; one hour by default."
            ),
        ] = None,
    ) -> CustomerTokenPayload:
        principal = authorize(info, DomainRole.CHANNEL)
        assert principal.channel_id is not None and principal.api_key_id is not None
        ttl = (
            keys.CUSTOMER_TOKEN_DEFAULT_TTL
            if ttl_seconds is None
            else dt.timedelta(seconds=ttl_seconds)
        )
        try:
            if not dt.timedelta(seconds=60) <= ttl <= keys.CUSTOMER_TOKEN_MAX_TTL:
                raise DomainError(
                    "ttlSeconds must be between 60 and 86400",
                    field=["ttlSeconds"],
                    code="OUT_OF_RANGE",
                )
            email = normalise_email(customer_email, ["customerEmail"])
            async with info.context.uow() as uow:
                customer_id = await upsert_customer(
                    uow.session, channel_id=principal.channel_id, email=email
                )
        except DomainError as exc:
            return CustomerTokenPayload(token=None, expires_at=None, user_errors=user_errors(exc))
        token, expires_at = keys.issue_customer_token(
            info.context.services.token_signing_key,
            customer_id=customer_id,
            channel_id=principal.channel_id,
            api_key_id=principal.api_key_id,
            email=email,
            ttl=ttl,
            now=info.context.now(),
        )
        return CustomerTokenPayload(token=token, expires_at=expires_at, user_errors=[])
