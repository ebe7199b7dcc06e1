"""An order's amounts: what is still ordered, with the amounts as placed kept as history.

A cancellation takes units off an order, so it takes their money off too: the order's
subtotal, discount, tax, shipping and total always describe the units still ordered,
and reports and payments read them as they are. The amounts as placed stay in the
`original_*` columns, written by the first change (NULL until then: unchanged).

Per line, the paid amount (unit price x quantity - discount) and the tax are spread
over its units by largest remainder (`share_of_first_units`), as refunds spread them;
cancelled units are the line's last ones, so the units kept (the only ones that can be
shipped, delivered, returned and refunded) carry exactly the current amounts, and the
refunds of all of them add up to what the order now says was paid. Shipping stays
charged while a unit is still ordered, and goes when every unit is cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.money import share_of_first_units


@dataclass(frozen=True, slots=True)
class LineAmounts:
    """A line as placed, with the units cancelled since."""

    quantity: int
    cancelled: int
    unit_price: int
    discount: int  # on the whole line, as placed
    tax: int  # included, on the whole line, as placed


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: int
    discount: int
    tax: int
    shipping: int
    total: int


def current_totals(lines: Sequence[LineAmounts], shipping_as_placed: int) -> Totals:
    """The amounts of the units still ordered (see the module's doc)."""
    subtotal = paid = tax = kept_units = 0
    for line in lines:
        kept = line.quantity - line.cancelled
        kept_units += kept
        subtotal += line.unit_price * kept
        paid += share_of_first_units(
            line.unit_price * line.quantity - line.discount, line.quantity, kept
        )
        tax += share_of_first_units(line.tax, line.quantity, kept)
    shipping = shipping_as_placed if kept_units > 0 else 0
    return Totals(
        subtotal=subtotal,
        discount=subtotal - paid,
        tax=tax,
        shipping=shipping,
        total=paid + shipping,
    )


async def refresh_totals(conn: Any, order_id: int) -> Totals:
    """Recompute the order's amounts from its lines, keeping the amounts as placed in
    `original_*` the first time they change. Under the order's row lock."""
    rows = await conn.fetch(
        "SELECT l.quantity, l.quantity_cancelled, l.unit_price_minor, l.discount_minor, l.tax_minor,"
        " coalesce(o.original_shipping_minor, o.shipping_minor) AS shipping"
        " FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.id = $1",
        order_id,
    )
    totals = current_totals(
        [
            LineAmounts(
                r["quantity"],
                r["quantity_cancelled"],
                r["unit_price_minor"],
                r["discount_minor"],
                r["tax_minor"],
            )
            for r in rows
        ],
        rows[0]["shipping"] if rows else 0,
    )
    await conn.execute(
        "UPDATE orders SET"
        " original_subtotal_minor = coalesce(original_subtotal_minor, subtotal_minor),"
        " original_discount_minor = coalesce(original_discount_minor, discount_minor),"
        " original_tax_minor = coalesce(original_tax_minor, tax_minor),"
        " original_shipping_minor = coalesce(original_shipping_minor, shipping_minor),"
        " original_total_minor = coalesce(original_total_minor, total_minor),"
        " subtotal_minor = $2, discount_minor = $3, tax_minor = $4, shipping_minor = $5, total_minor = $6"
        " WHERE id = $1",
        order_id,
        totals.subtotal,
        totals.discount,
        totals.tax,
        totals.shipping,
        totals.total,
    )
    return totals
