"""Queries and mutations of stock: levels, low stock, counts, adjustments, inbound."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from sqlalchemy import select

from domain.access.principal import Principal, Role
from domain.catalog.models import Location as LocationModel
from domain.channel.models import ChannelLocation
from domain.errors import DomainError, NotFound
from domain.inventory import inbound
from domain.inventory import service as inventory
from domain.inventory.models import InboundSupply as SupplyModel
from domain.inventory.models import InboundSupplyLine as SupplyLineModel
from schema.base import (
    InfoT,
    UserError,
    authorize,
    claim_idempotency,
    complete_idempotency,
    input_dict,
    page_size,
    pk_of,
    to_global_id,
    user_errors,
)
from schema.inventory.types import (
    AdjustStockBatchInput,
    AdjustStockInput,
    IgnoredStockLine,
    InboundSupply,
    InboundSupplyInput,
    InboundSupplyKind,
    InboundSupplyLine,
    InboundSupplyLineInput,
    InboundSupplyPayload,
    InboundSupplyStatus,
    LedgerDiscrepancy,
    LowStockItem,
    SetStockLevelsInput,
    StockLevel,
    StockLevelPayload,
    StockLevelsBatchPayload,
    StockLevelsPayload,
    with_locations,
)


async def _visible_locations(info: InfoT, principal: Principal) -> list[int] | None:
    """Locations whose stock the caller may read: all (None) for admins, a partner's own,
    a channel's network (storefronts show in-store availability)."""
    if principal.role is Role.ADMIN:
        return None
    if principal.role is Role.PARTNER:
        return sorted(principal.location_ids)
    async with info.context.session() as session:
        return list(
            await session.scalars(
                select(ChannelLocation.location_id).where(
                    ChannelLocation.channel_id == principal.channel_id
                )
            )
        )


async def load_supply(info: InfoT, supply_id: int) -> InboundSupply | None:
    async with info.context.session() as session:
        supply = await session.get(SupplyModel, supply_id)
        if supply is None:
            return None
        lines = await session.scalars(
            select(SupplyLineModel)
            .where(SupplyLineModel.supply_id == supply_id)
            .order_by(SupplyLineModel.sku)
        )
        return InboundSupply(
            id=to_global_id("InboundSupply", supply.id),
            reference=supply.reference,
            kind=InboundSupplyKind(supply.kind),
            status=InboundSupplyStatus(supply.status),
            expected_at=supply.expected_at,
            lines=[
                InboundSupplyLine(
                    sku=x.sku, quantity=x.quantity, quantity_received=x.quantity_received
                )
                for x in lines
            ],
            location_id=supply.location_id,
        )


@strawberry.type
class InventoryQuery:
    @strawberry.field(description="A SKU's stock at every location the caller may see.")
    async def stock_levels(self, info: InfoT, sku: str) -> list[StockLevel]:
        principal = authorize(info, Role.ADMIN, Role.PARTNER, Role.CHANNEL)
        visible = await _visible_locations(info, principal)
        async with info.context.session() as session:
            rows = await inventory.levels_of_sku(session, sku, visible)
        return await with_locations(info, [StockLevel.of(r) for r in rows])

    @strawberry.field(description="Levels at or below their reorder point, most urgent first.")
    async def low_stock(
        self,
        info: InfoT,
        first: Annotated[
            int | None, strawberry.argument(description="At most 100 (default 20).")
        ] = None,
    ) -> list[LowStockItem]:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        visible = await _visible_locations(info, principal)
        async with info.context.session() as session:
            rows = await inventory.low_stock(session, visible, page_size(first))
        return [
            LowStockItem(
                sku=r.sku,
                available=r.available,
                reorder_point=r.reorder_point or 0,
                on_hand=r.on_hand,
                incoming=r.incoming,
                location_id=r.location_id,
            )
            for r in rows
        ]

    @strawberry.field(
        description="Stock levels that differ from their ledger (should always be empty)."
    )
    async def ledger_discrepancies(self, info: InfoT) -> list[LedgerDiscrepancy]:
        authorize(info, Role.ADMIN)
        async with info.context.session() as session:
            rows = await inventory.ledger_discrepancies(session)
            codes = dict(
                (await session.execute(select(LocationModel.id, LocationModel.code))).all()
            )
        return [
            LedgerDiscrepancy(
                sku=d.sku,
                location_code=codes.get(d.location_id, str(d.location_id)),
                on_hand=d.on_hand,
                ledger_on_hand=d.ledger_on_hand,
                reserved=d.reserved,
                ledger_reserved=d.ledger_reserved,
                damaged=d.damaged,
                ledger_damaged=d.ledger_damaged,
            )
            for d in rows
        ]

    @strawberry.field(
        description="Open inbound supply (purchase orders, transfers) the caller may see."
    )
    async def inbound_supplies(
        self,
        info: InfoT,
        location: str | None = None,
        status: InboundSupplyStatus | None = InboundSupplyStatus.OPEN,
    ) -> list[InboundSupply]:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        query = select(SupplyModel.id).order_by(SupplyModel.expected_at, SupplyModel.id).limit(500)
        if status is not None:
            query = query.where(SupplyModel.status == status.value)
        if principal.role is Role.PARTNER:
            query = query.where(SupplyModel.location_id.in_(principal.location_ids))
        if location:
            query = query.join(LocationModel, LocationModel.id == SupplyModel.location_id).where(
                LocationModel.code == location
            )
        async with info.context.session() as session:
            ids = list(await session.scalars(query))
        supplies = [await load_supply(info, i) for i in ids]
        return [s for s in supplies if s is not None]


