"""The Orders and Returns reports, every figure computed by hand.

Orders, shipments and returns are written with SQL, so that their dates and states
are exactly what each figure needs (placing, shipping and returning through the API
would take the test clock through weeks); channels, products and locations come from
the clients' own admin operations. Everything that should count lies in November
2026, the range of variables.json; rows just outside it (31 October 23:59:59, 1
December 00:00) check both ends of the half-open range.

The world:

| order | channel | placed | lines (sku qty / allocated at placement / cancelled) | total | shipments |
|---|---|---|---|---|---|
| O1 | web-fr | 11-02 10:00 | TEE 2/2/0, MUG 1/1/0 | 66.70 EUR | shipped +24 h, delivered (shipped +50 h): split |
| O2 | web-fr | 11-05 08:00 | TEE 3/1/0 (backordered 2) | 74.70 EUR | ALLOCATED, PENDING: split |
| O3 | web-fr | 11-10 00:00 | MUG 4/4/1 | 48.00 EUR | in transit (shipped +5 h), CANCELLED |
| O4 | web-fr | 11-12 12:00 | TEE 1/1/1 (fully cancelled) | 24.90 EUR | CANCELLED |
| O5 | web-jp | 11-20 09:00 | CAP 2/2/0 | 5000 JPY | shipped +30 h |
| O6 | web-jp | 11-21 09:00 | CAP 1/1/0, BAG 1/1/0 | 2500 JPY | ALLOCATED |
| OCT | marketplace-fr | 10-31 23:59:59 | TEE 5/5/0, SCARF 1/1/0 | 99.00 EUR | two, shipped on 11-01 |
| DEC | web-fr | 12-01 00:00 | TEE 7/0/0 | 10.00 EUR | none |

Orders report: web-fr 4 orders, 3 + 3 + 3 + 0 = 9 units, 66.70 + 74.70 + 48.00 = 189.40
EUR (O4 cancelled); web-jp 2 orders, 2 + 2 = 4 units, 7500 JPY. Fill rate: allocated
2+1+1+4+1+2+1+1 = 13 of 2+1+3+4+1+2+1+1 = 15 units. Split: O1 and O2 of the 5 orders
not fully cancelled. Hours to ship: (24 + 50 + 5 + 30) / 4 = 27.25. Backordered lines:
O2's.

Returns (requested in November unless said):
| return | order | status | lines (sku qty requested / received, reason) |
|---|---|---|---|
| R1 | O1 | RECEIVED | TEE 2/2 WRONG_SIZE, MUG 1/1 DAMAGED |
| R2 | O3 | APPROVED | MUG 2/0 DEFECTIVE |
| R3 | O3 | REJECTED | MUG 1/0 NO_LONGER_NEEDED (does not count) |
| R4 | O5 | REFUNDED | CAP 1/1 WRONG_SIZE |
| R5 | OCT | RECEIVED | TEE 1/1 LATE_DELIVERY, SCARF 1/1 LATE_DELIVERY |
| R6 | O6 | CANCELLED | BAG 1/0 OTHER (does not count) |
| R7 | O5 | RECEIVED, requested 12-01 00:00 | CAP 1/1 OTHER (out of range) |

Returns report: TEE sold 2 + 3 + 0 = 5, returned 2 + 1 = 3, rate 0.6; CAP sold 3,
returned 1; MUG sold 1 + 3 = 4, returned 1 (R2 not received yet), 0.25; BAG sold 1,
returned 0; SCARF sold 0 (October), returned 1, rate 0. Reasons: WRONG_SIZE 2 + 1 = 3,
DEFECTIVE 2, LATE_DELIVERY 2, DAMAGED 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from tests.fixtures import World, variables
from tests.support import Api

UTC = dt.UTC


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Line:
    sku: str
    quantity: int
    allocated_at_placement: int
    cancelled: int = 0


async def _id(conn: Any, sql: str, **params: Any) -> int:
    return int(await conn.scalar(text(sql), params))


class Rows:
    """Inserts orders, shipments and returns consistent with the tables' constraints."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.count = 0
        self.customers: dict[int, int] = {}

    async def ids(self, table: str, key: str) -> dict[str, int]:
        rows = await self.conn.execute(text(f"SELECT {key}, id FROM {table}"))
        return {r[0]: r[1] for r in rows}

    async def customer(self, channel_id: int) -> int:
        if channel_id not in self.customers:
            self.customers[channel_id] = await _id(
                self.conn,
                "INSERT INTO customers (channel_id, email) VALUES (:c, :e) RETURNING id",
                c=channel_id,
                e=f"buyer{channel_id}@example.com",
            )
        return self.customers[channel_id]

    async def order(
        self,
        channel_id: int,
        placed_at: dt.datetime,
        status: str,
        total_minor: int,
        currency: str,
        lines: list[Line],
    ) -> tuple[int, list[int]]:
        self.count += 1
        order_id = await _id(
            self.conn,
            "INSERT INTO orders (number, channel_id, external_id, customer_id, currency, status,"
            " delivery_method, split_preference, subtotal_minor, total_minor, placed_at)"
            " VALUES (:n, :ch, :x, :cu, :cur, :st, 'SHIP', 'CONSOLIDATE', :t, :t, :p) RETURNING id",
            n=f"RPT-{self.count:04d}",
            ch=channel_id,
            x=f"EXT-{self.count}",
            cu=await self.customer(channel_id),
            cur=currency,
            st=status,
            t=total_minor,
            p=placed_at,
        )
        line_ids = []
        for n, line in enumerate(lines, start=1):
            remaining = line.quantity - line.cancelled
            allocated = min(line.allocated_at_placement, remaining)
            line_ids.append(
                await _id(
                    self.conn,
                    "INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor,"
                    " allocated_at_placement, quantity_cancelled, quantity_allocated,"
                    " quantity_backordered) VALUES (:o, :n, :sku, :q, 100, :ap, :c, :a, :b) RETURNING id",
                    o=order_id,
                    n=n,
                    sku=line.sku,
                    q=line.quantity,
                    ap=line.allocated_at_placement,
                    c=line.cancelled,
                    a=allocated,
                    b=remaining - allocated,
                )
            )
        return order_id, line_ids

    async def shipment(
        self, order_id: int, location_id: int, status: str, shipped_at: dt.datetime | None = None
    ) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO shipments (order_id, location_id, method, status, shipped_at)"
                " VALUES (:o, :l, 'SHIP', :s, :at)"
            ),
            {"o": order_id, "l": location_id, "s": status, "at": shipped_at},
        )

    async def return_(
        self,
        order_id: int,
        channel_id: int,
        location_id: int,
        status: str,
        requested_at: dt.datetime,
        lines: list[tuple[int, str, int, int, str]],  # order line, sku, quantity, received, reason
    ) -> None:
        self.count += 1
        return_id = await _id(
            self.conn,
            "INSERT INTO returns (number, order_id, channel_id, status, initiated_by,"
            " receiving_location_id, requested_by, requested_at)"
            " VALUES (:n, :o, :c, :s, 'CUSTOMER', :l, 'test', :at) RETURNING id",
            n=f"RMA-{self.count:04d}",
            o=order_id,
            c=channel_id,
            s=status,
            l=location_id,
            at=requested_at,
        )
        for order_line_id, sku, quantity, received, reason in lines:
            await self.conn.execute(
                text(
                    "INSERT INTO return_lines (return_id, order_line_id, sku, quantity, reason_code,"
                    " quantity_received, quantity_restocked) VALUES (:r, :ol, :sku, :q, :why, :rc, :rc)"
                ),
                {
                    "r": return_id,
                    "ol": order_line_id,
                    "sku": sku,
                    "q": quantity,
                    "why": reason,
                    "rc": received,
                },
            )


