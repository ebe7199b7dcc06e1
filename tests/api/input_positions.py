"""Every place a request can carry a value, found in the schema, and a minimal request
that carries a chosen value in one of them.

Tests of input refusals iterate over `positions(...)`, so an argument or input field
added tomorrow is covered without anyone listing it. A request is built from the types
alone: required arguments and input fields get a minimal value of their type (enums
their first value, Int 1, Boolean false, String "x", lists one element), optionally
replaced by `hints` (a value by argument or field name, optional fields included, for
tests that need requests to get past "not found" into the business rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FloatValueNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    IntValueNode,
    ListValueNode,
    NameNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    get_named_type,
    is_leaf_type,
    is_required_argument,
    is_required_input_field,
    print_ast,
)

from schema.root import build_schema
from tests.support import Api

SCHEMA = build_schema()._schema

# Scalars whose values travel as JSON strings, and numbers.
TEXT_SCALARS = frozenset({"String", "ID", "DateTime", "Decimal", "JSON"})
NUMBER_SCALARS = frozenset({"Int", "Float", "Decimal"})

# A valid value of each scalar: what a required argument gets when it is not the one
# under test. (A scalar added to the schema must be added here: minimal() says so.)
SCALAR_VALUES: dict[str, Any] = {
    "String": "x",
    "ID": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Decimal": "1.00",
    "DateTime": "2026-11-23T09:00:00+00:00",
    "JSON": {},
}

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """One leaf of one argument of one root field: `path` leads from the argument to
    the leaf through input fields (names) and list items (0)."""

    operation: str  # query, mutation or subscription
    field: str
    argument: str
    path: Path
    scalar: str

    def __str__(self) -> str:
        inside = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"{self.field}({self.argument}:){inside}"

    @property
    def field_path(self) -> list[str | int]:
        """The path as errors name it: the argument (or variable) name, then the path
        (list indices as integers)."""
        return [self.argument, *self.path]

    @property
    def coordinate(self) -> str:
        """The argument's schema coordinate, e.g. Mutation.placeOrder(input:)."""
        return f"{_root(self.operation).name}.{self.field}({self.argument}:)"

    @property
    def definition(self) -> GraphQLField:
        return _root(self.operation).fields[self.field]


def _root(operation: str) -> GraphQLObjectType:
    root = {
        "query": SCHEMA.query_type,
        "mutation": SCHEMA.mutation_type,
        "subscription": SCHEMA.subscription_type,
    }[operation]
    assert root is not None
    return root


def positions(scalars: frozenset[str], operations: tuple[str, ...]) -> list[Position]:
    found = []
    for operation in operations:
        for name, field in _root(operation).fields.items():
            for arg_name, arg in field.args.items():
                for path, scalar in _leaves(arg.type, (), frozenset()):
                    if scalar in scalars:
                        found.append(Position(operation, name, arg_name, path, scalar))
    return found


def _leaves(type_: Any, path: Path, seen: frozenset[str]) -> Iterator[tuple[Path, str]]:
    if isinstance(type_, GraphQLNonNull):
        yield from _leaves(type_.of_type, path, seen)
    elif isinstance(type_, GraphQLList):
        yield from _leaves(type_.of_type, (*path, 0), seen)
    elif isinstance(type_, GraphQLInputObjectType):
        if type_.name in seen:  # a recursive input type: its fields are listed once
            return
        for name, field in type_.fields.items():
            yield from _leaves(field.type, (*path, name), seen | {type_.name})
    else:
        yield path, type_.name


# ---------- values ----------


def minimal(type_: GraphQLInputType, name: str, hints: Mapping[str, Any]) -> Any:
    """A valid-shaped value of `type_` for the argument or input field `name`."""
    if isinstance(type_, GraphQLNonNull):
        return minimal(type_.of_type, name, hints)
    if name in hints:
        hint = hints[name]
        return [hint] if isinstance(type_, GraphQLList) and not isinstance(hint, list) else hint
    if isinstance(type_, GraphQLList):
        return [minimal(type_.of_type, name, hints)]
    if isinstance(type_, GraphQLInputObjectType):
        if type_.is_one_of:
            first, field = next(iter(type_.fields.items()))
            return {first: minimal(field.type, first, hints)}
        return {  # required fields, and optional ones there is a hint for
            n: minimal(f.type, n, hints)
            for n, f in type_.fields.items()
            if is_required_input_field(f) or n in hints
        }
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    assert type_.name in SCALAR_VALUES, f"add a value of scalar {type_.name} to SCALAR_VALUES"
    return SCALAR_VALUES[type_.name]


