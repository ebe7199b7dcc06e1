"""Queries and mutations of sales channels."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from domain.access.principal import Role
from domain.channel import models
from domain.channel import service as channels
from domain.errors import DomainError
from schema.base import InfoT, UserError, authorize, user_errors
from schema.channel.types import Channel, ChannelInput


@strawberry.type(description="Result of upsertChannel.")
class ChannelPayload:
    channel: Channel | None = strawberry.field(description="The channel as stored.")
    publish_secret: str | None = strawberry.field(
        default=None,
        description="Signing secret of the publish webhook: returned once, when first generated.",
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


@strawberry.type
class ChannelQuery:
    @strawberry.field(
        description="Every channel (admin), or the caller's own channel (channel key)."
    )
    async def channels(self, info: InfoT) -> list[Channel]:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        query = select(models.Channel).order_by(models.Channel.code)
        if principal.role is Role.CHANNEL:
            query = query.where(models.Channel.id == principal.channel_id)
        async with info.context.session() as session:
            return [Channel.of(m) for m in await session.scalars(query)]

    @strawberry.field(description="One channel by code, if visible to the caller.")
    async def channel(self, info: InfoT, code: str) -> Channel | None:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        async with info.context.session() as session:
            m = await session.scalar(select(models.Channel).where(models.Channel.code == code))
        if m is None or not principal.can_see_channel(m.id):
            return None
        return Channel.of(m)


@strawberry.type
class ChannelMutation:
    @strawberry.mutation(
        description="Create or update a channel by code: network, allocation, sourcing, returns, publishing."
    )
    async def upsert_channel(self, info: InfoT, input: ChannelInput) -> ChannelPayload:
        authorize(info, Role.ADMIN)
        try:
            async with info.context.uow() as uow:
                m, secret = await channels.upsert_channel(
                    uow.session,
                    input.to_data(),
                    outbound=info.context.services.outbound,
                )
        except DomainError as exc:
            return ChannelPayload(channel=None, user_errors=user_errors(exc))
        return ChannelPayload(channel=Channel.of(m), publish_secret=secret, user_errors=[])