async def japanese_channel(api: Api, world: World) -> None:
    channel = variables("UpsertChannel")
    channel["input"].update(
        code="web-jp",
        name="Web shop Japan",
        currency="JPY",
        network=["WH-LYON"],
        publishTarget=None,
    )
    data = await api.op("UpsertChannel", channel, key=world.admin)
    assert data["upsertChannel"]["userErrors"] == []
    assert data["upsertChannel"]["channel"]["currency"] == "JPY"


@pytest.fixture
async def november(api: Api, world: World, engine: Any) -> World:
    """The world of the module's docstring."""
    await japanese_channel(api, world)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO products (sku, name) VALUES ('CAP-RED', 'Red cap'),"
                " ('BAG-TOTE', 'Tote bag'), ('SCARF-WOOL', 'Wool scarf')"
            )
        )
        rows = Rows(conn)
        ch = await rows.ids("channels", "code")
        loc = await rows.ids("locations", "code")
        web, jp, market = ch["web-fr"], ch["web-jp"], ch["marketplace-fr"]
        lyon, paris = loc["WH-LYON"], loc["ST-PARIS-11"]

        o1, (o1_tee, o1_mug) = await rows.order(
            web, at(2, 10), "SHIPPED", 6670, "EUR",
            [Line("TEE-BLUE-M", 2, 2), Line("MUG-STONE", 1, 1)],
        )  # fmt: skip
        await rows.shipment(o1, lyon, "SHIPPED", at(3, 10))  # 24 h
        await rows.shipment(o1, paris, "DELIVERED", at(4, 12))  # 50 h
        o2, _ = await rows.order(
            web, at(5, 8), "BACKORDERED", 7470, "EUR", [Line("TEE-BLUE-M", 3, 1)]
        )
        await rows.shipment(o2, lyon, "ALLOCATED")
        await rows.shipment(o2, paris, "PENDING")
        o3, (o3_mug,) = await rows.order(
            web, at(10), "SHIPPED", 4800, "EUR", [Line("MUG-STONE", 4, 4, cancelled=1)]
        )
        await rows.shipment(o3, lyon, "IN_TRANSIT", at(10, 5))  # 5 h
        await rows.shipment(o3, paris, "CANCELLED")
        o4, _ = await rows.order(
            web, at(12, 12), "CANCELLED", 2490, "EUR", [Line("TEE-BLUE-M", 1, 1, cancelled=1)]
        )
        await rows.shipment(o4, lyon, "CANCELLED")
        o5, (o5_cap,) = await rows.order(
            jp, at(20, 9), "SHIPPED", 5000, "JPY", [Line("CAP-RED", 2, 2)]
        )
        await rows.shipment(o5, lyon, "SHIPPED", at(21, 15))  # 30 h
        o6, (_, o6_bag) = await rows.order(
            jp, at(21, 9), "CONFIRMED", 2500, "JPY",
            [Line("CAP-RED", 1, 1), Line("BAG-TOTE", 1, 1)],
        )  # fmt: skip
        await rows.shipment(o6, lyon, "ALLOCATED")
        october, (oct_tee, oct_scarf) = await rows.order(
            market, at(31, 23, 59, 59, month=10), "DELIVERED", 9900, "EUR",
            [Line("TEE-BLUE-M", 5, 5), Line("SCARF-WOOL", 1, 1)],
        )  # fmt: skip
        await rows.shipment(october, lyon, "DELIVERED", at(1, 8))
        await rows.shipment(october, paris, "DELIVERED", at(1, 9))
        await rows.order(
            web, at(1, month=12), "BACKORDERED", 1000, "EUR", [Line("TEE-BLUE-M", 7, 0)]
        )

        await rows.return_(
            o1, web, lyon, "RECEIVED", at(6),
            [(o1_tee, "TEE-BLUE-M", 2, 2, "WRONG_SIZE"), (o1_mug, "MUG-STONE", 1, 1, "DAMAGED")],
        )  # fmt: skip
        await rows.return_(
            o3, web, lyon, "APPROVED", at(15), [(o3_mug, "MUG-STONE", 2, 0, "DEFECTIVE")]
        )
        await rows.return_(
            o3, web, lyon, "REJECTED", at(16), [(o3_mug, "MUG-STONE", 1, 0, "NO_LONGER_NEEDED")]
        )
        await rows.return_(
            o5, jp, lyon, "REFUNDED", at(25), [(o5_cap, "CAP-RED", 1, 1, "WRONG_SIZE")]
        )
        await rows.return_(
            october, market, lyon, "RECEIVED", at(3),
            [
                (oct_tee, "TEE-BLUE-M", 1, 1, "LATE_DELIVERY"),
                (oct_scarf, "SCARF-WOOL", 1, 1, "LATE_DELIVERY"),
            ],
        )  # fmt: skip
        await rows.return_(o6, jp, lyon, "CANCELLED", at(26), [(o6_bag, "BAG-TOTE", 1, 0, "OTHER")])
        await rows.return_(
            o5, jp, lyon, "RECEIVED", at(1, month=12), [(o5_cap, "CAP-RED", 1, 1, "OTHER")]
        )
    return world


