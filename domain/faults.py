"""What a database failure means for whoever hit it: one classification, shared by the
API's retries and answers and by the worker's jobs.

- `UNAVAILABLE`: the server cannot be reached or is going away (connection refused,
  lost or closed; shutting down, starting up; too many connections; a pool with no
  free connection in time). Trying again on a fresh connection, a little later, works
  once it is back (the unit of work discards a connection that failed so: see
  `discard_if_broken` in domain/db.py).
- `CONFLICT`: serialization failure or deadlock. The transaction can simply run again.
- `LOCK_TIMEOUT`: a lock was not granted within `lock_timeout`: another transaction
  holds what this one must change. Running again waits behind the same holder, so the
  API answers at once with a retryable error; a job tries again later.
- `TIMEOUT`: a statement ran past `statement_timeout`.

Anything else is not transient: a bug or a refusal, never retried.
"""

from __future__ import annotations

import enum
import errno
import random
from collections.abc import Iterator

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class LockWaitTimeout(Exception):
    """A statement gave up waiting for its locks at its own deadline (a client-side
    timeout, raised by the code that set it): the same as `lock_timeout`."""


class Fault(enum.Enum):
    UNAVAILABLE = "UNAVAILABLE"
    CONFLICT = "CONFLICT"
    LOCK_TIMEOUT = "LOCK_TIMEOUT"
    TIMEOUT = "TIMEOUT"


_BY_SQLSTATE = {
    "40001": Fault.CONFLICT,  # serialization_failure
    "40P01": Fault.CONFLICT,  # deadlock_detected
    "55P03": Fault.LOCK_TIMEOUT,  # lock_not_available (lock_timeout, NOWAIT)
    "57014": Fault.TIMEOUT,  # query_canceled (statement_timeout)
    "57P01": Fault.UNAVAILABLE,  # admin_shutdown: "terminating connection due to administrator command"
    "57P02": Fault.UNAVAILABLE,  # crash_shutdown
    "57P03": Fault.UNAVAILABLE,  # cannot_connect_now: starting up, shutting down
    "53300": Fault.UNAVAILABLE,  # too_many_connections
    "25P03": Fault.UNAVAILABLE,  # idle_in_transaction_session_timeout: the session is gone
}


_NETWORK_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: SQLAlchemy's `orig`, causes and contexts."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 16:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)


def fault_of(exc: BaseException) -> Fault | None:
    """The kind of transient database failure `exc` is, or None."""
    for e in _chain(exc):
        if isinstance(e, LockWaitTimeout):
            return Fault.LOCK_TIMEOUT
    for e in _chain(exc):
        sqlstate = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(sqlstate, str):
            if sqlstate in _BY_SQLSTATE:
                return _BY_SQLSTATE[sqlstate]
            if sqlstate.startswith("08"):  # connection_exception and its kind
                return Fault.UNAVAILABLE
    for e in _chain(exc):
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return Fault.UNAVAILABLE
        if isinstance(e, PoolTimeout):  # no pooled connection within pool_timeout
            return Fault.UNAVAILABLE
        if isinstance(e, asyncpg.exceptions.InterfaceError) and "closed" in str(e):
            return Fault.UNAVAILABLE
        # A connection left mid-operation by a lost server ("cannot switch to state ...;
        # another operation is in progress"): unusable, but a fresh one works.
        if isinstance(e, asyncpg.exceptions.InternalClientError) and "in progress" in str(e):
            return Fault.UNAVAILABLE
        # Refused, reset, unreachable; a connect or client-side command timeout.
        if isinstance(e, (ConnectionError, TimeoutError)) or (
            isinstance(e, OSError) and e.errno in _NETWORK_ERRNOS
        ):
            return Fault.UNAVAILABLE
    return None


def is_transient(exc: BaseException) -> bool:
    """A failure that may well not happen again: worth retrying, later or at once."""
    return fault_of(exc) is not None


def backoff_seconds(attempt: int, *, base: float = 0.25, cap: float = 10.0) -> float:
    """Delay before retry number `attempt` (1 for the first): exponential from `base`,
    at most `cap`, with jitter so that many waiting retries do not return at once."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.5, 1.0)  # jitter, not secrecy


def retry_in_request(exc: BaseException, attempt: int) -> float | None:
    """For a request that retries its transaction at once (the API's commands): seconds
    to wait before attempt `attempt + 1`, or None when `exc` must go to the caller.
    Conflicts run again at once; a lost connection after a short backoff (a restart
    drops every pooled connection; the next one may well work); a lock or statement
    timeout is answered at once: the wait was the whole timeout already, and another
    would wait behind the same holder."""
    fault = fault_of(exc)
    if fault is Fault.CONFLICT:
        return 0.0
    if fault is Fault.UNAVAILABLE:
        return backoff_seconds(attempt + 1, base=0.05, cap=0.5)
    return None
