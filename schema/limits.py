"""Guards that run before any resolver: size, depth, alias, cost and role limits.

Everything measured here is linear in the document's size (schema/analysis.py), and a
document is refused for its size before it is parsed, so no request can hold the
process long before it is refused. Validation results are cached per (schema,
document), since parsing and validating cost more than many resolvers (see
STACK-NOTES).

Callers without a credential get a small allowance: a short document asking who they
are (`viewer`), introspection or `__typename`, within a small budget per client
address. Everything else needs a credential, and is refused before it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    get_named_type,
    get_nullable_type,
    parse,
    specified_rules,
    type_from_ast,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from domain.access.principal import Role
from domain.availability.service import MAX_BASKET_LINES
from domain.catalog.service import MAX_BATCH as MAX_PRODUCTS_PER_CALL
from domain.inventory.service import MAX_LINES as MAX_STOCK_LINES_PER_CALL
from domain.order.placement import MAX_LINES as MAX_ORDER_LINES
from schema.analysis import measure, operations, root_fields

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 5_000
MAX_COST = 25_000
# Field selections once every fragment is expanded: what execution and the remaining
# validation rules would walk. A real client's largest document has a few hundred.
MAX_EXPANDED_FIELDS = 5_000
# Checking that fields can be merged is quadratic in the fields sharing a response
# name in one selection set, and in the fragments spread there: 1,150 `viewer { role }`
# side by side took graphql-core 1.7 s. Real documents have a handful of each.
MAX_SAME_RESPONSE_NAME = 10
MAX_SPREADS_PER_SELECTION = 30
MAX_FRAGMENTS = 100
# Characters of a document, checked before the lexer reads it: whitespace, comments
# and one long string are not tokens, and lexing megabytes of them takes seconds.
MAX_DOCUMENT_CHARS = 50_000
# Twice the longest list any operation accepts, and how many values variables may
# hold in all: checked on the JSON before anything else reads it (api/graphql_request.py),
# so a list of 100,000 products costs a length check, not a minute of coercion. Lists
# under it meet the precise caps of LIST_CAPS below.
MAX_LIST_ITEMS = 2 * max(MAX_PRODUCTS_PER_CALL, MAX_STOCK_LINES_PER_CALL, MAX_ORDER_LINES)
MAX_VARIABLE_VALUES = 250_000
# What each list of input objects may hold, by the element's type: the domain's own
# caps, checked on the variables before GraphQL coerces them, so a list one item over
# its cap is refused for the price of a length check (coercing 10,000 products takes
# about a second). Lists of other input types get the last figure.
LIST_CAPS: dict[str, int] = {
    "ProductInput": MAX_PRODUCTS_PER_CALL,
    "LocationInput": MAX_PRODUCTS_PER_CALL,
    "StockLevelLineInput": MAX_STOCK_LINES_PER_CALL,
    "AdjustStockLineInput": MAX_STOCK_LINES_PER_CALL,
    "OrderLineInput": MAX_ORDER_LINES,
    "CancelLineInput": MAX_ORDER_LINES,
    "ReturnLineInput": MAX_ORDER_LINES,
    "ReceiveReturnLineInput": MAX_ORDER_LINES,
    "InboundSupplyLineInput": MAX_ORDER_LINES,
    "BasketItemInput": MAX_BASKET_LINES,
}
DEFAULT_LIST_CAP = 1_000
# Every request is charged at least this much of its credential's budget, so a flood
# of trivial requests (`{ __typename }`) is limited too.
MIN_CHARGE = 10

# Without a credential: GraphiQL's introspection query is ~2,100 characters and 200
# tokens.
ANONYMOUS_MAX_DOCUMENT_CHARS = 4_000
ANONYMOUS_MAX_TOKENS = 500
ANONYMOUS_ROOT_FIELDS = frozenset({"viewer", "__typename", "__schema", "__type"})

_BASE_RULES = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)
_PRODUCTION_RULES = (*_BASE_RULES, NoSchemaIntrospectionCustomRule)


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


class PublicError(Exception):
    """An error whose message may be shown to the client as it is."""


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


def code_request_errors(errors: list[GraphQLError]) -> None:
    """Gives the errors of a document that could not be run the code saying why.

    Validation errors have theirs from the start (_validate); a syntax error is made by
    strawberry's own parse, a missing operation by strawberry, and a variable value that
    does not fit its type by graphql-core's coercion, all after the guard.
    """
    for error in errors:
        if isinstance(error, GraphQLSyntaxError):
            _with_code(error, PARSE_FAILED)
        elif isinstance(error.original_error, CannotGetOperationTypeError):
            _with_code(error, VALIDATION_FAILED)
        elif not error.path and error.message.startswith("Variable '$"):
            _with_code(error, "BAD_USER_INPUT")


@lru_cache(maxsize=1024)
def _parse(query: str, max_tokens: int | None) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class CachedParser(SchemaExtension):
    """Parses through a cache (strawberry's ParserCache, minus its failure mode).

    ParserCache raises a syntax error from its hook, outside the guard strawberry keeps
    around parsing: over HTTP a later catch turned it into an answer, but over WebSocket
    the operation died with a bare `complete` and a logged traceback. Here a document
    that does not parse is left to strawberry's own parse, which fails again (cheaply,
    within the token limit) where strawberry answers it as a request error.
    """

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.query is not None and ec.graphql_document is None:
            # On a syntax error graphql_document stays unset, for strawberry to parse.
            with contextlib.suppress(GraphQLError):
                ec.graphql_document = _parse(ec.query, ec.parse_options.get("max_tokens"))
        yield


def _validate(
    schema: GraphQLSchema, document: DocumentNode, production: bool
) -> tuple[GraphQLError, ...]:
    rules = _PRODUCTION_RULES if production else _BASE_RULES
    errors = validate(schema, document, rules, hide_suggestions=production)
    return tuple(_with_code(error, VALIDATION_FAILED) for error in errors)


# Validation results by document text: clients send the same few documents again and
# again. A document not seen before is validated on a thread of its own, so that even
# the slowest document the limits above let through (~120 ms found by
# tests/api/test_hostile_documents.py) never holds the event loop: the loop keeps the
# interpreter at least every switch interval (5 ms) and serves others meanwhile.
_VALIDATED: OrderedDict[tuple[int, str, bool], tuple[GraphQLError, ...]] = OrderedDict()
_VALIDATED_MAX = 1024
_VALIDATOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-validate")


async def validate_document(
    schema: GraphQLSchema, query: str, document: DocumentNode, production: bool
) -> tuple[GraphQLError, ...]:
    key = (id(schema), query, production)
    found = _VALIDATED.get(key)
    if found is not None:
        _VALIDATED.move_to_end(key)
        return found
    loop = asyncio.get_running_loop()
    errors = await loop.run_in_executor(_VALIDATOR, _validate, schema, document, production)
    _VALIDATED[key] = errors
    if len(_VALIDATED) > _VALIDATED_MAX:
        _VALIDATED.popitem(last=False)
    return errors


def shape_errors(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
) -> tuple[list[GraphQLError], int]:
    """Depth, alias and size refusals of a document, and the cost of the operation
    that will run (the named one, else the first)."""
    document_shape = measure(document, None, variables)
    shapes = document_shape.operations
    errors: list[GraphQLError] = []
    for name, shape in shapes.items():
        if shape.depth > MAX_DEPTH:
            errors.append(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}",
                    extensions={"code": "QUERY_TOO_DEEP"},
                )
            )
    aliases = sum(shape.aliases for shape in shapes.values())
    if aliases > MAX_ALIASES:
        errors.append(
            GraphQLError(
                f"{aliases} aliases found. Allowed: {MAX_ALIASES}",
                extensions={"code": "TOO_MANY_ALIASES"},
            )
        )
    fields = sum(shape.fields for shape in shapes.values())
    if fields > MAX_EXPANDED_FIELDS:
        errors.append(
            GraphQLError(
                f"The document selects {fields} fields once its fragments are expanded; "
                f"the limit is {MAX_EXPANDED_FIELDS}",
                extensions={"code": "QUERY_TOO_COMPLEX"},
            )
        )
    for figure, value, limit in (
        (
            "fields sharing one response name in a selection",
            document_shape.same_name,
            MAX_SAME_RESPONSE_NAME,
        ),
        ("fragment spreads in one selection", document_shape.spreads, MAX_SPREADS_PER_SELECTION),
        ("fragment definitions", document_shape.fragments, MAX_FRAGMENTS),
    ):
        if value > limit:
            errors.append(
                GraphQLError(
                    f"The document has {value} {figure}; the limit is {limit}",
                    extensions={"code": "QUERY_TOO_COMPLEX"},
                )
            )
    if operation_name is not None:
        running = shapes.get(operation_name)
    else:
        running = next(iter(shapes.values()), None)
    return errors, max(1, running.cost) if running is not None else 0


def _can_hold_lists(named: GraphQLInputObjectType, seen: set[str] | None = None) -> bool:
    seen = seen if seen is not None else set()
    if named.name in seen:
        return False
    seen.add(named.name)
    for field in named.fields.values():
        inner = get_nullable_type(field.type)
        if isinstance(inner, GraphQLList):
            return True
        if isinstance(inner, GraphQLInputObjectType) and _can_hold_lists(inner, seen):
            return True
    return False


def list_cap_errors(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
) -> list[GraphQLError]:
    """Lists of input objects in the variables longer than their type allows.

    Walks only what can hold a list: the items of a list of products are never
    visited, the lines inside an order input are."""
    errors: list[GraphQLError] = []

    def check(value: Any, type_: GraphQLInputType, path: list[str | int]) -> None:
        type_ = get_nullable_type(type_)  # type: ignore[assignment]
        if isinstance(type_, GraphQLList) and isinstance(value, list):
            element = get_named_type(type_.of_type)
            if isinstance(element, GraphQLInputObjectType):
                cap = LIST_CAPS.get(element.name, DEFAULT_LIST_CAP)
                if len(value) > cap:
                    where = ".".join(str(p) for p in path)
                    errors.append(
                        GraphQLError(
                            f"${where} holds {len(value):,} items; at most {cap:,} are accepted",
                            extensions={"code": "TOO_MANY", "field": path},
                        )
                    )
                    return
                if _can_hold_lists(element):
                    for index, item in enumerate(value):
                        check(item, type_.of_type, [*path, index])
        elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
            for name, field in type_.fields.items():
                if name in value:
                    check(value[name], field.type, [*path, name])

    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        declared = type_from_ast(schema, definition.type)
        if variables and name in variables and declared is not None:
            check(variables[name], declared, [name])  # type: ignore[arg-type]
    return errors


def _anonymous_errors(document: DocumentNode) -> list[GraphQLError]:
    """Root fields a caller without a credential may not ask for, one error each."""
    errors = []
    for operation in operations(document, None):
        for field in root_fields(document, operation):
            if field.name.value not in ANONYMOUS_ROOT_FIELDS:
                key = field.alias.value if field.alias else field.name.value
                errors.append(
                    GraphQLError(
                        "A valid credential is required",
                        nodes=[field],
                        path=[key],
                        extensions={"code": "UNAUTHENTICATED"},
                    )
                )
    return errors


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

    async def on_validate(self) -> AsyncIterator[None]:
        ec = self.execution_context
        if self.refusal is not None:
            ec.pre_execution_errors = [self.refusal]
            yield
            return
        assert ec.graphql_document is not None
        document = ec.graphql_document
        errors, cost = shape_errors(document, ec.operation_name, ec.variables)
        if not errors and self._anonymous():
            errors = _anonymous_errors(document)
        if not errors and ec.variables:
            for operation in operations(document, ec.operation_name)[:1]:
                errors = list_cap_errors(ec.schema._schema, operation, ec.variables)
        if not errors:
            errors = list(
                await validate_document(
                    ec.schema._schema, ec.query or "", document, self.production
                )
            )
        if not errors:
            self.cost = cost
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

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": MAX_COST}}


class ProductionOperationGuard(OperationGuard):
    production = True
