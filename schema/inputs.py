"""Building input types straight from their GraphQL values.

Strawberry's generic conversion walks an input type's definition for every value it
builds (field names, annotations, optional and list wrappers): a 10,000-line stock
count spent about a third of its CPU there (bench/stock_sync.py). graphql-core has
already coerced the value (defaults filled in, scalars parsed, enums resolved), so for
inputs made of scalars, enums and other such inputs the dataclass can be built field
by field. `direct_input` installs that builder as the type definition's `from_input`,
the hook strawberry provides for inputs that build their own value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from strawberry.relay.types import GlobalID
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.lazy_type import LazyType
from strawberry.utils.str_converters import to_camel_case

T = TypeVar("T")

LEAF, INPUT, LEAF_LIST, INPUT_LIST = range(4)


def _kind(type_: Any, owner: str, field: str) -> tuple[int, Any]:
    if isinstance(type_, StrawberryMaybe | LazyType) or type_ is GlobalID:
        raise TypeError(f"{owner}.{field}: not supported by direct_input")
    if isinstance(type_, StrawberryOptional):
        return _kind(type_.of_type, owner, field)
    if isinstance(type_, StrawberryList):
        inner, item = _kind(type_.of_type, owner, field)
        if inner in (LEAF_LIST, INPUT_LIST):
            raise TypeError(f"{owner}.{field}: lists of lists are not supported")
        return (INPUT_LIST, item) if inner == INPUT else (LEAF_LIST, None)
    if has_object_definition(type_):
        if type_.__strawberry_definition__.from_input is None:
            raise TypeError(f"{owner}.{field}: make {type_.__name__} a direct_input first")
        return INPUT, type_
    return LEAF, None  # scalars and enums: graphql-core's value is what strawberry uses


def direct_input(cls: type[T]) -> type[T]:
    """Class decorator (under @strawberry.input): build this input field by field."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    plan: list[tuple[str, str, int, Any, bool]] = []
    for field in definition.fields:
        kind, nested = _kind(
            field.resolve_type(type_definition=definition), cls.__name__, field.python_name
        )
        # A field without default that the client left out is None (nullable fields).
        no_default = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        name = field.graphql_name or to_camel_case(field.python_name)
        plan.append((name, field.python_name, kind, nested, no_default))

    def build(target: type, value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs: dict[str, Any] = {}
        for name, python_name, kind, nested, no_default in plan:
            if name not in value:
                if no_default:
                    kwargs[python_name] = None
                continue
            given = value[name]
            if given is not None and kind != LEAF:
                if kind == INPUT:
                    given = _from_input(nested)(nested, given, context)
                elif kind == INPUT_LIST:
                    make = _from_input(nested)
                    given = [None if x is None else make(nested, x, context) for x in given]
                else:  # a copy: graphql-core shares default values between requests
                    given = list(given)
            kwargs[python_name] = given
        return target(**kwargs)

    definition.from_input = build
    return cls


def _from_input(type_: Any) -> Callable[[type, Mapping[str, Any], InputContext], Any]:
    return type_.__strawberry_definition__.from_input
