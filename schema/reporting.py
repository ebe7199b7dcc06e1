"""Reports for operations staff: the Orders report and the Returns report (ADMIN only).

Resolvers only check access and translate; the figures and their exact meaning are
in `domain/reporting/queries.py`, and the descriptions below repeat them for clients.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.access.principal import Role
from domain.reporting import queries as reports
from schema.base import InfoT, Money, authorize
from schema.returns.resolvers import ReturnReason

RANGE_NOTE = (
    " The range is half-open, [from, to): `from` included, `to` excluded;"
    " a time without offset is taken as UTC."
)


@strawberry.type(description="Orders placed in the range on one sales channel.")
class OrdersByChannel:
    channel: str = strawberry.field(description="The channel's code.")
    orders: int = strawberry.field(
        description="Orders placed in the range, fully cancelled ones included."
    )
    units: int = strawberry.field(
        description="Units ordered on those orders, net of cancelled units."
    )
    revenue: list[Money] = strawberry.field(
        description=(
            "Sum of the order totals, one amount per currency of the channel's orders (by"
            " currency code): what the units still ordered are worth, so cancelled units"
            " count in neither units nor revenue; fully cancelled orders excluded (a"
            " currency whose orders were all cancelled shows 0). Refunds of returned units"
            " are not taken off. Exact: summed in minor units."
        )
    )


@strawberry.type(
    description=(
        "Orders placed in a time range: per channel, and fulfilment figures over all"
        " channels. Everything is about the orders placed in the range (a placement"
        " cohort): their lines and all their shipments, whenever those shipped."
    )
)
class OrdersReport:
    by_channel: list[OrdersByChannel] = strawberry.field(
        description="One entry per channel with orders in the range, by channel code."
    )
    fill_rate: float = strawberry.field(
        description=(
            "Units allocated to a location when the order was placed, divided by units"
            " ordered, over all lines (0 to 1); 1.0 when there are no lines."
        )
    )
    split_rate: float = strawberry.field(
        description=(
            "Share of orders, among those not fully cancelled, with more than one shipment"
            " that is not cancelled (0 to 1); 0.0 when there are no such orders."
        )
    )
    average_hours_to_ship: float | None = strawberry.field(
        description=(
            "Mean time from placement to shipping, in hours, over the shipments of these"
            " orders that have shipped; null when none has."
        )
    )
    backordered_lines: int = strawberry.field(
        description="Order lines not allocated in full when the order was placed."
    )

    @classmethod
    def of(cls, report: reports.OrdersReport) -> OrdersReport:
        return cls(
            by_channel=[
                OrdersByChannel(
                    channel=c.channel,
                    orders=c.orders,
                    units=c.units,
                    revenue=[Money.of(r.minor, r.currency) for r in c.revenue],
                )
                for c in report.by_channel
            ],
            fill_rate=report.fill_rate,
            split_rate=report.split_rate,
            average_hours_to_ship=report.average_hours_to_ship,
            backordered_lines=report.backordered_lines,
        )


@strawberry.type(description="Sales and returns of one SKU in the range.")
class ReturnsBySku:
    sku: str = strawberry.field(description="The product's SKU.")
    units_sold: int = strawberry.field(
        description="Units ordered on orders placed in the range, net of cancelled units."
    )
    units_returned: int = strawberry.field(
        description=(
            "Units received back on returns requested in the range (not rejected or"
            " cancelled); units requested but not yet received do not count yet."
        )
    )
    return_rate: float = strawberry.field(
        description=(
            "unitsReturned / unitsSold; 0.0 when nothing was sold. Returns follow sales,"
            " so over a short range it can exceed 1."
        )
    )


@strawberry.type(description="Units requested for return for one reason in the range.")
class ReturnsByReason:
    reason_code: ReturnReason = strawberry.field(description="The reason code.")
    units: int = strawberry.field(
        description=(
            "Units requested for this reason on returns requested in the range (not"
            " rejected or cancelled), received yet or not."
        )
    )


@strawberry.type(description="Returns in a time range, per SKU and per reason.")
class ReturnsReport:
    by_sku: list[ReturnsBySku] = strawberry.field(
        description=(
            "SKUs with units sold or returned in the range, highest return rate first, then by SKU."
        )
    )
    by_reason: list[ReturnsByReason] = strawberry.field(
        description="Reason codes with units in the range, most units first, then by code."
    )

    @classmethod
    def of(cls, report: reports.ReturnsReport) -> ReturnsReport:
        return cls(
            by_sku=[
                ReturnsBySku(
                    sku=s.sku,
                    units_sold=s.units_sold,
                    units_returned=s.units_returned,
                    return_rate=s.return_rate,
                )
                for s in report.by_sku
            ],
            by_reason=[
                ReturnsByReason(reason_code=ReturnReason(r.reason_code), units=r.units)
                for r in report.by_reason
            ],
        )


def _range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    try:
        return reports.check_range(start, end)
    except reports.InvalidRange as exc:
        raise GraphQLError(exc.message, extensions={"code": "BAD_USER_INPUT"}) from None


FromArg = Annotated[
    dt.datetime, strawberry.argument(name="from", description="Start of the range (included).")
]
ToArg = Annotated[dt.datetime, strawberry.argument(description="End of the range (excluded).")]


@strawberry.type
class ReportingQuery:
    @strawberry.field(
        description=(
            "The Orders report: orders placed in the range, per channel (orders, units,"
            " revenue per currency) with fill rate, split rate, hours to ship and"
            " backordered lines. ADMIN only." + RANGE_NOTE
        )
    )
    async def orders_report(self, info: InfoT, from_: FromArg, to: ToArg) -> OrdersReport:
        authorize(info, Role.ADMIN)
        start, end = _range(from_, to)
        async with info.context.session() as session:
            report = await reports.orders_report(session, start, end)
        return OrdersReport.of(report)

    @strawberry.field(
        description=(
            "The Returns report: per SKU units sold (orders placed in the range), units"
            " returned (received on returns requested in the range) and return rate; per"
            " reason code units requested. Rejected and cancelled returns do not count."
            " ADMIN only." + RANGE_NOTE
        )
    )
    async def returns_report(self, info: InfoT, from_: FromArg, to: ToArg) -> ReturnsReport:
        authorize(info, Role.ADMIN)
        start, end = _range(from_, to)
        async with info.context.session() as session:
            report = await reports.returns_report(session, start, end)
        return ReturnsReport.of(report)
