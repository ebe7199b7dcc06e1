"""Order numbers people can read and say on the phone: six or more digits from a
sequence and a check digit (Luhn), e.g. 100045-4; a typo is caught before a search."""

from __future__ import annotations


def luhn_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def format_number(sequence_value: int, prefix: str = "") -> str:
    digits = str(sequence_value)
    return f"{prefix}{digits}-{luhn_digit(digits)}"


def is_valid(number: str, prefix: str = "") -> bool:
    if not number.startswith(prefix):
        return False
    digits, sep, check = number[len(prefix) :].partition("-")
    return (
        bool(sep)
        and digits.isdigit()
        and check.isdigit()
        and len(check) == 1
        and luhn_digit(digits) == int(check)
    )
