"""Guards that run before any resolver: validation with depth, alias and cost limits.

Validation results are cached per (schema, document), since parsing and validating
cost more than many resolvers (see STACK-NOTES). The depth and alias rules are built
once at import, not per request, so the cache can hit (strawberry#4635).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from schema.input_guard import BadTextRule, bad_text_in_variables, type_variable_errors

log = logging.getLogger("oms.graphql")

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 5_000
MAX_COST = 25_000

_DEPTH_RULE = depth_validator(MAX_DEPTH, None, None)
_ALIAS_RULE = max_aliases_validator(MAX_ALIASES)
_BASE_RULES = (
    *specified_rules,
    _DEPTH_RULE,
    _ALIAS_RULE,
    MaybeNullValidationRule,
    OneOfInputValidationRule,
    BadTextRule,
)
_PRODUCTION_RULES = (*_BASE_RULES, NoSchemaIntrospectionCustomRule)


class PublicError(Exception):
    """An error whose message may be shown to the client as it is."""


@lru_cache(maxsize=1024)
def _validate(
    schema: GraphQLSchema, document: DocumentNode, production: bool
) -> tuple[GraphQLError, ...]:
    rules = _PRODUCTION_RULES if production else _BASE_RULES
    return tuple(validate(schema, document, rules, hide_suggestions=production))


def query_cost(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int:
    """Objects a query may return: each object field counts 1, times the page sizes above it.

    A field with a `first` argument multiplies what is below it by that size (capped
    as the connection caps it); scalar leaves are free. Good enough to price a query
    before running it and to feed a per-key budget.
    """
    variables = variables or {}
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return 0

    def first_of(field: FieldNode) -> int | None:
        for arg in field.arguments or ():
            if arg.name.value != "first":
                continue
            if isinstance(arg.value, IntValueNode):
                return max(0, min(int(arg.value.value), MAX_PAGE_SIZE))
            if isinstance(arg.value, VariableNode):
                value = variables.get(arg.value.name.value)
                return (
                    max(0, min(int(value), MAX_PAGE_SIZE))
                    if isinstance(value, int)
                    else DEFAULT_PAGE_SIZE
                )
        return None

    def cost(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                if sel.selection_set is None:
                    continue
                size = first_of(sel)
                total += 1 + (size if size is not None else 1) * cost(sel.selection_set, seen)
            elif isinstance(sel, InlineFragmentNode):
                total += cost(sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in fragments and name not in seen:
                    total += cost(fragments[name].selection_set, seen | {name})
        return total

    return max(1, cost(operations[0].selection_set, frozenset()))


class OperationGuard(SchemaExtension):
    """Validates (cached), refuses text PostgreSQL cannot store in the variables, prices
    the query, charges the caller's budget, reports the cost."""

    production = False

    def __init__(self) -> None:
        self.cost: int | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        ec = self.execution_context
        assert ec.graphql_document is not None
        errors = list(_validate(ec.schema._schema, ec.graphql_document, self.production))
        if not errors:
            errors = bad_text_in_variables(ec.variables, ec.graphql_document, ec.operation_name)
        if not errors:
            self.cost = query_cost(ec.graphql_document, ec.operation_name, ec.variables)
            if self.cost > MAX_COST:
                errors.append(
                    GraphQLError(
                        f"Query cost {self.cost} exceeds the limit of {MAX_COST}; ask for smaller pages",
                        extensions={"code": "QUERY_TOO_COMPLEX"},
                    )
                )
            else:
                context = ec.context
                charge = getattr(getattr(context, "services", None), "charge_cost", None)
                principal = getattr(context, "principal", None)
                if (
                    charge is not None
                    and principal is not None
                    and not await charge(principal.actor, self.cost)
                ):
                    errors.append(
                        GraphQLError(
                            "Rate limit exceeded for this credential; retry in a minute",
                            extensions={"code": "RATE_LIMITED"},
                        )
                    )
        ec.pre_execution_errors = errors
        yield

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
        """Errors coercing the variables (graphql-core's, the scalars'): BAD_USER_INPUT."""
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


class MaskUnexpectedErrors(MaskErrors):
    """Hides faults behind a generic message and the request id, which is in the log."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._unexpected, error_message="Internal error")

    @staticmethod
    def _unexpected(error: GraphQLError) -> bool:
        original = error.original_error
        return original is not None and not isinstance(original, (PublicError, GraphQLError))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        log.error(
            "unexpected error in %s",
            ".".join(str(p) for p in error.path or []),
            exc_info=error.original_error,
            extra={"request_id": request_id},
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL", "requestId": request_id}
        return masked