def _levels_result(levels: list[StockLevel], ignored: list[IgnoredStockLine]) -> dict[str, Any]:
    return {
        "levels": [lv.to_json() for lv in levels],
        "ignored": [
            {
                "line": i.line,
                "sku": i.sku,
                "reason": i.reason,
                "at": i.last_counted_at.isoformat() if i.last_counted_at else None,
                "onHand": i.on_hand,
            }
            for i in ignored
        ],
    }


async def _adjusted(
    info: InfoT,
    principal: Principal,
    operation: str,
    idempotency_key: str,
    request: Any,
    location: str,
    lines: list[inventory.AdjustLine],
    *,
    field_prefix: tuple[str, ...] = ("input", "lines"),
) -> list[StockLevel]:
    """adjustStock and adjustStockBatch: the levels after the corrections, or those the
    first request with this key answered. Raises DomainError (nothing written)."""
    async with info.context.uow() as uow:
        replay = await claim_idempotency(
            info, uow.session, operation, idempotency_key, input_dict(request)
        )
        if replay is not None:
            return [StockLevel.from_json(d) for d in replay["levels"]]
        rows = await inventory.adjust_stock(
            uow.session,
            principal,
            location_code=location,
            lines=lines,
            reference=f"adjust:{idempotency_key}",
            now=info.context.now(),
            field_prefix=field_prefix,
        )
        levels = [StockLevel.of(r) for r in rows]
        await complete_idempotency(
            info,
            uow.session,
            operation,
            idempotency_key,
            {"levels": [level.to_json() for level in levels]},
        )
    return levels


def _levels_replay(result: dict[str, Any], as_of: dt.datetime) -> StockLevelsPayload:
    ignored = [
        inventory.IgnoredLine(
            line=i["line"],
            sku=i["sku"],
            reason=i["reason"],
            counted_at=dt.datetime.fromisoformat(i["at"]) if i["at"] else None,
            on_hand=i.get("onHand"),
        )
        for i in result.get("ignored", [])
    ]
    return StockLevelsPayload(
        stock_levels=[StockLevel.from_json(d) for d in result.get("levels", [])],
        ignored=[IgnoredStockLine.of(i) for i in ignored],
        user_errors=_stale(ignored, as_of),
    )