ORDERS_REPORT = {
    "byChannel": [
        {
            "channel": "web-fr",
            "orders": 4,
            "units": 9,
            "revenue": [{"amount": "189.40", "currency": "EUR"}],
        },
        {
            "channel": "web-jp",
            "orders": 2,
            "units": 4,
            "revenue": [{"amount": "7500", "currency": "JPY"}],
        },
    ],
    "fillRate": 13 / 15,
    "splitRate": 2 / 5,
    "averageHoursToShip": 27.25,
    "backorderedLines": 1,
}

RETURNS_REPORT = {
    "bySku": [
        {"sku": "TEE-BLUE-M", "unitsSold": 5, "unitsReturned": 3, "returnRate": 0.6},
        {"sku": "CAP-RED", "unitsSold": 3, "unitsReturned": 1, "returnRate": 1 / 3},
        {"sku": "MUG-STONE", "unitsSold": 4, "unitsReturned": 1, "returnRate": 0.25},
        {"sku": "BAG-TOTE", "unitsSold": 1, "unitsReturned": 0, "returnRate": 0.0},
        {"sku": "SCARF-WOOL", "unitsSold": 0, "unitsReturned": 1, "returnRate": 0.0},
    ],
    "byReason": [
        {"reasonCode": "WRONG_SIZE", "units": 3},
        {"reasonCode": "DEFECTIVE", "units": 2},
        {"reasonCode": "LATE_DELIVERY", "units": 2},
        {"reasonCode": "DAMAGED", "units": 1},
    ],
}


