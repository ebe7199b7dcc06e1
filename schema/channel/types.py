"""GraphQL types of sales channels."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from domain.channel import models
from domain.channel.service import (
    DEFAULT_PICKUP_RADIUS_KM,
    AllocationData,
    ChannelData,
    SkuAllocationData,
)
from schema.base import InfoT, Node, to_global_id
from schema.catalog.types import Location
from schema.loaders import network_by_channel


@strawberry.enum(description="What kind of sales channel.")
class ChannelKind(Enum):
    WEB = "WEB"
    MARKETPLACE = "MARKETPLACE"
    POS = "POS"
    B2B = "B2B"
    SOCIAL = "SOCIAL"


@strawberry.enum(description="One rule of a sourcing strategy, applied in the order given.")
class SourcingRule(Enum):
    PICKUP_LOCATION = "PICKUP_LOCATION"
    FEWEST_PARCELS = "FEWEST_PARCELS"
    EARLIEST_DELIVERY = "EARLIEST_DELIVERY"
    DISTANCE = "DISTANCE"
    PRIORITY = "PRIORITY"
    COST = "COST"
    MOST_STOCK = "MOST_STOCK"


@strawberry.type(description="An allocation rule for one SKU, overriding the channel's default.")
class SkuAllocation:
    sku: str = strawberry.field(description="The SKU.")
    share_percent: int | None = strawberry.field(description="Share of network availability.")
    buffer: int | None = strawberry.field(description="Units held back from this channel.")
    excluded: bool = strawberry.field(description="Not sold on this channel at all.")


@strawberry.type(description="How much of the network's stock a channel may sell.")
class Allocation:
    share_percent: int = strawberry.field(description="Percent of available units (rounded down).")
    buffer: int = strawberry.field(description="Units held back after the share.")
    excluded_skus: list[str] = strawberry.field(description="SKUs this channel never sells.")
    sku_rules: list[SkuAllocation] = strawberry.field(description="Per-SKU overrides.")


@strawberry.type(description="How orders of a channel are routed to locations.")
class Sourcing:
    rules: list[SourcingRule] = strawberry.field(description="Rules in the order they decide.")
    max_splits: int = strawberry.field(description="Most shipments one order may be split into.")
    pickup_radius_km: float = strawberry.field(
        description=(
            "Click-and-collect stores farther than this (km, great-circle) from the customer's "
            "destination are not offered; nearer ones are ranked nearest first."
        )
    )


@strawberry.type(description="A channel's return policy.")
class ReturnPolicy:
    window_days: int = strawberry.field(description="Days after delivery a return is accepted.")
    refund_shipping: bool = strawberry.field(description="Whether shipping is refunded by default.")


@strawberry.type(description="Where a channel's sellable quantities are published.")
class PublishTarget:
    webhook_url: str | None = strawberry.field(
        description="HTTPS endpoint receiving signed JSON batches."
    )
    feed_directory: str | None = strawberry.field(
        description="Directory where CSV/JSON feeds are written."
    )


@strawberry.type(
    description="A sales channel: web shop, marketplace, store till, B2B desk or social shop."
)
class Channel(Node):
    code: str = strawberry.field(description="Unique code, e.g. web-fr.")
    name: str = strawberry.field(description="Display name.")
    kind: ChannelKind = strawberry.field(description="What kind of channel.")
    currency: str = strawberry.field(description="ISO 4217 currency its orders are in.")
    allow_backorders: bool = strawberry.field(
        description="May sell short SKUs with inbound supply."
    )
    allocation: Allocation = strawberry.field(
        description="How much of the network's stock it may sell."
    )
    sourcing: Sourcing = strawberry.field(description="How its orders are routed.")
    return_policy: ReturnPolicy = strawberry.field(description="Its return policy.")
    publish_target: PublishTarget = strawberry.field(description="Where its stock is published.")
    pk: strawberry.Private[int]

    @strawberry.field(description="Locations it sells from.")
    async def network(self, info: InfoT) -> list[Location]:
        rows = await info.context.loader("network", network_by_channel).load(self.pk)
        return [Location.of(m) for m in rows]

    @classmethod
    def of(cls, m: models.Channel) -> Channel:
        alloc: dict[str, Any] = m.allocation
        return cls(
            id=to_global_id("Channel", m.id),
            pk=m.id,
            code=m.code,
            name=m.name,
            kind=ChannelKind(m.kind),
            currency=m.currency,
            allow_backorders=m.allow_backorders,
            allocation=Allocation(
                share_percent=alloc.get("sharePercent", 100),
                buffer=alloc.get("buffer", 0),
                excluded_skus=list(alloc.get("excludedSkus", [])),
                sku_rules=[
                    SkuAllocation(
                        sku=sku,
                        share_percent=r.get("sharePercent"),
                        buffer=r.get("buffer"),
                        excluded=bool(r.get("excluded")),
                    )
                    for sku, r in sorted(alloc.get("skuRules", {}).items())
                ],
            ),
            sourcing=Sourcing(
                rules=[SourcingRule(r) for r in m.sourcing.get("rules", [])],
                max_splits=m.sourcing.get("maxSplits", 3),
                pickup_radius_km=float(m.sourcing.get("pickupRadiusKm", DEFAULT_PICKUP_RADIUS_KM)),
            ),
            return_policy=ReturnPolicy(
                window_days=m.return_policy.get("windowDays", 30),
                refund_shipping=m.return_policy.get("refundShipping", False),
            ),
            publish_target=PublishTarget(
                webhook_url=m.publish_webhook_url, feed_directory=m.publish_feed_directory
            ),
        )


@strawberry.input(description="An allocation rule for one SKU.")
class SkuAllocationInput:
    sku: str = strawberry.field(description="The SKU.")
    share_percent: int | None = strawberry.field(default=None, description="Overrides the share.")
    buffer: int | None = strawberry.field(default=None, description="Overrides the buffer.")
    excluded: bool = strawberry.field(default=False, description="Never sell it on this channel.")


@strawberry.input(description="How much of the network's stock the channel may sell.")
class AllocationInput:
    share_percent: int = strawberry.field(
        default=100, description="Percent of available units, 0-100."
    )
    buffer: int = strawberry.field(default=0, description="Units held back after the share.")
    excluded_skus: list[str] | None = strawberry.field(
        default=None, description="SKUs never sold here."
    )
    sku_rules: list[SkuAllocationInput] | None = strawberry.field(
        default=None, description="Per-SKU overrides."
    )


@strawberry.input(description="The channel's sourcing strategy.")
class SourcingInput:
    rules: list[SourcingRule] = strawberry.field(description="Rules in the order they decide.")
    max_splits: int = strawberry.field(default=3, description="Most shipments per order, 1-20.")
    pickup_radius_km: float = strawberry.field(
        default=DEFAULT_PICKUP_RADIUS_KM,
        description="Click-and-collect stores are offered within this distance (km, 1-1,000).",
    )


@strawberry.input(description="The channel's return policy.")
class ReturnPolicyInput:
    window_days: int = strawberry.field(default=30, description="Days after delivery, 0-730.")
    refund_shipping: bool = strawberry.field(
        default=False, description="Refund shipping by default."
    )


@strawberry.input(
    description="Where to publish sellable quantities: a webhook or a feed directory."
)
class PublishTargetInput:
    webhook_url: str | None = strawberry.field(
        default=None,
        description=(
            "HTTPS endpoint. In production its host must be, and resolve only to, public "
            "addresses (FORBIDDEN_ADDRESS, UNRESOLVABLE_HOST) unless the deployment allows "
            "it; no credentials in the URL."
        ),
    )
    feed_directory: str | None = strawberry.field(
        default=None,
        description=(
            "Absolute directory path under the server's feed root, symlinks resolved "
            "(INVALID_PATH otherwise)."
        ),
    )


@strawberry.input(description="A channel to create, or to update by its code.")
class ChannelInput:
    code: str = strawberry.field(description="Unique code; an existing channel with it is updated.")
    name: str = strawberry.field(description="Display name.")
    kind: ChannelKind = strawberry.field(description="What kind of channel.")
    currency: str = strawberry.field(description="ISO 4217 currency of its orders.")
    network: list[str] = strawberry.field(description="Codes of the locations it sells from.")
    allow_backorders: bool = strawberry.field(
        default=False, description="Sell short SKUs with inbound supply."
    )
    allocation: AllocationInput | None = strawberry.field(
        default=None, description="Allocation rules."
    )
    sourcing: SourcingInput | None = strawberry.field(
        default=None, description="Sourcing strategy."
    )
    return_policy: ReturnPolicyInput | None = strawberry.field(
        default=None, description="Return policy."
    )
    publish_target: PublishTargetInput | None = strawberry.field(
        default=None, description="Publish target."
    )

    def to_data(self) -> ChannelData:
        a = self.allocation or AllocationInput()
        s = self.sourcing
        r = self.return_policy or ReturnPolicyInput()
        p = self.publish_target or PublishTargetInput()
        return ChannelData(
            code=self.code,
            name=self.name,
            kind=self.kind.value,
            currency=self.currency,
            network=list(self.network),
            allow_backorders=self.allow_backorders,
            allocation=AllocationData(
                share_percent=a.share_percent,
                buffer=a.buffer,
                excluded_skus=list(a.excluded_skus or []),
                sku_rules=[
                    SkuAllocationData(
                        sku=x.sku,
                        share_percent=x.share_percent,
                        buffer=x.buffer,
                        excluded=x.excluded,
                    )
                    for x in a.sku_rules or []
                ],
            ),
            sourcing_rules=[x.value for x in s.rules] if s else None,
            max_splits=s.max_splits if s else 3,
            pickup_radius_km=s.pickup_radius_km if s else DEFAULT_PICKUP_RADIUS_KM,
            return_window_days=r.window_days,
            refund_shipping=r.refund_shipping,
            publish_webhook_url=p.webhook_url,
            publish_feed_directory=p.feed_directory,
        )
