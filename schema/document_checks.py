"""Checks of a parsed document and its variables that need no database: shape
(depth, aliases, expanded size), list lengths against their caps, and the root fields
a caller without a credential may ask for. Each is linear in the document's size
(schema/analysis.py), and what does not depend on the variables is cached per document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    get_nullable_type,
    type_from_ast,
)

from schema.analysis import measure, operations, page_value, root_fields
from schema.caching import Recent
from schema.limits import (
    ANONYMOUS_ROOT_FIELDS,
    DEFAULT_LIST_CAP,
    LIST_CAPS,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED_FIELDS,
    MAX_FRAGMENTS,
    MAX_SAME_RESPONSE_NAME,
    MAX_SPREADS_PER_SELECTION,
)

# Figures by (document, operation, values of the variables they depend on), and which
# variables each document's figures depend on: a document measured once is not
# measured again for the same page sizes (35-110 us per request for the clients' own).
_SHAPES: Recent[tuple[tuple[GraphQLError, ...], int]] = Recent(1024)
_DEPENDS_ON: Recent[tuple[str, ...]] = Recent(1024)


def shape_errors(
    document: DocumentNode,
    query: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> tuple[tuple[GraphQLError, ...], int]:
    """Depth, alias and size refusals of a document, and the cost of the operation
    that will run (the named one, else the first)."""
    values = variables or {}
    names = _DEPENDS_ON.get(query)
    if names is not None:
        key = (query, operation_name, tuple(page_value(values.get(n)) for n in names))
        found = _SHAPES.get(key)
        if found is not None:
            return found
    errors, cost, names = _measured_errors(document, operation_name, variables)
    _DEPENDS_ON.put(query, names)
    key = (query, operation_name, tuple(page_value(values.get(n)) for n in names))
    return _SHAPES.put(key, (tuple(errors), cost))


def _measured_errors(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
) -> tuple[list[GraphQLError], int, tuple[str, ...]]:
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
    cost = max(1, running.cost) if running is not None else 0
    return errors, cost, document_shape.variables


@cache
def _can_hold_lists(named: GraphQLInputObjectType) -> bool:
    """Whether a value of this input type can contain a list (through its fields)."""
    return bool(_list_fields(named))


@cache
def _list_fields(named: GraphQLInputObjectType) -> tuple[tuple[str, GraphQLInputType], ...]:
    """The fields of an input type through which a list can be reached (a recursive
    input type reaches itself: visited once)."""
    found = []
    visiting: set[str] = set()

    def reaches_list(type_: GraphQLInputType) -> bool:
        inner = get_nullable_type(type_)
        if isinstance(inner, GraphQLList):
            return True
        if isinstance(inner, GraphQLInputObjectType) and inner.name not in visiting:
            visiting.add(inner.name)
            return any(reaches_list(f.type) for f in inner.fields.values())
        return False

    visiting.add(named.name)
    for name, field in named.fields.items():
        if reaches_list(field.type):
            found.append((name, field.type))
    return tuple(found)


# Per (schema, document, operation): the variables whose values can hold lists of
# input objects, with their types (most operations have none, and reading types from
# the document costs more than the check).
_LIST_VARIABLES: Recent[tuple[tuple[str, GraphQLInputType], ...]] = Recent(1024)


def _list_variables(
    schema: GraphQLSchema, query: str, operation: OperationDefinitionNode
) -> tuple[tuple[str, GraphQLInputType], ...]:
    key = (id(schema), query, operation.name.value if operation.name else None)
    found = _LIST_VARIABLES.get(key)
    if found is not None:
        return found
    plan = []
    for definition in operation.variable_definitions or ():
        declared = type_from_ast(schema, definition.type)
        if declared is not None and _can_hold_object_lists(declared):  # type: ignore[arg-type]
            plan.append((definition.variable.name.value, declared))
    return _LIST_VARIABLES.put(key, tuple(plan))  # type: ignore[arg-type]


def _can_hold_object_lists(type_: GraphQLInputType) -> bool:
    inner = get_nullable_type(type_)
    if isinstance(inner, GraphQLList):
        element = get_named_type(inner.of_type)
        return isinstance(element, GraphQLInputObjectType)
    return isinstance(inner, GraphQLInputObjectType) and _can_hold_lists(inner)


def list_cap_errors(
    schema: GraphQLSchema,
    query: str,
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
            for name, field_type in _list_fields(type_):
                if name in value:
                    check(value[name], field_type, [*path, name])

    if variables:
        for name, declared in _list_variables(schema, query, operation):
            if name in variables:
                check(variables[name], declared, [name])
    return errors


def anonymous_errors(document: DocumentNode) -> list[GraphQLError]:
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