async def test_orders_report_as_the_console_asks_for_it(api: Api, november: World) -> None:
    data = await api.op("OrdersReport", variables("OrdersReport"), key=november.admin)
    assert data == {"ordersReport": ORDERS_REPORT}


async def test_returns_report_as_the_console_asks_for_it(api: Api, november: World) -> None:
    data = await api.op("ReturnsReport", variables("ReturnsReport"), key=november.admin)
    assert data == {"returnsReport": RETURNS_REPORT}


async def test_the_range_is_half_open_and_cohorts_follow_their_own_dates(
    api: Api, november: World
) -> None:
    # October alone: the marketplace order placed at 23:59:59, whose shipments and
    # return fell in November.
    october = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
    orders = await api.op("OrdersReport", october, key=november.admin)
    hours = orders["ordersReport"].pop("averageHoursToShip")
    assert hours == pytest.approx((8 + 9) / 2 + 1 / 3600, abs=1e-12)  # placed at 23:59:59
    assert orders["ordersReport"] == {
        "byChannel": [
            {
                "channel": "marketplace-fr",
                "orders": 1,
                "units": 6,
                "revenue": [{"amount": "99.00", "currency": "EUR"}],
            }
        ],
        "fillRate": 1.0,
        "splitRate": 1.0,
        "backorderedLines": 0,
    }
    returns = await api.op("ReturnsReport", october, key=november.admin)
    assert returns["returnsReport"] == {
        "bySku": [
            {"sku": "SCARF-WOOL", "unitsSold": 1, "unitsReturned": 0, "returnRate": 0.0},
            {"sku": "TEE-BLUE-M", "unitsSold": 5, "unitsReturned": 0, "returnRate": 0.0},
        ],
        "byReason": [],
    }
    # From 1 December 00:00 (included): the order and the return of that instant.
    december = {"from": "2026-12-01T00:00:00+00:00", "to": "2026-12-01T00:00:01+00:00"}
    orders = await api.op("OrdersReport", december, key=november.admin)
    assert orders["ordersReport"] == {
        "byChannel": [
            {
                "channel": "web-fr",
                "orders": 1,
                "units": 7,
                "revenue": [{"amount": "10.00", "currency": "EUR"}],
            }
        ],
        "fillRate": 0.0,
        "splitRate": 0.0,
        "averageHoursToShip": None,
        "backorderedLines": 1,
    }
    returns = await api.op("ReturnsReport", december, key=november.admin)
    assert returns["returnsReport"] == {
        "bySku": [
            {"sku": "CAP-RED", "unitsSold": 0, "unitsReturned": 1, "returnRate": 0.0},
            {"sku": "TEE-BLUE-M", "unitsSold": 7, "unitsReturned": 0, "returnRate": 0.0},
        ],
        "byReason": [{"reasonCode": "OTHER", "units": 1}],
    }