def placed(type_: Any, path: Path, value: Any, name: str, hints: Mapping[str, Any]) -> Any:
    """A minimal value of `type_` with `value` at `path` (and what leads there)."""
    if isinstance(type_, GraphQLNonNull):
        return placed(type_.of_type, path, value, name, hints)
    if not path:
        return value
    if isinstance(type_, GraphQLList):
        return [placed(type_.of_type, path[1:], value, name, hints)]
    assert isinstance(type_, GraphQLInputObjectType), (type_, path)
    key = path[0]
    assert isinstance(key, str)
    base = {} if type_.is_one_of else minimal(type_, name, hints)
    base[key] = placed(type_.fields[key].type, path[1:], value, key, hints)
    return base


def literal(value: Any, type_: Any) -> ValueNode:
    """`value` written in the document instead of passed as a variable."""
    if isinstance(type_, GraphQLNonNull):
        return literal(value, type_.of_type)
    if value is None:
        return NullValueNode()
    if isinstance(type_, GraphQLList):
        items = value if isinstance(value, list) else [value]
        return ListValueNode(values=tuple(literal(v, type_.of_type) for v in items))
    if isinstance(type_, GraphQLInputObjectType):
        return ObjectValueNode(
            fields=tuple(
                ObjectFieldNode(name=NameNode(value=k), value=literal(v, type_.fields[k].type))
                for k, v in value.items()
            )
        )
    if isinstance(type_, GraphQLEnumType):
        return EnumValueNode(value=value)
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    if isinstance(value, dict):  # JSON scalar
        return ObjectValueNode(
            fields=tuple(
                ObjectFieldNode(name=NameNode(value=k), value=literal(v, None))
                for k, v in value.items()
            )
        )
    return StringValueNode(value=str(value))


# ---------- requests ----------


def _selection(field: GraphQLField) -> str:
    """What to ask of the answer: its leaves and userErrors, so that what the resolver
    returns is serialized too (a fault there is as much a fault)."""
    named = get_named_type(field.type)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return ""
    parts = ["__typename"]
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        for name, sub in named.fields.items():
            required = any(is_required_argument(a) for a in sub.args.values())
            if required:
                continue
            if is_leaf_type(get_named_type(sub.type)):
                parts.append(name)
            elif name == "userErrors":
                parts.append("userErrors { code field message }")
    return " { " + " ".join(parts) + " }"


def request(
    position: Position,
    value: Any,
    hints: Mapping[str, Any] | None = None,
    *,
    as_literal: bool = False,
) -> tuple[str, dict[str, Any]]:
    """(document, variables) calling the position's field with `value` at the position,
    every required argument given, the argument under test as a variable (named as
    the argument) or written in the document."""
    hints = hints or {}
    field = position.definition
    definitions, arguments, variables = [], [], {}
    for name, arg in field.args.items():
        if name != position.argument and not is_required_argument(arg):
            continue
        if name == position.argument:
            given = placed(arg.type, position.path, value, name, hints)
        else:
            given = minimal(arg.type, name, hints)
        if as_literal and name == position.argument:
            arguments.append(f"{name}: {print_ast(literal(given, arg.type))}")
        else:
            definitions.append(f"${name}: {arg.type}")
            arguments.append(f"{name}: ${name}")
            variables[name] = given
    head = position.operation + (f"({', '.join(definitions)})" if definitions else "")
    call = position.field + (f"({', '.join(arguments)})" if arguments else "")
    return f"{head} {{ {call}{_selection(field)} }}", variables


async def post_raw(
    api: Api, document: str, variables: dict[str, Any], key: str | None, **extra: Any
) -> httpx.Response:
    """POST with the body encoded by `json.dumps`: NUL and lone surrogates travel as
    JSON escapes (`\\u0000`, `\\ud800`), as any client's JSON encoder may send them."""
    body = json.dumps({"query": document, "variables": variables, **extra})
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/graphql-response+json, application/json",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return await api.http.post("/graphql", content=body.encode(), headers=headers)


def error_codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
