"""Return (RMA) numbers: what a customer writes on a parcel and a warehouse types or
scans, never to be taken for an order number.

A case is numbered `RMA-<order number>-<n>`, n counting the order's cases from 1 (e.g.
`RMA-100045-4-2`, the second return of order 100045-4): the prefix says what it is, the
order's number (with its check digit) says whose, and a case is told from its order's
other cases. Cases opened before this format have numbers like `R100000-9` (a sequence
and a Luhn check digit), which read like order 100000-9; they keep their numbers, and
both forms are recognised.
"""

from __future__ import annotations

import re

from domain.order.numbers import is_valid

PREFIX = "RMA-"
_CURRENT = re.compile(r"RMA-(?P<order>\d+-\d)-(?P<n>[1-9]\d{0,3})")
_LEGACY = re.compile(r"R(?P<digits>\d+-\d)")


def format_return_number(order_number: str, position: int) -> str:
    """The number of an order's `position`-th return case (from 1)."""
    if position < 1:
        raise ValueError("a return's position among its order's returns starts at 1")
    return f"{PREFIX}{order_number}-{position}"


def parse_return_number(text: str) -> str | None:
    """The return number `text` spells (either form, any case, spaces around ignored),
    as stored; None if it is not one, or its check digit is wrong (a typo)."""
    candidate = text.strip().upper()
    current = _CURRENT.fullmatch(candidate)
    if current is not None:
        return candidate if is_valid(current["order"]) else None
    legacy = _LEGACY.fullmatch(candidate)
    if legacy is not None:
        return candidate if is_valid(legacy["digits"]) else None
    return None