async def test_a_channel_with_only_cancelled_orders_shows_zero_revenue(
    api: Api, world: World, engine: Any
) -> None:
    async with engine.begin() as conn:
        rows = Rows(conn)
        web = (await rows.ids("channels", "code"))["web-fr"]
        await rows.order(
            web, at(3), "CANCELLED", 2490, "EUR", [Line("TEE-BLUE-M", 1, 1, cancelled=1)]
        )
    data = await api.op("OrdersReport", variables("OrdersReport"), key=world.admin)
    assert data["ordersReport"] == {
        "byChannel": [
            {
                "channel": "web-fr",
                "orders": 1,
                "units": 0,
                "revenue": [{"amount": "0.00", "currency": "EUR"}],
            }
        ],
        "fillRate": 1.0,
        "splitRate": 0.0,
        "averageHoursToShip": None,
        "backorderedLines": 0,
    }


async def test_an_empty_range_gives_empty_reports(api: Api, world: World) -> None:
    orders = await api.op("OrdersReport", variables("OrdersReport"), key=world.admin)
    assert orders["ordersReport"] == {
        "byChannel": [],
        "fillRate": 1.0,
        "splitRate": 0.0,
        "averageHoursToShip": None,
        "backorderedLines": 0,
    }
    returns = await api.op("ReturnsReport", variables("ReturnsReport"), key=world.admin)
    assert returns["returnsReport"] == {"bySku": [], "byReason": []}


async def test_a_report_inside_a_unit_of_work_reads_in_its_transaction(
    november: World, sessionmaker: Any
) -> None:
    from domain.db import UnitOfWork
    from domain.reporting import queries as reports

    async with UnitOfWork(sessionmaker) as uow:
        orders = await reports.orders_report(uow.session, at(1), at(1, month=12))
        returns = await reports.returns_report(uow.session, at(1), at(1, month=12))
        # Still the caller's transaction, with the server's settings again.
        assert await uow.session.scalar(text("SHOW work_mem")) == "4MB"
        assert await uow.session.scalar(text("SHOW plan_cache_mode")) == "auto"
    assert [(c.channel, c.orders, c.units) for c in orders.by_channel] == [
        ("web-fr", 4, 9),
        ("web-jp", 2, 4),
    ]
    assert (orders.fill_rate, orders.split_rate) == (13 / 15, 2 / 5)
    assert [(s.sku, s.return_rate) for s in returns.by_sku][:2] == [
        ("TEE-BLUE-M", 0.6),
        ("CAP-RED", 1 / 3),
    ]


def error_codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


