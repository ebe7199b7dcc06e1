"""What the transport's access log wants to know of a GraphQL operation.

The API (api/access_log.py) opens an `Observed` for each HTTP request and each
WebSocket operation, in a context variable; what runs the operation fills it in: the
operation guard its name, type and cost, `UserError` the codes of the business
refusals, the guard the codes of top-level errors. A context variable, because the
strawberry context is per connection on WebSocket, where operations run concurrently,
each in its own task (and so with its own copy of the variable).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field


@dataclass(slots=True)
class Observed:
    operation_name: str | None = None
    operation_type: str | None = None  # query, mutation, subscription
    cost: int | None = None
    root_fields: tuple[str, ...] = ()  # the operation's top-level fields (schema names)
    user_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[Observed | None] = contextvars.ContextVar(
    "oms_observed", default=None
)


def begin() -> tuple[Observed, contextvars.Token[Observed | None]]:
    """Start observing an operation in this context; `end` with the token."""
    observed = Observed()
    return observed, _current.set(observed)


def end(token: contextvars.Token[Observed | None]) -> None:
    _current.reset(token)


def current() -> Observed | None:
    return _current.get()


def user_error(code: str) -> None:
    observed = _current.get()
    if observed is not None and len(observed.user_errors) < 20:
        observed.user_errors.append(code)


def errors(codes: list[str]) -> None:
    observed = _current.get()
    if observed is not None:
        for code in codes[: 20 - len(observed.errors)]:
            observed.errors.append(code)
