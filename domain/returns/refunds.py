"""What a refund pays back: exact, in minor units, and additive.

A line's paid amount (unit price x quantity - discount) is spread over its units by
largest remainder (equal weights: the first `r` units carry one extra minor unit), so
the refund of any units is the paid share of those units, and however a line's units
are refunded, in one refund or many, the refunds add up to exactly what was paid.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.money import share_of_first_units


def paid_share(line_total: int, quantity: int, units: int) -> int:
    """What the first `units` units of a line paid, of `line_total` over `quantity`.
    Cancelled units are a line's last ones (domain/order/totals.py), so the units
    refunded, always among those kept, are refunded from the order's current total."""
    return share_of_first_units(line_total, quantity, units)


def refund_units(line_total: int, quantity: int, already_refunded: int, units: int) -> int:
    return paid_share(line_total, quantity, already_refunded + units) - paid_share(
        line_total, quantity, already_refunded
    )


@dataclass(frozen=True, slots=True)
class RefundLine:
    order_line_id: int
    units: int
    amount: int
    tax: int


def refund_line(
    *,
    order_line_id: int,
    unit_price: int,
    quantity: int,
    discount: int,
    tax: int,
    already: int,
    units: int,
) -> RefundLine:
    total = unit_price * quantity - discount
    return RefundLine(
        order_line_id=order_line_id,
        units=units,
        amount=refund_units(total, quantity, already, units),
        tax=refund_units(tax, quantity, already, units),
    )
