"""The guard every operation passes before any resolver runs (HTTP and WebSocket):
size before parsing, then shape, role allowance, list caps, validation (cached, off the
event loop), cost and the caller's budget. Faults are masked for the client.

Callers without a credential get a small allowance: a short document asking who they
are (`viewer`), introspection or `__typename`, within a small budget per client
address. Everything else needs a credential, and is refused before it runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import ExecutionResult, FieldNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

from domain.access.principal import Role
from schema import observed
from schema.analysis import operations
from schema.document_checks import anonymous_errors, list_cap_errors, shape_errors
from schema.input_guard import bad_text_in_variables, type_variable_errors
from schema.limits import (
    ANONYMOUS_MAX_DOCUMENT_CHARS,
    ANONYMOUS_MAX_TOKENS,
    MAX_COST,
    MAX_DOCUMENT_CHARS,
    MAX_TOKENS,
    MIN_CHARGE,
)
from schema.parsing import validate_document

log = logging.getLogger("oms.graphql")


def client_address(context: Any) -> str:
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


_STAND_IN = parse("{ __typename }")


class OperationGuard(SchemaExtension):
    """Refuses what is too big, deep, wide, costly or not allowed without a credential;
    validates (cached); charges the caller's budget; reports the cost."""

    production = False

    def __init__(self) -> None:
        self.cost: int | None = None
        self.refusal: GraphQLError | None = None

    def _anonymous(self) -> bool:
        # No context at all is the schema run directly (tests, tools), not a request.
        principal = getattr(self.execution_context.context, "principal", None)
        return principal is not None and principal.role is Role.ANONYMOUS

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        anonymous = self._anonymous()
        limit = ANONYMOUS_MAX_DOCUMENT_CHARS if anonymous else MAX_DOCUMENT_CHARS
        if ec.query is not None and len(ec.query) > limit:
            # Refused without reading it: a stand-in document is "parsed" instead, and
            # validation answers the refusal (raising here would escape strawberry's
            # handling over WebSocket, leaving the client a bare `complete`).
            self.refusal = GraphQLError(
                f"The document has {len(ec.query):,} characters; the limit is {limit:,}"
                + (" without a credential" if anonymous else ""),
                extensions={"code": "QUERY_TOO_LARGE"},
            )
            ec.graphql_document = _STAND_IN
        ec.parse_options["max_tokens"] = ANONYMOUS_MAX_TOKENS if anonymous else MAX_TOKENS
        yield
        seen = observed.current()
        if seen is not None:
            result = ec.result
            found = ec.pre_execution_errors or (result.errors if result is not None else None)
            if found:
                observed.errors([str((e.extensions or {}).get("code") or "ERROR") for e in found])

    async def on_validate(self) -> AsyncIterator[None]:
        ec = self.execution_context
        if self.refusal is not None:
            ec.pre_execution_errors = [self.refusal]
            yield
            return
        assert ec.graphql_document is not None
        document = ec.graphql_document
        query = ec.query or ""
        seen = observed.current()
        if seen is not None:
            for op in operations(document, ec.operation_name)[:1]:
                seen.operation_type = op.operation.value
                seen.operation_name = op.name.value if op.name else None
        found, cost = shape_errors(document, query, ec.operation_name, ec.variables)
        errors = list(found)
        if not errors and self._anonymous():
            errors = anonymous_errors(document)
        if not errors and ec.variables:
            for operation in operations(document, ec.operation_name)[:1]:
                errors = list_cap_errors(ec.schema._schema, query, operation, ec.variables)
        if not errors:
            errors = list(
                await validate_document(ec.schema._schema, query, document, self.production)
            )
        if not errors:
            # Text PostgreSQL cannot store (NUL, lone surrogates), in any variable.
            errors = bad_text_in_variables(ec.variables, document, ec.operation_name)
        if not errors:
            self.cost = cost
            if seen is not None:
                seen.cost = cost
                # Valid, so these are the schema's names: a bounded set of labels.
                for op in operations(document, ec.operation_name)[:1]:
                    seen.root_fields = tuple(
                        s.name.value
                        for s in op.selection_set.selections
                        if isinstance(s, FieldNode)
                    )[:20]
            if cost > MAX_COST:
                errors.append(
                    GraphQLError(
                        f"Query cost {cost} exceeds the limit of {MAX_COST}; ask for smaller pages",
                        extensions={"code": "QUERY_TOO_COMPLEX"},
                    )
                )
            else:
                refusal = await self._charge(max(cost, MIN_CHARGE))
                if refusal is not None:
                    errors.append(refusal)
        ec.pre_execution_errors = errors
        yield

    async def _charge(self, cost: int) -> GraphQLError | None:
        context = self.execution_context.context
        services = getattr(context, "services", None)
        budget = getattr(services, "cost_budget", None)
        principal = getattr(context, "principal", None)
        if budget is None or principal is None:
            return None
        if principal.role is Role.ANONYMOUS:
            actor, anonymous = f"anonymous:{client_address(context)}", True
        else:
            actor, anonymous = principal.actor, False
        if await budget.charge(actor, cost, anonymous=anonymous):
            return None
        retry_after = budget.retry_after()
        return GraphQLError(
            f"Rate limit exceeded for this {'client address' if anonymous else 'credential'}; "
            f"retry in {retry_after} s",
            extensions={"code": "RATE_LIMITED", "retryAfter": retry_after},
        )

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, ExecutionResult) and result.data is None and result.errors:
            self._type_variable_errors(result.errors)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        if getattr(result, "data", None) is None and getattr(result, "errors", None):
            self._type_variable_errors(result.errors)
        yield

    def _type_variable_errors(self, errors: list[GraphQLError]) -> None:
        """Errors coercing the variables (graphql-core's, the scalars'): BAD_USER_INPUT,
        with the variable and the path into it."""
        ec = self.execution_context
        type_variable_errors(
            errors, ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables
        )

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": MAX_COST}}


class ProductionOperationGuard(OperationGuard):
    production = True
