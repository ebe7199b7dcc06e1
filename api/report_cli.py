"""`oms report orders|returns --from ISO --to ISO [--csv]`: the reports on the terminal.

The figures are those of the `ordersReport` and `returnsReport` GraphQL queries (same
domain code, see `domain/reporting/queries.py` for their meaning), printed as aligned
tables, or with `--csv` as CSV on stdout: one table per section, each with its header
row, sections separated by an empty line. Needs DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from api.settings import Settings
from domain.money import Money

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def iso_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date-time (e.g. 2026-11-01T00:00:00Z)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _rate(value: float, csv_mode: bool) -> str:
    return f"{value:.6f}" if csv_mode else f"{value:.4f}"


def _revenue(revenue: Sequence[Any]) -> str:
    return "; ".join(f"{Money(r.minor, r.currency)} {r.currency}" for r in revenue)


def orders_tables(report: Any, csv_mode: bool = False) -> list[Table]:
    channels = [
        [c.channel, str(c.orders), str(c.units), _revenue(c.revenue)] for c in report.by_channel
    ]
    hours = report.average_hours_to_ship
    summary = [
        ["fill rate", _rate(report.fill_rate, csv_mode)],
        ["split rate", _rate(report.split_rate, csv_mode)],
        ["average hours to ship", ("" if csv_mode else "-") if hours is None else f"{hours:.2f}"],
        ["backordered lines", str(report.backordered_lines)],
    ]
    return [
        ("By channel", ["channel", "orders", "units", "revenue"], channels),
        ("Fulfilment, all channels", ["figure", "value"], summary),
    ]


def returns_tables(report: Any, csv_mode: bool = False) -> list[Table]:
    skus = [
        [s.sku, str(s.units_sold), str(s.units_returned), _rate(s.return_rate, csv_mode)]
        for s in report.by_sku
    ]
    reasons = [[r.reason_code, str(r.units)] for r in report.by_reason]
    return [
        ("By SKU", ["sku", "units_sold", "units_returned", "return_rate"], skus),
        ("By reason", ["reason_code", "units"], reasons),
    ]


def _numeric(cell: str) -> bool:
    return cell == "-" or cell.replace(".", "", 1).isdigit()


def _line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
    return "  ".join(parts).rstrip()


def print_tables(tables: Sequence[Table], out: TextIO) -> None:
    """Aligned columns: text to the left, numbers to the right."""
    for i, (title, header, rows) in enumerate(tables):
        if i:
            print(file=out)
        print(title, file=out)
        widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=False)]
        right = [bool(rows) and all(_numeric(r[j]) for r in rows) for j in range(len(header))]
        print(_line(header, widths, right), file=out)
        print("  ".join("-" * w for w in widths), file=out)
        for row in rows:
            print(_line(row, widths, right), file=out)
        if not rows:
            print("(none)", file=out)


def print_csv(tables: Sequence[Table], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    for i, (_, header, rows) in enumerate(tables):
        if i:
            out.write("\n")
        writer.writerow(header)
        writer.writerows(rows)


def cmd_report(args: argparse.Namespace, settings: Settings) -> None:
    from domain.db import BATCH_WAITS, create_engine, create_read_sessionmaker
    from domain.errors import DomainError
    from domain.reporting import queries as reports

    if not settings.database_url:
        sys.exit("DATABASE_URL is not set")
    database_url = settings.database_url

    async def run() -> Any:
        engine = create_engine(database_url, pool_size=1, max_overflow=0, waits=BATCH_WAITS)
        try:
            async with create_read_sessionmaker(engine)() as session:
                if args.report == "orders":
                    return await reports.orders_report(session, args.start, args.end)
                return await reports.returns_report(session, args.start, args.end)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except DomainError as exc:
        sys.exit(f"{exc.code}: {exc.message}")
    build = orders_tables if args.report == "orders" else returns_tables
    tables = build(report, csv_mode=args.csv)
    if args.csv:
        print_csv(tables, sys.stdout)
        return
    title = "Orders report" if args.report == "orders" else "Returns report"
    print(f"{title}, [{args.start.isoformat()}, {args.end.isoformat()})\n")
    print_tables(tables, sys.stdout)


def register_report(sub: Any) -> None:
    """Add `report` to the `oms` subcommands."""
    p = sub.add_parser(
        "report",
        help="print the orders or returns report of a time range",
        description=(
            "Orders report: orders placed in [from, to), per channel, with fill rate, split"
            " rate, hours to ship and backordered lines. Returns report: per SKU units sold"
            " and returned and the return rate, per reason code units requested."
        ),
    )
    p.add_argument("report", choices=["orders", "returns"])
    p.add_argument(
        "--from", dest="start", required=True, type=iso_datetime, help="start, included (ISO)"
    )
    p.add_argument("--to", dest="end", required=True, type=iso_datetime, help="end, excluded (ISO)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout instead of tables")
    p.set_defaults(fn=cmd_report)
