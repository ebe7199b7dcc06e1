"""Return cases: types, queries and mutations (request, approve, reject, cancel,
receive, complete repairs, refund and the provider's callback)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from domain.access.principal import Role
from domain.db import driver_connection
from domain.errors import DomainError, NotFound
from domain.order.queries import visible as order_visible
from domain.returns import receiving, refunding
from domain.returns import service as returns
from domain.returns.queries import RefundRow, ReturnRow, refund_by_id
from schema.base import (
    InfoT,
    Money,
    Node,
    UserError,
    authorize,
    claim_idempotency,
    complete_idempotency,
    input_dict,
    pk_of,
    to_global_id,
    user_errors,
)
from schema.catalog.types import Location
from schema.loaders import (
    lines_of_return,
    location_by_id,
    order_by_id,
    order_line_by_id,
    refunds_of_return,
    return_by_id,
)

if TYPE_CHECKING:
    from schema.order.types import Order, OrderLine


@strawberry.enum(description="Where a return case stands.")
class ReturnCaseStatus(Enum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    INSPECTED = "INSPECTED"
    REFUNDED = "REFUNDED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


@strawberry.enum(description="Why the customer sends it back (for statistics).")
class ReturnReason(Enum):
    WRONG_SIZE = "WRONG_SIZE"
    DAMAGED = "DAMAGED"
    DEFECTIVE = "DEFECTIVE"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    WRONG_ITEM = "WRONG_ITEM"
    NO_LONGER_NEEDED = "NO_LONGER_NEEDED"
    LATE_DELIVERY = "LATE_DELIVERY"
    UNDELIVERABLE = "UNDELIVERABLE"
    OTHER = "OTHER"


@strawberry.enum(description="Who opened the case.")
class ReturnInitiator(Enum):
    CUSTOMER = "CUSTOMER"
    MERCHANT = "MERCHANT"
    CARRIER = "CARRIER"


@strawberry.enum(description="The state of a returned unit.")
class ItemCondition(Enum):
    NEW = "NEW"
    GOOD = "GOOD"
    DAMAGED = "DAMAGED"
    DEFECTIVE = "DEFECTIVE"


@strawberry.enum(description="What becomes of returned units.")
class Disposition(Enum):
    RESTOCK = "RESTOCK"
    REPAIR = "REPAIR"
    DISPOSE = "DISPOSE"
    RETURN_TO_VENDOR = "RETURN_TO_VENDOR"


@strawberry.enum(description="Where a refund stands.")
class RefundStatus(Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type(description="Money going back to the customer.")
class Refund(Node):
    status: RefundStatus = strawberry.field(description="Pending, succeeded or failed.")
    amount: Money = strawberry.field(description="Total refunded, shipping included.")
    shipping: Money = strawberry.field(description="Of which shipping.")
    provider_reference: str | None = strawberry.field(
        description="The payment provider's reference."
    )
    created_at: dt.datetime = strawberry.field(description="When it was requested.")

    @classmethod
    def of(cls, r: RefundRow) -> Refund:
        return cls(
            id=to_global_id("Refund", r.id),
            status=RefundStatus(r.status),
            amount=Money.of(r.amount_minor, r.currency),
            shipping=Money.of(r.shipping_minor, r.currency),
            provider_reference=r.provider_reference,
            created_at=r.created_at,
        )


@strawberry.type(description="Units of one order line on a return case.")
class ReturnLine:
    quantity: int = strawberry.field(description="Units the customer sends back.")
    quantity_received: int = strawberry.field(description="Units received so far.")
    reason_code: ReturnReason = strawberry.field(description="Why.")
    reason_note: str | None = strawberry.field(description="The customer's words.")
    condition: ItemCondition | None = strawberry.field(description="State found on receipt.")
    disposition: Disposition | None = strawberry.field(description="What became of the units.")
    quantity_restocked: int = strawberry.field(description="Units back in available stock.")
    quantity_in_repair: int = strawberry.field(
        description="Units quarantined for repair, not yet finished."
    )
    quantity_refunded: int = strawberry.field(description="Units refunded.")
    order_line_pk: strawberry.Private[int]

    @strawberry.field(description="The order line returned.")
    async def order_line(
        self, info: InfoT
    ) -> Annotated[OrderLine, strawberry.lazy("schema.order.types")]:
        from schema.order.types import OrderLine

        row = await info.context.loader("order_line", order_line_by_id).load(self.order_line_pk)
        order = await info.context.loader("order", order_by_id).load(row.order_id)
        return OrderLine.of(row, order.currency)


@strawberry.type(description="A return case (RMA).")
class Return(Node):
    number: str = strawberry.field(
        description=(
            "RMA number to print on the parcel: RMA-, the order's number and the case's position"
            " among the order's returns, e.g. RMA-100045-4-2 (the order's second return). Cases"
            " opened before this form keep numbers like R100000-9."
        )
    )
    status: ReturnCaseStatus = strawberry.field(description="Where it stands.")
    initiated_by: ReturnInitiator = strawberry.field(
        description="Customer, merchant, or carrier (undeliverable)."
    )
    rejection_reason: str | None = strawberry.field(description="Why it was rejected.")
    requested_at: dt.datetime = strawberry.field(description="When it was opened.")
    approved_at: dt.datetime | None = strawberry.field(description="When it was approved.")
    received_at: dt.datetime | None = strawberry.field(description="When units first arrived.")
    row: strawberry.Private[ReturnRow]

    @classmethod
    def of(cls, r: ReturnRow) -> Return:
        return cls(
            id=to_global_id("Return", r.id),
            number=r.number,
            status=ReturnCaseStatus(r.status),
            initiated_by=ReturnInitiator(r.initiated_by),
            rejection_reason=r.rejection_reason,
            requested_at=r.requested_at,
            approved_at=r.approved_at,
            received_at=r.received_at,
            row=r,
        )

    @strawberry.field(description="What is returned, line by line.")
    async def lines(self, info: InfoT) -> list[ReturnLine]:
        rows = await info.context.loader("return_lines", lines_of_return).load(self.row.id)
        return [
            ReturnLine(
                quantity=x.quantity,
                quantity_received=x.quantity_received,
                reason_code=ReturnReason(x.reason_code),
                reason_note=x.reason_note,
                condition=ItemCondition(x.condition) if x.condition else None,
                disposition=Disposition(x.disposition) if x.disposition else None,
                quantity_restocked=x.quantity_restocked + x.quantity_repaired,
                quantity_in_repair=x.quantity_repair - x.quantity_repaired,
                quantity_refunded=x.quantity_refunded,
                order_line_pk=x.order_line_id,
            )
            for x in rows
        ]

    @strawberry.field(
        description="Printable return label (HTML) with the RMA number and where to send it."
    )
    def label_url(self) -> str:
        return f"/returns/{self.id}/label.html"

    @strawberry.field(description="Where the parcel is to be sent.")
    async def receiving_location(self, info: InfoT) -> Location:
        return Location.of(
            await info.context.loader("location", location_by_id).load(
                self.row.receiving_location_id
            )
        )

    @strawberry.field(description="The order it belongs to.")
    async def order(self, info: InfoT) -> Annotated[Order, strawberry.lazy("schema.order.types")]:
        from schema.order.types import Order

        return Order.of(await info.context.loader("order", order_by_id).load(self.row.order_id))

    @strawberry.field(description="Refunds of this case.")
    async def refunds(self, info: InfoT) -> list[Refund]:
        rows = await info.context.loader("refunds", refunds_of_return).load(self.row.id)
        return [Refund.of(r) for r in rows]


async def load_return(info: InfoT, pk: int) -> Return | None:
    row = await info.context.loader("return", return_by_id).load(pk)
    if row is None:
        return None
    p = info.context.principal
    if p.role is Role.PARTNER:
        return Return.of(row) if p.can_act_at_location(row.receiving_location_id) else None
    order = await info.context.loader("order", order_by_id).load(row.order_id)
    return Return.of(row) if order_visible(p, order) else None


@strawberry.type(description="Result of a return mutation.")
class ReturnPayload:
    return_: Return | None = strawberry.field(
        name="return", description="The case as it now stands."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.type(description="Result of receiveReturn.")
class ReceiveReturnPayload:
    return_: Return | None = strawberry.field(
        name="return",
        description=(
            "The case the parcel was received into, as it now stands; when it filled several"
            " cases of one order, the oldest of them (all are in `returns`)."
        ),
    )
    returns: list[Return] = strawberry.field(
        description="Every case the parcel was received into, oldest first."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.type(description="Result of refundReturn.")
class RefundPayload:
    refund: Refund | None = strawberry.field(description="The refund.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was refunded, if so.")


@strawberry.input(description="Units of one delivered order line to send back.")
class ReturnLineInput:
    order_line_id: strawberry.ID = strawberry.field(description="The order line.")
    quantity: int = strawberry.field(
        description="Units, at most what was delivered and not yet returned."
    )
    reason_code: ReturnReason = strawberry.field(description="Why.")
    reason_note: str | None = strawberry.field(default=None, description="In the customer's words.")


@strawberry.input(description="A return to open.")
class RequestReturnInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    lines: list[ReturnLineInput] = strawberry.field(description="What comes back.")
    initiated_by: ReturnInitiator | None = strawberry.field(
        default=None,
        description="CUSTOMER (a customer token's default) or MERCHANT (a channel's or admin's default).",
    )


@strawberry.input(description="Units received of one SKU.")
class ReceiveReturnLineInput:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units received.")
    condition: ItemCondition = strawberry.field(description="State found.")
    disposition: Disposition = strawberry.field(description="What becomes of them.")


@strawberry.input(
    description=(
        "A parcel of returned goods arriving at a location, named by one of returnId,"
        " returnNumber or orderNumber."
    )
)
class ReceiveReturnInput:
    location: str = strawberry.field(description="The receiving location's code.")
    lines: list[ReceiveReturnLineInput] = strawberry.field(description="What arrived.")
    return_id: strawberry.ID | None = strawberry.field(default=None, description="The case, or:")
    order_number: str | None = strawberry.field(
        default=None,
        description=(
            "The order number typed by the warehouse, e.g. 100045-4: what arrived is matched"
            " against every open case of that order expected here, oldest first. Or:"
        ),
    )
    return_number: str | None = strawberry.field(
        default=None,
        description=(
            "The RMA number on the label or parcel, e.g. RMA-100045-4-1 (cases opened before"
            " this form have numbers like R100000-9, read too)."
        ),
    )


@strawberry.enum(description="What becomes of repaired units.")
class RepairOutcome(Enum):
    RESTOCK = "RESTOCK"
    WRITE_OFF = "WRITE_OFF"


@strawberry.input(description="Finish repairing quarantined units.")
class CompleteRepairInput:
    return_id: strawberry.ID = strawberry.field(description="The case.")
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units repaired.")
    outcome: RepairOutcome = strawberry.field(
        description="RESTOCK (back to available stock) or WRITE_OFF."
    )


def _return_pk(id: str | None, field: list[str]) -> int:
    pk = pk_of(id or "", "Return")
    if pk is None:
        raise NotFound("no such return", field=field)
    return pk


async def _transition(
    info: InfoT, return_id: strawberry.ID, step: Any, *roles: Role
) -> ReturnPayload:
    principal = authorize(info, *roles)
    try:
        pk = _return_pk(return_id, ["returnId"])
        async with info.context.uow() as uow:
            await step(await driver_connection(uow.session), principal, pk, info.context.now())
    except DomainError as exc:
        return ReturnPayload(return_=None, user_errors=user_errors(exc))
    return ReturnPayload(return_=await load_return(info, pk), user_errors=[])


@strawberry.type
class ReturnsQuery:
    @strawberry.field(name="return", description="One return case, if the caller may see it.")
    async def return_case(self, info: InfoT, id: strawberry.ID) -> Return | None:
        authorize(info, Role.ADMIN, Role.CHANNEL, Role.CUSTOMER, Role.PARTNER)
        pk = pk_of(id, "Return")
        return await load_return(info, pk) if pk is not None else None


@strawberry.type
class ReturnsMutation:
    @strawberry.mutation(
        description=(
            "Open a return of delivered units. Within the channel's policy (window from delivery, returnable "
            "products) it is approved at once; a customer outside policy is refused; a merchant's case "
            "outside policy waits for approveReturn. Idempotent by key."
        )
    )
    async def request_return(
        self, info: InfoT, input: RequestReturnInput, idempotency_key: str
    ) -> ReturnPayload:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL, Role.CUSTOMER)
        try:
            order_pk = pk_of(input.order_id, "Order")
            if order_pk is None:
                raise NotFound("no such order", field=["input", "orderId"])
            lines = []
            for i, line in enumerate(input.lines):
                line_pk = pk_of(line.order_line_id, "OrderLine")
                if line_pk is None:
                    raise NotFound(
                        "no such line on this order",
                        field=["input", "lines", str(i), "orderLineId"],
                    )
                lines.append(
                    returns.ReturnLineRequest(
                        line_pk, line.quantity, line.reason_code.value, line.reason_note
                    )
                )
            async with info.context.uow() as uow:
                replay = await claim_idempotency(
                    info, uow.session, "requestReturn", idempotency_key, input_dict(input)
                )
                if replay is not None:
                    return_id = int(replay["returnId"])
                else:
                    return_id = await returns.request_return(
                        await driver_connection(uow.session),
                        principal,
                        order_id=order_pk,
                        lines=lines,
                        initiated_by=input.initiated_by.value if input.initiated_by else None,
                        now=info.context.now(),
                    )
                    await complete_idempotency(
                        info, uow.session, "requestReturn", idempotency_key, {"returnId": return_id}
                    )
        except DomainError as exc:
            return ReturnPayload(return_=None, user_errors=user_errors(exc))
        return ReturnPayload(return_=await load_return(info, return_id), user_errors=[])

    @strawberry.mutation(
        description="Approve a REQUESTED return; the receiving location is told what is coming."
    )
    async def approve_return(self, info: InfoT, return_id: strawberry.ID) -> ReturnPayload:
        return await _transition(info, return_id, returns.approve, Role.ADMIN, Role.CHANNEL)

    @strawberry.mutation(description="Reject a REQUESTED return, with the reason.")
    async def reject_return(
        self, info: InfoT, return_id: strawberry.ID, reason: str
    ) -> ReturnPayload:
        async def step(conn: Any, principal: Any, pk: int, now: dt.datetime) -> None:
            await returns.reject(conn, principal, pk, reason, now)

        return await _transition(info, return_id, step, Role.ADMIN, Role.CHANNEL)

    @strawberry.mutation(description="Cancel a return before anything is received.")
    async def cancel_return(self, info: InfoT, return_id: strawberry.ID) -> ReturnPayload:
        return await _transition(
            info, return_id, returns.cancel, Role.ADMIN, Role.CHANNEL, Role.CUSTOMER
        )

    @strawberry.mutation(
        description=(
            "Receive a parcel of returned units at a location, named by its case (returnId, or the "
            "returnNumber on its label) or by its order's number: per SKU the quantity, condition and "
            "disposition. By order number, the parcel may hold several open cases of that order: each "
            "SKU is matched against every open case expected at this location, oldest first (UNKNOWN_SKU "
            "only for a SKU on none of them). RESTOCK makes units available at once; REPAIR quarantines "
            "them. Idempotent by key."
        )
    )
    async def receive_return(
        self, info: InfoT, input: ReceiveReturnInput, idempotency_key: str
    ) -> ReceiveReturnPayload:
        principal = authorize(info, Role.ADMIN, Role.PARTNER)
        fingerprint = input_dict(input)
        if fingerprint.get("return_number") is None:  # as requests were fingerprinted before it
            fingerprint.pop("return_number", None)
        try:
            parcel = receiving.Parcel(
                location_code=input.location,
                lines=[
                    receiving.ReceiptLine(x.sku, x.quantity, x.condition.value, x.disposition.value)
                    for x in input.lines
                ],
                return_id=_return_pk(input.return_id, ["input", "returnId"])
                if input.return_id
                else None,
                return_number=input.return_number,
                order_number=input.order_number,
            )
            async with info.context.uow() as uow:
                replay = await claim_idempotency(
                    info, uow.session, "receiveReturn", idempotency_key, fingerprint
                )
                if replay is not None:
                    return_ids = [int(x) for x in replay.get("returnIds") or [replay["returnId"]]]
                else:
                    return_ids = await receiving.receive_parcel(
                        await driver_connection(uow.session), principal, parcel, info.context.now()
                    )
                    await complete_idempotency(
                        info,
                        uow.session,
                        "receiveReturn",
                        idempotency_key,
                        {"returnId": return_ids[0], "returnIds": return_ids},
                    )
        except DomainError as exc:
            return ReceiveReturnPayload(return_=None, returns=[], user_errors=user_errors(exc))
        cases = [await load_return(info, pk) for pk in return_ids]
        found = [c for c in cases if c is not None]
        return ReceiveReturnPayload(
            return_=found[0] if found else None, returns=found, user_errors=[]
        )

    @strawberry.mutation(
        description="Repaired units go back to stock (RESTOCK) or are written off (WRITE_OFF)."
    )
    async def complete_repair(self, info: InfoT, input: CompleteRepairInput) -> ReturnPayload:
        async def step(conn: Any, principal: Any, pk: int, now: dt.datetime) -> None:
            await returns.complete_repair(
                conn,
                principal,
                return_id=pk,
                sku=input.sku,
                quantity=input.quantity,
                outcome=input.outcome.value,
                now=now,
            )

        return await _transition(info, input.return_id, step, Role.ADMIN, Role.PARTNER)

    @strawberry.mutation(
        description=(
            "Refund the received, not yet refunded units of a return: their paid share (unit price less "
            "discount, split to the minor unit), plus shipping per the channel's policy or `includeShipping`. "
            "Idempotent by key; never refunds more than was paid."
        )
    )
    async def refund_return(
        self,
        info: InfoT,
        return_id: strawberry.ID,
        idempotency_key: str,
        include_shipping: bool | None = None,
    ) -> RefundPayload:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        try:
            pk = _return_pk(return_id, ["returnId"])
            async with info.context.uow() as uow:
                replay = await claim_idempotency(
                    info,
                    uow.session,
                    "refundReturn",
                    idempotency_key,
                    {"returnId": return_id, "includeShipping": include_shipping},
                )
                if replay is not None:
                    refund_id = int(replay["refundId"])
                    settle = False
                else:
                    plan = await refunding.create_refund(
                        await driver_connection(uow.session),
                        principal,
                        return_id=pk,
                        include_shipping=include_shipping,
                        now=info.context.now(),
                    )
                    refund_id = plan.refund_id
                    settle = True
                    await complete_idempotency(
                        info, uow.session, "refundReturn", idempotency_key, {"refundId": refund_id}
                    )
            if settle:
                # The provider is called after the refund is recorded (never inside a transaction).
                provider = info.context.services.extra["payments"]
                result = await provider.refund(
                    reference=f"refund:{refund_id}",
                    amount_minor=plan.amount,
                    currency=plan.currency,
                )
                if not result.pending:
                    async with info.context.uow() as uow:
                        await refunding.settle_refund(
                            await driver_connection(uow.session),
                            principal,
                            refund_id=refund_id,
                            succeeded=result.succeeded,
                            provider_reference=result.provider_reference,
                            error=result.error,
                            now=info.context.now(),
                        )
        except DomainError as exc:
            return RefundPayload(refund=None, user_errors=user_errors(exc))
        async with info.context.session() as session:
            row = await refund_by_id(session, refund_id)
        return RefundPayload(refund=Refund.of(row), user_errors=[])

    @strawberry.mutation(
        description="A payment provider's asynchronous answer about a refund (admin)."
    )
    async def refund_provider_callback(
        self,
        info: InfoT,
        refund_id: strawberry.ID,
        succeeded: bool,
        provider_reference: str | None = None,
        error: str | None = None,
    ) -> RefundPayload:
        principal = authorize(info, Role.ADMIN)
        try:
            pk = pk_of(refund_id, "Refund")
            if pk is None:
                raise NotFound("no such refund", field=["refundId"])
            async with info.context.uow() as uow:
                await refunding.settle_refund(
                    await driver_connection(uow.session),
                    principal,
                    refund_id=pk,
                    succeeded=succeeded,
                    provider_reference=provider_reference,
                    error=error,
                    now=info.context.now(),
                )
        except DomainError as exc:
            return RefundPayload(refund=None, user_errors=user_errors(exc))
        async with info.context.session() as session:
            row = await refund_by_id(session, pk)
        return RefundPayload(refund=Refund.of(row), user_errors=[])
