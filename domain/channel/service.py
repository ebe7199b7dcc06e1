"""Configuring a sales channel: its network, allocation, sourcing, returns, publishing."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog.models import Location
from domain.catalog.service import check_code, check_text, unknown_skus
from domain.channel.models import CHANNEL_KINDS, Channel, ChannelLocation
from domain.errors import Collector
from domain.money import is_currency
from domain.outbound import OutboundGuard
from domain.publishing.service import channel_configured

SOURCING_RULES = (
    "PICKUP_LOCATION",
    "FEWEST_PARCELS",
    "EARLIEST_DELIVERY",
    "DISTANCE",
    "PRIORITY",
    "COST",
    "MOST_STOCK",
)
DEFAULT_SOURCING_RULES = [
    "PICKUP_LOCATION",
    "FEWEST_PARCELS",
    "DISTANCE",
    "PRIORITY",
    "COST",
    "MOST_STOCK",
]
MAX_SPLITS_LIMIT = 20
# Click-and-collect stores farther than this from the customer are not offered.
DEFAULT_PICKUP_RADIUS_KM = 50.0


@dataclass(frozen=True, slots=True)
class SkuAllocationData:
    sku: str
    share_percent: int | None = None
    buffer: int | None = None
    excluded: bool = False


@dataclass(frozen=True, slots=True)
class AllocationData:
    share_percent: int = 100
    buffer: int = 0
    excluded_skus: Sequence[str] = ()
    sku_rules: Sequence[SkuAllocationData] = ()


@dataclass(frozen=True, slots=True)
class ChannelData:
    code: str
    name: str
    kind: str
    currency: str
    network: Sequence[str]
    allow_backorders: bool = False
    allocation: AllocationData | None = None
    sourcing_rules: Sequence[str] | None = None
    max_splits: int = 3
    pickup_radius_km: float = DEFAULT_PICKUP_RADIUS_KM
    return_window_days: int = 30
    refund_shipping: bool = False
    publish_webhook_url: str | None = None
    publish_feed_directory: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _validate(errors: Collector, data: ChannelData) -> None:
    at: list[str | int] = ["input"]
    check_code(errors, data.code, [*at, "code"], "channel code")
    check_text(errors, data.name, [*at, "name"], 200)
    if data.kind not in CHANNEL_KINDS:
        errors.add("INVALID", f"unknown channel kind {data.kind!r}", [*at, "kind"])
    if not is_currency(data.currency):
        errors.add(
            "INVALID_CURRENCY",
            f"{data.currency!r} is not an ISO 4217 currency code",
            [*at, "currency"],
        )
    if not data.network:
        errors.add("REQUIRED", "a channel sells from at least one location", [*at, "network"])
    alloc = data.allocation or AllocationData()
    if not 0 <= alloc.share_percent <= 100:
        errors.add(
            "OUT_OF_RANGE",
            "sharePercent must be between 0 and 100",
            [*at, "allocation", "sharePercent"],
        )
    if not 0 <= alloc.buffer <= 1_000_000:
        errors.add(
            "OUT_OF_RANGE", "buffer must be between 0 and 1,000,000", [*at, "allocation", "buffer"]
        )
    for i, rule in enumerate(alloc.sku_rules):
        where: list[str | int] = [*at, "allocation", "skuRules", i]
        if rule.share_percent is not None and not 0 <= rule.share_percent <= 100:
            errors.add(
                "OUT_OF_RANGE", "sharePercent must be between 0 and 100", [*where, "sharePercent"]
            )
        if rule.buffer is not None and not 0 <= rule.buffer <= 1_000_000:
            errors.add("OUT_OF_RANGE", "buffer must be between 0 and 1,000,000", [*where, "buffer"])
    rules = list(data.sourcing_rules) if data.sourcing_rules is not None else DEFAULT_SOURCING_RULES
    for i, rule_name in enumerate(rules):
        if rule_name not in SOURCING_RULES:
            errors.add(
                "INVALID", f"unknown sourcing rule {rule_name!r}", [*at, "sourcing", "rules", i]
            )
    if len(set(rules)) != len(rules):
        errors.add("DUPLICATE", "a sourcing rule appears twice", [*at, "sourcing", "rules"])
    if not math.isfinite(data.pickup_radius_km) or not 1 <= data.pickup_radius_km <= 1_000:
        errors.add(
            "OUT_OF_RANGE",
            "pickupRadiusKm must be between 1 and 1,000",
            [*at, "sourcing", "pickupRadiusKm"],
        )
    if not 1 <= data.max_splits <= MAX_SPLITS_LIMIT:
        errors.add(
            "OUT_OF_RANGE",
            f"maxSplits must be between 1 and {MAX_SPLITS_LIMIT}",
            [*at, "sourcing", "maxSplits"],
        )
    if not 0 <= data.return_window_days <= 730:
        errors.add(
            "OUT_OF_RANGE",
            "windowDays must be between 0 and 730",
            [*at, "returnPolicy", "windowDays"],
        )
    if data.publish_webhook_url and data.publish_feed_directory:
        errors.add(
            "INVALID",
            "a channel publishes to a webhook or a feed directory, not both",
            [*at, "publishTarget"],
        )


async def _check_publish_target(
    errors: Collector, data: ChannelData, outbound: OutboundGuard
) -> None:
    """Where the channel's stock goes must be somewhere the outbound rules allow: a
    public https URL, or a directory under the feed root (domain/outbound.py)."""
    at: list[str | int] = ["input", "publishTarget"]
    if data.publish_webhook_url:
        await outbound.check_url(errors, data.publish_webhook_url, [*at, "webhookUrl"])
    if data.publish_feed_directory is not None:
        outbound.check_feed_directory(errors, data.publish_feed_directory, [*at, "feedDirectory"])


async def upsert_channel(
    session: AsyncSession, data: ChannelData, *, outbound: OutboundGuard
) -> tuple[Channel, str | None]:
    """Create or update a channel. Returns it, and its publish signing secret when one
    was just generated (shown once, as with API keys)."""
    errors = Collector()
    _validate(errors, data)
    # Before any statement: no connection is held while the target's host resolves.
    await _check_publish_target(errors, data, outbound)
    codes = list(dict.fromkeys(data.network))
    found = dict(
        (
            await session.execute(
                select(Location.code, Location.id).where(Location.code.in_(codes))
            )
        ).all()
    )
    for i, code in enumerate(data.network):
        if code not in found:
            errors.add("UNKNOWN_LOCATION", f"no location {code!r}", ["input", "network", i])
    alloc = data.allocation or AllocationData()
    skus = [*alloc.excluded_skus, *(r.sku for r in alloc.sku_rules)]
    unknown = await unknown_skus(session, skus)
    for i, sku in enumerate(alloc.excluded_skus):
        if sku in unknown:
            errors.add(
                "UNKNOWN_SKU", f"no product {sku!r}", ["input", "allocation", "excludedSkus", i]
            )
    for i, rule in enumerate(alloc.sku_rules):
        if rule.sku in unknown:
            errors.add(
                "UNKNOWN_SKU",
                f"no product {rule.sku!r}",
                ["input", "allocation", "skuRules", i, "sku"],
            )
    errors.raise_if_any()

    allocation = {
        "sharePercent": alloc.share_percent,
        "buffer": alloc.buffer,
        "excludedSkus": sorted(set(alloc.excluded_skus)),
        "skuRules": {
            r.sku: {"sharePercent": r.share_percent, "buffer": r.buffer, "excluded": r.excluded}
            for r in alloc.sku_rules
        },
    }
    sourcing = {
        "rules": list(data.sourcing_rules)
        if data.sourcing_rules is not None
        else DEFAULT_SOURCING_RULES,
        "maxSplits": data.max_splits,
        "pickupRadiusKm": data.pickup_radius_km,
    }
    policy = {"windowDays": data.return_window_days, "refundShipping": data.refund_shipping}

    channel = await session.scalar(
        select(Channel).where(Channel.code == data.code).with_for_update()
    )
    new_secret: str | None = None
    if channel is None:
        channel = Channel(code=data.code)
        session.add(channel)
    channel.name = data.name.strip()
    channel.kind = data.kind
    channel.currency = data.currency
    channel.allow_backorders = data.allow_backorders
    channel.allocation = allocation
    channel.sourcing = sourcing
    channel.return_policy = policy
    channel.publish_webhook_url = data.publish_webhook_url
    channel.publish_feed_directory = data.publish_feed_directory
    if data.publish_webhook_url and not channel.publish_secret:
        new_secret = secrets.token_urlsafe(32)
        channel.publish_secret = new_secret
    await session.flush()
    await session.execute(delete(ChannelLocation).where(ChannelLocation.channel_id == channel.id))
    await session.execute(
        insert(ChannelLocation),
        [{"channel_id": channel.id, "location_id": found[c]} for c in codes],
    )
    await channel_configured(session, channel.id)  # what it may sell may have changed
    return channel, new_secret
