"""Business refusals.

Every refusal the API can give is a `DomainError` with a stable `code` (part of the
API contract: clients switch on it), an optional `field` path into the input, and a
message for people. They are raised in `domain/`, caught once in `schema/` and
returned as `userErrors`; they never become GraphQL `errors`.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    code = "INVALID"

    def __init__(
        self, message: str, *, field: Sequence[str | int] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # Names as strings, list indices as integers (as GraphQL error paths are).
        self.field: list[str | int] | None = (
            [
                part if isinstance(part, int) and not isinstance(part, bool) else str(part)
                for part in field
            ]
            if field is not None
            else None
        )
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    """One or more input problems, all reported at once; nothing was written."""

    code = "INVALID"

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


class NotFound(DomainError):
    code = "NOT_FOUND"


class InvalidState(DomainError):
    code = "INVALID_STATE"


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"


class Collector:
    """Collects every validation problem of an input before anything is written."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, code: str, message: str, field: Sequence[str | int]) -> None:
        self.errors.append(DomainError(message, field=field, code=code))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)
