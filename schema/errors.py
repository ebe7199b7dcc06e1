"""What a client is told when something other than a business rule stops a request.

Business refusals are `userErrors` (domain errors, caught by each resolver). Faults
are masked: the client gets a generic message and the request id, which is in the log
with the traceback. Except for the transient failures of the database (domain/faults.py),
which are not the client's fault nor a bug, and which the client should simply retry:
they get a typed, retryable error and a `retryAfter` in seconds (the HTTP view turns
them into 503 with Retry-After):

- `SERVICE_UNAVAILABLE`: the database cannot be reached (restarting, unreachable, no
  free connection in time);
- `LOCK_TIMEOUT`: what the operation must change is held by another operation for
  longer than the lock timeout (OMS_DB_LOCK_TIMEOUT_MS);
- `TIMEOUT`: a statement ran longer than the statement timeout;
- `CONFLICT`: the transaction lost a race (deadlock, serialization) and was not retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from graphql import GraphQLError
from opentelemetry import trace
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError

from domain.faults import Fault, fault_of
from schema.limits import PublicError

log = logging.getLogger("oms.graphql")


@dataclass(frozen=True, slots=True)
class Retryable:
    """A transient failure as the client sees it."""

    code: str
    message: str
    retry_after: int

    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "retryable": True, "retryAfter": self.retry_after}


_ANSWERS = {
    Fault.UNAVAILABLE: Retryable(
        "SERVICE_UNAVAILABLE", "The service cannot reach its database just now; retry shortly", 2
    ),
    Fault.LOCK_TIMEOUT: Retryable(
        "LOCK_TIMEOUT",
        "What this operation must change is held by another operation; retry shortly",
        1,
    ),
    Fault.TIMEOUT: Retryable("TIMEOUT", "The operation took too long; retry later", 5),
    Fault.CONFLICT: Retryable(
        "CONFLICT", "The operation collided with a concurrent one; retry it", 1
    ),
}
# The codes above: the HTTP view answers 503 with Retry-After when one is in an answer.
RETRYABLE_CODES = frozenset(a.code for a in _ANSWERS.values())


def retryable(exc: BaseException) -> Retryable | None:
    """The client's view of a transient database failure, or None for anything else."""
    fault = fault_of(exc)
    return None if fault is None else _ANSWERS[fault]


class MaskUnexpectedErrors(MaskErrors):
    """Hides faults behind a generic message and the request id, which is in the log;
    transient database failures are told as such (retryable, with a delay)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._unexpected, error_message="Internal error")

    @staticmethod
    def _unexpected(error: GraphQLError) -> bool:
        original = error.original_error
        return original is not None and not isinstance(
            # an operation name the document does not have (over WebSocket; HTTP says 400)
            original,
            (PublicError, GraphQLError, CannotGetOperationTypeError),
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        where = ".".join(str(p) for p in error.path or [])
        assert error.original_error is not None
        answer = retryable(error.original_error)
        if answer is not None:
            # Expected during an outage, and many at once: one line each, no traceback.
            log.warning(
                "%s in %s: %s",
                answer.code,
                where,
                error.original_error,
                extra={"request_id": request_id},
            )
            return GraphQLError(
                answer.message,
                nodes=error.nodes,
                path=error.path,
                extensions={**answer.extensions(), "requestId": request_id},
            )
        log.error(
            "unexpected error in %s",
            where,
            exc_info=error.original_error,
            extra={"request_id": request_id},
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL", "requestId": request_id}
        traced = _trace_id()
        if traced is not None:  # with tracing on: the trace of the failed request
            masked.extensions["traceId"] = traced
        return masked


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
