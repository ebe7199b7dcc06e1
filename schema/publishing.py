"""Channel stock publishing as its owners read it: the publication log, how far behind
a channel's receiver is, and inventory alerts."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.access.principal import Role
from domain.publishing import alerts as alert_service
from domain.publishing import service as publishing
from schema.base import (
    Edge,
    InfoT,
    Node,
    PageInfo,
    authorize,
    build_page,
    decode_cursor,
    encode_cursor,
    page_size,
    to_global_id,
)
from schema.node import node_type


@strawberry.enum(description="What a publication carried.")
class ChannelPublicationKind(Enum):
    INCREMENTAL = strawberry.enum_value(
        "INCREMENTAL", description="Quantities that changed since the receiver last acknowledged."
    )
    RESYNC = strawberry.enum_value(
        "RESYNC", description="A batch of a full resync: every SKU, in SKU order."
    )
    FEED = strawberry.enum_value(
        "FEED", description="The feed files rewritten with the channel's whole sellable list."
    )


@strawberry.enum(description="Where a publication stands.")
class ChannelPublicationStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Being sent; no answer yet.")
    ACKNOWLEDGED = strawberry.enum_value(
        "ACKNOWLEDGED",
        description="The receiver answered 2xx (or the feed files were written): its "
        "quantities count as published.",
    )
    FAILED = strawberry.enum_value(
        "FAILED",
        description="The last attempt failed; the same batch goes again at `nextAttemptAt`.",
    )
    DEAD = strawberry.enum_value(
        "DEAD",
        description="Given up after the last attempt. Its quantities stay pending and go out "
        "with the channel's next push, once its pause is over (or on a resync).",
    )


@strawberry.enum(description="Where a channel's stock is published.")
class PublishTargetKind(Enum):
    WEBHOOK = strawberry.enum_value("WEBHOOK", description="Signed JSON batches POSTed to a URL.")
    FEED = strawberry.enum_value("FEED", description="JSON and CSV files in a directory.")


@strawberry.enum(description="What an inventory alert is about.")
class InventoryAlertTopic(Enum):
    INVENTORY_LOW_STOCK = strawberry.enum_value(
        "INVENTORY_LOW_STOCK",
        description="A SKU's available units at a location fell to its reorder point "
        "(once per crossing: again only after it rose above it).",
    )
    CHANNEL_OUT_OF_STOCK = strawberry.enum_value(
        "CHANNEL_OUT_OF_STOCK", description="A channel can no longer sell a SKU it could."
    )


@strawberry.enum(description="Where the webhook delivery of an alert stands.")
class InventoryAlertDeliveryStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Being delivered, or to be retried.")
    DELIVERED = strawberry.enum_value(
        "DELIVERED",
        description="Every subscription that wanted it acknowledged it (or none wanted it).",
    )
    FAILED = strawberry.enum_value(
        "FAILED", description="Some subscription did not acknowledge it by the last try."
    )


@strawberry.type(description="A SKU and a quantity a channel may sell, as published.")
class PublishedQuantity:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units the channel may sell.")


@strawberry.type(
    description=(
        "One push of sellable quantities to a channel: a webhook batch, POSTed as "
        '`{"channel", "sequence", "kind", "items": [{"sku", "quantity", "sequence"}]}` with '
        "`X-OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>` "
        "(the channel's publish secret), `X-OMS-Channel`, `X-OMS-Sequence`, `X-OMS-Batch-Id` "
        "and `X-OMS-Timestamp`; or a feed write. Retries send the same body; sequences grow "
        "per channel, so a receiver keeps, per SKU, the quantity of the highest sequence seen."
    )
)
class ChannelPublication(Node):
    sequence: int = strawberry.field(
        description="The channel's sequence number of this push (and of each of its items)."
    )
    kind: ChannelPublicationKind = strawberry.field(description="What it carried.")
    status: ChannelPublicationStatus = strawberry.field(description="Where it stands.")
    items_count: int = strawberry.field(description="SKUs it carried.")
    items: list[PublishedQuantity] | None = strawberry.field(
        description="What it carried; null for a feed write (the whole list at the time)."
    )
    attempts: int = strawberry.field(description="Attempts made so far.")
    last_status_code: int | None = strawberry.field(
        description="HTTP status of the last answer; null if none came or for a feed."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed; null after a success."
    )
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When the next attempt is due; null unless PENDING or FAILED."
    )
    created_at: dt.datetime = strawberry.field(description="When the batch was made.")
    acknowledged_at: dt.datetime | None = strawberry.field(
        description="When the receiver acknowledged it."
    )

    @classmethod
    def of(cls, r: publishing.PublicationRow) -> ChannelPublication:
        return cls(
            id=to_global_id("ChannelPublication", r.id),
            sequence=r.sequence,
            kind=ChannelPublicationKind(r.kind),
            status=ChannelPublicationStatus(r.status),
            items_count=r.items_count,
            items=[PublishedQuantity(sku=s, quantity=q) for s, q in r.items]
            if r.items is not None
            else None,
            attempts=r.attempts,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            next_attempt_at=r.next_attempt_at,
            created_at=r.created_at,
            acknowledged_at=r.acknowledged_at,
        )


@strawberry.type(description="A page of a channel's publication log, newest first.")
class ChannelPublicationConnection:
    edges: list[Edge[ChannelPublication]] = strawberry.field(
        description="The publications of this page."
    )
    page_info: PageInfo = strawberry.field(description="Paging position.")
    total_count: int = strawberry.field(description="Publications in the log, all pages.")


@strawberry.type(description="A resync of a channel under way.")
class ChannelResync:
    full: bool = strawberry.field(
        description="True: every SKU is sent again; false: every SKU is recomputed (its "
        "allocation or network changed) and what differs is sent."
    )
    done: int = strawberry.field(description="SKUs done so far.")
    total: int | None = strawberry.field(description="SKUs in the catalogue when it started.")


@strawberry.type(description="How far a channel's receiver is behind what the channel may sell.")
class ChannelSyncStatus:
    channel: str = strawberry.field(description="The channel's code.")
    target: PublishTargetKind | None = strawberry.field(
        description="Where its stock is published; null if nowhere."
    )
    last_sequence: int = strawberry.field(description="Sequence of the latest push made.")
    last_acknowledged_at: dt.datetime | None = strawberry.field(
        description="When the receiver last acknowledged a push."
    )
    pending_items: int = strawberry.field(
        description="SKUs whose current quantity the receiver has not acknowledged yet."
    )
    lag_seconds: float = strawberry.field(
        description="Age of the oldest stock change the receiver has not acknowledged "
        "(0 when it is up to date)."
    )
    failing_batches: int = strawberry.field(description="Batches waiting for a retry.")
    dead_batches: int = strawberry.field(description="Batches given up after the last try.")
    paused_until: dt.datetime | None = strawberry.field(
        description="After a dead batch the receiver is left alone until then."
    )
    resync: ChannelResync | None = strawberry.field(description="A resync under way, if any.")
    last_resync_at: dt.datetime | None = strawberry.field(
        description="When the last resync finished."
    )


@strawberry.type(description="A low-stock or out-of-stock alert, also sent to webhook subscribers.")
class InventoryAlert(Node):
    topic: InventoryAlertTopic = strawberry.field(description="What it is about.")
    sku: str = strawberry.field(description="The SKU.")
    location_code: str | None = strawberry.field(description="The location (INVENTORY_LOW_STOCK).")
    channel_code: str | None = strawberry.field(description="The channel (CHANNEL_OUT_OF_STOCK).")
    quantity: int = strawberry.field(
        description="Units available at the location, or the channel's sellable quantity (0)."
    )
    reorder_point: int | None = strawberry.field(
        description="The level's reorder point (INVENTORY_LOW_STOCK)."
    )
    delivery_status: InventoryAlertDeliveryStatus = strawberry.field(
        description="Where its webhook delivery stands."
    )
    created_at: dt.datetime = strawberry.field(description="When it was raised.")

    @classmethod
    def of(cls, r: alert_service.AlertRow) -> InventoryAlert:
        return cls(
            id=to_global_id("InventoryAlert", r.id),
            topic=InventoryAlertTopic(r.topic),
            sku=r.sku,
            location_code=r.location_code,
            channel_code=r.channel_code,
            quantity=r.quantity,
            reorder_point=r.reorder_point,
            delivery_status=InventoryAlertDeliveryStatus(r.delivery_status),
            created_at=r.created_at,
        )


@strawberry.type(description="A page of inventory alerts, newest first.")
class InventoryAlertConnection:
    edges: list[Edge[InventoryAlert]] = strawberry.field(description="The alerts of this page.")
    page_info: PageInfo = strawberry.field(description="Paging position.")
    total_count: int = strawberry.field(description="Alerts visible to the caller, all pages.")


def _after_id(after: str | None) -> int | None:
    cursor = decode_cursor(after)
    if not cursor:
        return None
    try:
        return int(cursor[0])
    except ValueError:
        raise GraphQLError(
            "`after` is not a cursor of this connection", extensions={"code": "BAD_USER_INPUT"}
        ) from None


First = Annotated[int | None, strawberry.argument(description="Page size, at most 100.")]
After = Annotated[str | None, strawberry.argument(description="Cursor to continue after.")]
ChannelCode = Annotated[str, strawberry.argument(description="The channel's code.")]


@strawberry.type
class PublishingQuery:
    @strawberry.field(
        description="A channel's publication log, newest first (admin, or the channel's own "
        "key); null if the channel does not exist or is not yours."
    )
    async def channel_publications(
        self, info: InfoT, channel: ChannelCode, first: First = None, after: After = None
    ) -> ChannelPublicationConnection | None:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        size = page_size(first)
        before_id = _after_id(after)
        async with info.context.session() as session:
            channel_id = await publishing.visible_channel(session, principal, channel)
            if channel_id is None:
                return None
            rows, total = await publishing.list_publications(
                session, channel_id, limit=size + 1, before_id=before_id
            )
        edges, page = build_page(rows, size, ChannelPublication.of, lambda r: encode_cursor(r.id))
        return ChannelPublicationConnection(edges=edges, page_info=page, total_count=total)

    @strawberry.field(
        description="How far a channel's receiver is behind (admin, or the channel's own key); "
        "null if the channel does not exist or is not yours."
    )
    async def channel_sync_status(
        self, info: InfoT, channel: ChannelCode
    ) -> ChannelSyncStatus | None:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        async with info.context.session() as session:
            channel_id = await publishing.visible_channel(session, principal, channel)
            if channel_id is None:
                return None
            s = await publishing.sync_status(session, channel_id)
        return ChannelSyncStatus(
            channel=s.channel_code,
            target=PublishTargetKind(s.target_kind) if s.target_kind else None,
            last_sequence=s.last_sequence,
            last_acknowledged_at=s.last_acknowledged_at,
            pending_items=s.pending_items,
            lag_seconds=s.lag_seconds,
            failing_batches=s.failing_batches,
            dead_batches=s.dead_batches,
            paused_until=s.paused_until,
            resync=ChannelResync(
                full=s.resync_mode == "FULL", done=s.resync_done, total=s.resync_total
            )
            if s.resync_mode
            else None,
            last_resync_at=s.last_resync_at,
        )

    @strawberry.field(
        description="Inventory alerts, newest first: every one for admin; for a partner, the "
        "low-stock alerts of its locations."
    )
    async def inventory_alerts(
        self, info: InfoT, first: First = None, after: After = None
    ) -> InventoryAlertConnection:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        size = page_size(first)
        before_id = _after_id(after)
        async with info.context.session() as session:
            rows, total = await alert_service.list_alerts(
                session, principal, limit=size + 1, before_id=before_id
            )
        edges, page = build_page(rows, size, InventoryAlert.of, lambda r: encode_cursor(r.id))
        return InventoryAlertConnection(edges=edges, page_info=page, total_count=total)


@node_type("ChannelPublication")
async def _publication_node(info: InfoT, pk: int) -> Node | None:
    principal = info.context.principal
    if principal.role not in (Role.ADMIN, Role.CHANNEL):
        return None
    async with info.context.session() as session:
        row = await publishing.get_publication(session, principal, pk)
    return ChannelPublication.of(row) if row else None


@node_type("InventoryAlert")
async def _alert_node(info: InfoT, pk: int) -> Node | None:
    principal = info.context.principal
    if principal.role not in (Role.ADMIN, Role.PARTNER):
        return None
    async with info.context.session() as session:
        row = await alert_service.get_alert(session, principal, pk)
    return InventoryAlert.of(row) if row else None