def _stale(ignored: list[inventory.IgnoredLine], as_of: dt.datetime) -> list[UserError]:
    """A STALE_COUNT userError per line not applied (the others were)."""
    return [e for err in inventory.stale_count_errors(ignored, as_of) for e in user_errors(err)]


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(
        description=(
            "Absolute counts from a WMS or store, as of a moment, for one of the caller's locations. "
            "All lines are validated first; a line whose count is not newer than the count in force "
            "is not applied, and says so in `userErrors` (code STALE_COUNT, one per line, its path "
            "in `field`) and in `ignored`, while the other lines are applied. Idempotent by key."
        )
    )
    async def set_stock_levels(
        self, info: InfoT, input: SetStockLevelsInput, idempotency_key: str
    ) -> StockLevelsPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        try:
            async with info.context.uow() as uow:
                replay = await claim_idempotency(
                    info, uow.session, "setStockLevels", idempotency_key, input_dict(input)
                )
                if replay is not None:
                    return _levels_replay(replay, input.as_of)
                result = await inventory.set_stock_levels(
                    uow.session,
                    principal,
                    location_code=input.location,
                    as_of=input.as_of,
                    lines=[
                        inventory.CountLine(x.sku, x.on_hand, x.safety_stock, x.reorder_point)
                        for x in input.levels
                    ],
                    reference=f"sync:{idempotency_key}",
                    now=info.context.now(),
                )
                levels = [StockLevel.of(r) for r in result.levels]
                stale = _stale(result.ignored, input.as_of)
                ignored = [IgnoredStockLine.of(i) for i in result.ignored]
                await complete_idempotency(
                    info,
                    uow.session,
                    "setStockLevels",
                    idempotency_key,
                    _levels_result(levels, ignored),
                )
        except DomainError as exc:
            return StockLevelsPayload(stock_levels=[], user_errors=user_errors(exc))
        return StockLevelsPayload(
            stock_levels=await with_locations(info, levels), ignored=ignored, user_errors=stale
        )

    @strawberry.mutation(
        description="A signed correction of one SKU with a reason. Idempotent by key."
    )
    async def adjust_stock(
        self, info: InfoT, input: AdjustStockInput, idempotency_key: str
    ) -> StockLevelPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        line = inventory.AdjustLine(input.sku, input.delta, input.reason.value, input.note)
        try:
            (level,) = await _adjusted(
                info,
                principal,
                "adjustStock",
                idempotency_key,
                input,
                input.location,
                [line],
                field_prefix=("input",),
            )
        except DomainError as exc:
            # The one line is the input itself: its errors name ["input", field].
            for error in exc.errors if hasattr(exc, "errors") else [exc]:
                if error.field and len(error.field) > 2 and error.field[:2] == ["input", 0]:
                    error.field = ["input", *error.field[2:]]
            return StockLevelPayload(stock_level=None, user_errors=user_errors(exc))
        return StockLevelPayload(stock_level=level, user_errors=[])

    @strawberry.mutation(
        description="Signed corrections of many SKUs at one location, all or none. Idempotent by key."
    )
    async def adjust_stock_batch(
        self, info: InfoT, input: AdjustStockBatchInput, idempotency_key: str
    ) -> StockLevelsBatchPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        lines = [inventory.AdjustLine(x.sku, x.delta, x.reason.value, x.note) for x in input.lines]
        try:
            levels = await _adjusted(
                info, principal, "adjustStockBatch", idempotency_key, input, input.location, lines
            )
        except DomainError as exc:
            return StockLevelsBatchPayload(stock_levels=[], user_errors=user_errors(exc))
        return StockLevelsBatchPayload(
            stock_levels=await with_locations(info, levels), user_errors=[]
        )

    @strawberry.mutation(
        description="Record a purchase order or transfer on its way to a location."
    )
    async def create_inbound_supply(
        self, info: InfoT, input: InboundSupplyInput
    ) -> InboundSupplyPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        try:
            async with info.context.uow() as uow:
                supply_id = await inbound.create_inbound_supply(
                    uow.session,
                    principal,
                    reference=input.reference,
                    kind=input.kind.value,
                    location_code=input.location,
                    expected_at=input.expected_at,
                    lines=[inbound.SupplyLine(x.sku, x.quantity) for x in input.lines],
                )
        except DomainError as exc:
            return InboundSupplyPayload(inbound_supply=None, user_errors=user_errors(exc))
        return InboundSupplyPayload(
            inbound_supply=await load_supply(info, supply_id), user_errors=[]
        )

    @strawberry.mutation(
        description="Receive units of an inbound supply into stock. Idempotent by key."
    )
    async def receive_inbound_supply(
        self,
        info: InfoT,
        id: strawberry.ID,
        lines: list[InboundSupplyLineInput],
        idempotency_key: str,
    ) -> InboundSupplyPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        supply_id = pk_of(id, "InboundSupply")
        try:
            if supply_id is None:
                raise NotFound("no such inbound supply", field=["id"])
            async with info.context.uow() as uow:
                replay = await claim_idempotency(
                    info,
                    uow.session,
                    "receiveInboundSupply",
                    idempotency_key,
                    {"id": id, "lines": input_dict(lines)},
                )
                if replay is None:
                    await inbound.receive_inbound_supply(
                        uow.session,
                        principal,
                        supply_id=supply_id,
                        lines=[inbound.SupplyLine(x.sku, x.quantity) for x in lines],
                        reference=f"inbound:{supply_id}",
                        now=info.context.now(),
                    )
                    await complete_idempotency(
                        info,
                        uow.session,
                        "receiveInboundSupply",
                        idempotency_key,
                        {"id": supply_id},
                    )
        except DomainError as exc:
            return InboundSupplyPayload(inbound_supply=None, user_errors=user_errors(exc))
        return InboundSupplyPayload(
            inbound_supply=await load_supply(info, supply_id), user_errors=[]
        )

    @strawberry.mutation(
        description=(
            "Cancel an open inbound supply: its units stop counting as incoming. Safe to retry: "
            "on a supply already cancelled it answers the supply as it is."
        )
    )
    async def cancel_inbound_supply(self, info: InfoT, id: strawberry.ID) -> InboundSupplyPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        supply_id = pk_of(id, "InboundSupply")
        try:
            if supply_id is None:
                raise NotFound("no such inbound supply", field=["id"])
            async with info.context.uow() as uow:
                await inbound.cancel_inbound_supply(uow.session, principal, supply_id)
        except DomainError as exc:
            return InboundSupplyPayload(inbound_supply=None, user_errors=user_errors(exc))
        return InboundSupplyPayload(
            inbound_supply=await load_supply(info, supply_id), user_errors=[]
        )