@pytest.mark.parametrize("name", ["OrdersReport", "ReturnsReport"])
async def test_a_reversed_range_is_a_bad_request(api: Api, world: World, name: str) -> None:
    from tests.support import operation

    reversed_range = {"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
    body = (await api.post(operation(name), reversed_range, key=world.admin)).json()
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "`to` must be later than `from`"


@pytest.mark.parametrize("name", ["OrdersReport", "ReturnsReport"])
async def test_reports_are_for_admins_only(api: Api, november: World, name: str) -> None:
    from tests.support import operation

    customer = await november.customer_token(api)
    for key, code in [
        (november.channel, "FORBIDDEN"),
        (november.partner, "FORBIDDEN"),
        (customer, "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ]:
        body = (await api.post(operation(name), variables(name), key=key)).json()
        assert body.get("data") is None, body
        assert error_codes(body) == [code]


def _oms(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


NOVEMBER = ("--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01")


async def test_cli_prints_the_orders_report_as_a_table_and_as_csv(
    pg_server: str, november: World
) -> None:
    out = _oms(pg_server, "report", "orders", *NOVEMBER)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "Orders report, [2026-11-01T00:00:00+00:00, 2026-12-01T00:00:00+00:00)\n"
        "\n"
        "By channel\n"
        "channel  orders  units  revenue\n"
        "-------  ------  -----  ----------\n"
        "web-fr        4      9  189.40 EUR\n"
        "web-jp        2      4  7500 JPY\n"
        "\n"
        "Fulfilment, all channels\n"
        "figure                  value\n"
        "---------------------  ------\n"
        "fill rate              0.8667\n"
        "split rate             0.4000\n"
        "average hours to ship   27.25\n"
        "backordered lines           1\n"
    )
    out = _oms(pg_server, "report", "orders", *NOVEMBER, "--csv")
    assert out.returncode == 0, out.stderr
    channels, summary = out.stdout.split("\n\n")
    assert list(csv.reader(io.StringIO(channels))) == [
        ["channel", "orders", "units", "revenue"],
        ["web-fr", "4", "9", "189.40 EUR"],
        ["web-jp", "2", "4", "7500 JPY"],
    ]
    assert list(csv.reader(io.StringIO(summary))) == [
        ["figure", "value"],
        ["fill rate", "0.866667"],
        ["split rate", "0.400000"],
        ["average hours to ship", "27.25"],
        ["backordered lines", "1"],
    ]


async def test_cli_prints_the_returns_report_as_a_table_and_as_csv(
    pg_server: str, november: World
) -> None:
    out = _oms(pg_server, "report", "returns", *NOVEMBER)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "Returns report, [2026-11-01T00:00:00+00:00, 2026-12-01T00:00:00+00:00)\n"
        "\n"
        "By SKU\n"
        "sku         units_sold  units_returned  return_rate\n"
        "----------  ----------  --------------  -----------\n"
        "TEE-BLUE-M           5               3       0.6000\n"
        "CAP-RED              3               1       0.3333\n"
        "MUG-STONE            4               1       0.2500\n"
        "BAG-TOTE             1               0       0.0000\n"
        "SCARF-WOOL           0               1       0.0000\n"
        "\n"
        "By reason\n"
        "reason_code    units\n"
        "-------------  -----\n"
        "WRONG_SIZE         3\n"
        "DEFECTIVE          2\n"
        "LATE_DELIVERY      2\n"
        "DAMAGED            1\n"
    )
    out = _oms(pg_server, "report", "returns", *NOVEMBER, "--csv")
    assert out.returncode == 0, out.stderr
    skus, reasons = out.stdout.split("\n\n")
    assert list(csv.reader(io.StringIO(skus))) == [
        ["sku", "units_sold", "units_returned", "return_rate"],
        ["TEE-BLUE-M", "5", "3", "0.600000"],
        ["CAP-RED", "3", "1", "0.333333"],
        ["MUG-STONE", "4", "1", "0.250000"],
        ["BAG-TOTE", "1", "0", "0.000000"],
        ["SCARF-WOOL", "0", "1", "0.000000"],
    ]
    assert list(csv.reader(io.StringIO(reasons))) == [
        ["reason_code", "units"],
        ["WRONG_SIZE", "3"],
        ["DEFECTIVE", "2"],
        ["LATE_DELIVERY", "2"],
        ["DAMAGED", "1"],
    ]


def test_cli_refuses_a_bad_date_and_a_missing_database(pg_server: str) -> None:
    bad = _oms(pg_server, "report", "orders", "--from", "yesterday", "--to", "2026-12-01")
    assert bad.returncode == 2
    assert "'yesterday' is not an ISO 8601 date-time" in bad.stderr
    reversed_range = _oms(
        pg_server, "report", "returns", "--from", "2026-12-01", "--to", "2026-11-01"
    )
    assert reversed_range.returncode == 1
    assert "INVALID_RANGE: `to` must be later than `from`" in reversed_range.stderr
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    missing = subprocess.run(
        [sys.executable, "-m", "api", "report", "orders", *NOVEMBER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert "DATABASE_URL is not set" in missing.stderr
