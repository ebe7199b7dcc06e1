"""GraphQL types of stock levels, adjustments and inbound supply."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry

from domain.inventory.service import IgnoredLine, LevelRow
from schema.base import InfoT, Node, UserError
from schema.catalog.types import Location
from schema.inputs import direct_input
from schema.loaders import location_by_id, now_or_later


async def with_locations(info: InfoT, levels: list[StockLevel]) -> list[StockLevel]:
    """The levels, with their locations loaded beforehand (one read, however many)."""
    ids = sorted({level.location_id for level in levels})
    await info.context.loader("location", location_by_id).load_many(ids)
    return levels


@strawberry.type(description="One SKU at one location.")
class StockLevel:
    sku: str = strawberry.field(description="The SKU.")
    on_hand: int = strawberry.field(
        description="Units physically held, including reserved and damaged."
    )
    reserved: int = strawberry.field(description="Units promised to orders not yet shipped.")
    safety_stock: int = strawberry.field(description="Units held back from sale.")
    damaged: int = strawberry.field(description="Units quarantined (damaged, awaiting repair).")
    incoming: int = strawberry.field(description="Units on open inbound supply to this location.")
    available: int = strawberry.field(
        description="onHand - reserved - safetyStock - damaged, never below 0: what can be promised."
    )
    reorder_point: int | None = strawberry.field(
        description="At or below this, the level is low stock."
    )
    location_id: strawberry.Private[int]

    @strawberry.field(description="Where the units are.")
    def location(self, info: InfoT) -> Location:
        # Answers at once when `with_locations` has loaded the locations: a sync of
        # 10,000 levels of one location then awaits nothing per level.
        loader = info.context.loader("location", location_by_id)
        return now_or_later(loader, self.location_id, Location.of, shared=True)

    @classmethod
    def of(cls, r: LevelRow) -> StockLevel:
        return cls(
            sku=r.sku,
            on_hand=r.on_hand,
            reserved=r.reserved,
            safety_stock=r.safety_stock,
            damaged=r.damaged,
            incoming=r.incoming,
            available=r.available,
            reorder_point=r.reorder_point,
            location_id=r.location_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "location_id": self.location_id,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "safety_stock": self.safety_stock,
            "damaged": self.damaged,
            "incoming": self.incoming,
            "reorder_point": self.reorder_point,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StockLevel:
        return cls.of(LevelRow(**d))


@strawberry.type(description="A level at or below its reorder point.")
class LowStockItem:
    sku: str = strawberry.field(description="The SKU.")
    available: int = strawberry.field(description="Units available at the location.")
    reorder_point: int = strawberry.field(description="The level's reorder point.")
    on_hand: int = strawberry.field(description="Units held.")
    incoming: int = strawberry.field(description="Units on open inbound supply.")
    location_id: strawberry.Private[int]

    @strawberry.field(description="Where.")
    async def location(self, info: InfoT) -> Location:
        m = await info.context.loader("location", location_by_id).load(self.location_id)
        return Location.of(m)


@strawberry.type(description="A count line that was not applied because a newer count was.")
class IgnoredStockLine:
    line: int = strawberry.field(description="Index of the line in `levels`.")
    sku: str = strawberry.field(description="The SKU.")
    reason: str = strawberry.field(
        description="STALE: `asOf` is not newer than the last applied count."
    )
    last_counted_at: dt.datetime | None = strawberry.field(
        description="`asOf` of the count in force."
    )
    on_hand: strawberry.Private[int | None] = None

    @classmethod
    def of(cls, i: IgnoredLine) -> IgnoredStockLine:
        return cls(
            line=i.line,
            sku=i.sku,
            reason=i.reason,
            last_counted_at=i.counted_at,
            on_hand=i.on_hand,
        )


@strawberry.type(description="Result of setStockLevels.")
class StockLevelsPayload:
    stock_levels: list[StockLevel] = strawberry.field(
        description="The levels the counts were applied to."
    )
    ignored: list[IgnoredStockLine] = strawberry.field(
        default_factory=list,
        description="Lines not applied because they are older than the count in force.",
    )
    user_errors: list[UserError] = strawberry.field(
        description=(
            "Why nothing was written, if so; or, code STALE_COUNT (one per line, with its path), "
            "the lines not applied because a newer count is in force: the other lines were applied."
        )
    )


@strawberry.type(description="Result of adjustStock.")
class StockLevelPayload:
    stock_level: StockLevel | None = strawberry.field(description="The level after the adjustment.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


@direct_input
@strawberry.input(description="An absolute count of one SKU.")
class StockLevelLineInput:
    sku: str = strawberry.field(description="The SKU.")
    on_hand: int = strawberry.field(description="Units physically held, as counted.")
    safety_stock: int | None = strawberry.field(
        default=None, description="New safety stock; kept if absent."
    )
    reorder_point: int | None = strawberry.field(
        default=None, description="New reorder point; kept if absent."
    )


@direct_input
@strawberry.input(description="Absolute counts of one location, as of a moment.")
class SetStockLevelsInput:
    location: str = strawberry.field(description="Location code (one of the partner's own).")
    as_of: dt.datetime = strawberry.field(
        description="When the counts were taken; a count older than the one in force is ignored."
    )
    levels: list[StockLevelLineInput] = strawberry.field(description="Up to 20,000 lines.")


@strawberry.enum(description="Why stock was adjusted.")
class AdjustmentReason(Enum):
    CYCLE_COUNT = "CYCLE_COUNT"
    DAMAGED = "DAMAGED"
    LOST = "LOST"
    FOUND = "FOUND"
    RECEIPT = "RECEIPT"
    OTHER = "OTHER"


@direct_input
@strawberry.input(description="A signed correction of one SKU at one location.")
class AdjustStockInput:
    location: str = strawberry.field(description="Location code.")
    sku: str = strawberry.field(description="The SKU.")
    delta: int = strawberry.field(description="Units to add (positive) or remove (negative).")
    reason: AdjustmentReason = strawberry.field(description="Why.")
    note: str | None = strawberry.field(default=None, description="Free text for the ledger.")


@direct_input
@strawberry.input(description="One line of a batch adjustment.")
class AdjustStockLineInput:
    sku: str = strawberry.field(description="The SKU.")
    delta: int = strawberry.field(description="Units to add or remove.")
    reason: AdjustmentReason = strawberry.field(description="Why.")
    note: str | None = strawberry.field(default=None, description="Free text for the ledger.")


@direct_input
@strawberry.input(description="Signed corrections of many SKUs at one location, all or none.")
class AdjustStockBatchInput:
    location: str = strawberry.field(description="Location code.")
    lines: list[AdjustStockLineInput] = strawberry.field(description="Up to 20,000 lines.")


@strawberry.type(description="Result of adjustStockBatch.")
class StockLevelsBatchPayload:
    stock_levels: list[StockLevel] = strawberry.field(
        description="The levels after the adjustments."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


@strawberry.enum(description="What an inbound supply is.")
class InboundSupplyKind(Enum):
    PURCHASE_ORDER = "PURCHASE_ORDER"
    TRANSFER = "TRANSFER"


@direct_input
@strawberry.input(description="One SKU of an inbound supply.")
class InboundSupplyLineInput:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units expected (or received).")


@direct_input
@strawberry.input(description="A purchase order or transfer on its way to a location.")
class InboundSupplyInput:
    reference: str = strawberry.field(description="Unique reference, e.g. the PO number.")
    kind: InboundSupplyKind = strawberry.field(description="Purchase order or transfer.")
    location: str = strawberry.field(description="Receiving location code.")
    expected_at: dt.datetime = strawberry.field(description="When it is expected.")
    lines: list[InboundSupplyLineInput] = strawberry.field(description="What is expected.")


@strawberry.type(description="One SKU of an inbound supply.")
class InboundSupplyLine:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units expected.")
    quantity_received: int = strawberry.field(description="Units received so far.")


@strawberry.enum(description="Where an inbound supply stands.")
class InboundSupplyStatus(Enum):
    OPEN = "OPEN"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


@strawberry.type(description="A purchase order or transfer on its way.")
class InboundSupply(Node):
    reference: str = strawberry.field(description="Unique reference.")
    kind: InboundSupplyKind = strawberry.field(description="Purchase order or transfer.")
    status: InboundSupplyStatus = strawberry.field(
        description="OPEN until all of it is received (RECEIVED) or it is CANCELLED."
    )
    expected_at: dt.datetime = strawberry.field(description="When it is expected.")
    lines: list[InboundSupplyLine] = strawberry.field(description="What is expected and received.")
    location_id: strawberry.Private[int]

    @strawberry.field(description="Receiving location.")
    async def location(self, info: InfoT) -> Location:
        m = await info.context.loader("location", location_by_id).load(self.location_id)
        return Location.of(m)


@strawberry.type(description="Result of an inbound supply mutation.")
class InboundSupplyPayload:
    inbound_supply: InboundSupply | None = strawberry.field(description="The supply.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


@strawberry.type(
    description="A stock level whose quantities differ from the sums of its ledger movements."
)
class LedgerDiscrepancy:
    sku: str = strawberry.field(description="The SKU.")
    location_code: str = strawberry.field(description="The location.")
    on_hand: int = strawberry.field(description="onHand on the level.")
    ledger_on_hand: int = strawberry.field(description="Sum of onHand deltas in the ledger.")
    reserved: int = strawberry.field(description="reserved on the level.")
    ledger_reserved: int = strawberry.field(description="Sum of reserved deltas in the ledger.")
    damaged: int = strawberry.field(description="damaged on the level.")
    ledger_damaged: int = strawberry.field(description="Sum of damaged deltas in the ledger.")
