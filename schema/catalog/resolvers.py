"""Queries and mutations of products and locations."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy import select

from domain.access.principal import Role
from domain.catalog import models
from domain.catalog import service as catalog
from domain.errors import DomainError
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
    user_errors,
)
from schema.catalog.types import Location, LocationInput, Product, ProductInput


@strawberry.type(description="Result of upsertLocations.")
class LocationsPayload:
    locations: list[Location] = strawberry.field(
        description="The locations as stored, in input order."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


@strawberry.type(description="Result of upsertProducts.")
class ProductsPayload:
    count: int = strawberry.field(description="How many products were created or updated.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


@strawberry.type(description="A page of products.")
class ProductConnection:
    edges: list[Edge[Product]] = strawberry.field(description="The products of this page.")
    page_info: PageInfo = strawberry.field(description="Paging position.")


@strawberry.type
class CatalogQuery:
    @strawberry.field(
        description="Locations: all for admins and channels, a partner's own for partners."
    )
    async def locations(self, info: InfoT) -> list[Location]:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL, Role.PARTNER)
        query = select(models.Location).order_by(models.Location.code)
        if principal.role is Role.PARTNER:
            query = query.where(models.Location.id.in_(principal.location_ids))
        async with info.context.session() as session:
            return [Location.of(m) for m in await session.scalars(query)]

    @strawberry.field(description="One location by its code, if visible to the caller.")
    async def location(self, info: InfoT, code: str) -> Location | None:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL, Role.PARTNER)
        async with info.context.session() as session:
            m = await session.scalar(select(models.Location).where(models.Location.code == code))
        if m is None or (principal.role is Role.PARTNER and m.id not in principal.location_ids):
            return None
        return Location.of(m)

    @strawberry.field(description="The catalog, by SKU order.")
    async def products(
        self,
        info: InfoT,
        first: int | None = None,
        after: str | None = None,
        sku_prefix: Annotated[
            str | None, strawberry.argument(description="Only SKUs starting with this.")
        ] = None,
    ) -> ProductConnection:
        authorize(info, Role.ADMIN, Role.CHANNEL, Role.PARTNER)
        size = page_size(first)
        query = select(models.Product).order_by(models.Product.sku).limit(size + 1)
        cursor = decode_cursor(after)
        if cursor:
            query = query.where(models.Product.sku > cursor[0])
        if sku_prefix:
            escaped = sku_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(models.Product.sku.like(escaped + "%"))
        async with info.context.session() as session:
            rows = list(await session.scalars(query))
        edges, page = build_page(rows, size, Product.of, lambda r: encode_cursor(r.sku))
        return ProductConnection(edges=edges, page_info=page)

    @strawberry.field(description="One product by SKU.")
    async def product(self, info: InfoT, sku: str) -> Product | None:
        authorize(info, Role.ADMIN, Role.CHANNEL, Role.PARTNER)
        async with info.context.session() as session:
            m = await session.scalar(select(models.Product).where(models.Product.sku == sku))
        return Product.of(m) if m else None


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(
        description="Create or update locations by code, all or none: every line is validated first."
    )
    async def upsert_locations(self, info: InfoT, input: list[LocationInput]) -> LocationsPayload:
        authorize(info, Role.ADMIN)
        try:
            async with info.context.uow() as uow:
                stored = await catalog.upsert_locations(uow.session, [i.to_data() for i in input])
        except DomainError as exc:
            return LocationsPayload(locations=[], user_errors=user_errors(exc))
        return LocationsPayload(locations=[Location.of(m) for m in stored], user_errors=[])

    @strawberry.mutation(
        description="Create or update products by SKU in bulk (up to 10,000 a call), all or none."
    )
    async def upsert_products(self, info: InfoT, input: list[ProductInput]) -> ProductsPayload:
        authorize(info, Role.ADMIN)
        try:
            async with info.context.uow() as uow:
                count = await catalog.upsert_products(uow.session, [i.to_data() for i in input])
        except DomainError as exc:
            return ProductsPayload(count=0, user_errors=user_errors(exc))
        return ProductsPayload(count=count, user_errors=[])
