"""Input refused before any resolver runs, as request errors with code BAD_USER_INPUT.

Text PostgreSQL cannot store: the NUL character (U+0000), which `text` and `jsonb`
refuse, and lone surrogates (U+D800 to U+DFFF), which JSON can carry as `\\ud800` but
UTF-8 cannot encode. Checked once for every string the request carries, whatever its
type (String, ID, DateTime, Decimal, JSON, input field names), so no field or argument
needs its own check:

- variables: `bad_text_in_variables`, from the operation guard (schema/limits.py);
  one pass in C over all of them (orjson refuses surrogates and writes NUL as
  `\\u0000`), and a walk for the paths only when that pass finds something;
- literals in the document (arguments, variable defaults): `BadTextRule`, a
  validation rule, so its result is cached with the document's validation.

And the errors graphql-core raises while coercing variables (a String given for an
Int, a Decimal out of range...) get the same code, the variable and the path
(`type_variable_errors`): clients switch on codes, not on messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
)
from graphql.pyutils import print_path_list
from graphql.utilities import type_from_ast, validate_input_value

BAD_USER_INPUT = "BAD_USER_INPUT"
MAX_REPORTED = 20  # bad strings reported per request; one is enough to fix the client

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_NUL_IN_JSON = b"\\u0000"

Path = list[str | int]


def text_problem(text: str) -> str | None:
    """Why this text cannot be stored, or None."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text must not contain the NUL character (U+0000)"
    return "text must not contain unpaired surrogates (U+D800 to U+DFFF)"


def printable(text: str) -> str:
    """Text safe to echo in an answer (a lone surrogate cannot even be encoded)."""
    return _BAD_TEXT.sub("\N{REPLACEMENT CHARACTER}", text)


def bad_input(
    message: str, field: Sequence[str | int], nodes: Any = None, **where: str
) -> GraphQLError:
    return GraphQLError(
        message,
        nodes,
        extensions={
            "code": BAD_USER_INPUT,
            **where,
            # Names as strings, list indices as integers, as in userErrors and GraphQL
            # error paths.
            "field": [part if isinstance(part, int) else printable(str(part)) for part in field],
        },
    )


# ---------- variables ----------


def bad_operation_name(name: object) -> GraphQLError | None:
    """An operation name PostgreSQL could not store nor the answer echo (a lone
    surrogate cannot be encoded): refused like any other bad text in a request."""
    problem = text_problem(name) if isinstance(name, str) else None
    if problem is None:
        return None
    return bad_input(f"operationName has invalid value: {problem}.", ["operationName"])


def _bad_strings(value: Any) -> Iterator[tuple[Path, str]]:
    """(path, problem) of every bad string under `value`, object keys included, in
    document order. Iterative, since variables may nest as deep as JSON allows; a path
    is a chain of (parent, key) links, made into a list only for a bad string."""
    stack: list[tuple[Any, Any]] = [(value, None)]
    while stack:
        value, link = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                yield _path(link), problem
            continue
        if isinstance(value, _BadKey):
            yield _path(link), f"field name: {text_problem(value.key)}"
            continue
        if isinstance(value, dict):  # variables are parsed JSON: dicts, lists, scalars
            items: Any = value.items()
        elif isinstance(value, list | tuple):
            items = enumerate(value)
        else:
            continue
        children: list[tuple[Any, Any]] = []
        for key, item in items:
            if isinstance(key, str) and _BAD_TEXT.search(key):
                children.append((_BadKey(key), (link, key)))
            if isinstance(item, str):
                if _BAD_TEXT.search(item):
                    children.append((item, (link, key)))
            elif isinstance(item, dict | list | tuple):
                children.append((item, (link, key)))
        stack.extend(reversed(children))


class _BadKey(NamedTuple):
    key: str


def _path(link: Any) -> Path:
    path: Path = []
    while link is not None:
        link, key = link
        path.append(key)
    path.reverse()
    return path


def _might_hold_bad_text(variables: Mapping[str, Any]) -> bool:
    try:
        encoded = orjson.dumps(variables)
    except (orjson.JSONEncodeError, TypeError):
        return True  # a surrogate (or a value JSON has no word for): look closer
    return _NUL_IN_JSON in encoded


def variable_definitions(
    document: DocumentNode, operation_name: str | None
) -> dict[str, VariableDefinitionNode]:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            return {d.variable.name.value: d for d in definition.variable_definitions or ()}
    return {}


def bad_text_in_variables(
    variables: Mapping[str, Any] | None,
    document: DocumentNode,
    operation_name: str | None,
) -> list[GraphQLError]:
    """A request error per bad string in the variables (at most MAX_REPORTED)."""
    if not variables or not _might_hold_bad_text(variables):
        return []
    definitions = variable_definitions(document, operation_name)
    errors: list[GraphQLError] = []
    for path, problem in _bad_strings(variables):
        name = str(path[0])
        errors.append(
            bad_input(
                f"Variable '${printable(name)}' has invalid value"
                f"{printable(print_path_list(path[1:]))}: {problem}.",
                path,
                definitions.get(name),
                variable=printable(name),
            )
        )
        if len(errors) == MAX_REPORTED:
            break
    return errors


# ---------- literals ----------


def _bad_literals(node: ValueNode, path: Path) -> Iterator[tuple[StringValueNode, Path, str]]:
    if isinstance(node, StringValueNode):
        problem = text_problem(node.value)
        if problem is not None:
            yield node, path, problem
    elif isinstance(node, ListValueNode):
        for i, item in enumerate(node.values):
            yield from _bad_literals(item, [*path, i])
    elif isinstance(node, ObjectValueNode):
        for field in node.fields:
            yield from _bad_literals(field.value, [*path, field.name.value])


class BadTextRule(ValidationRule):
    """String literals PostgreSQL cannot store, in arguments and variable defaults.

    (A GraphQL document cannot hold a lone surrogate, escaped or not: the lexer
    refuses it. NUL it allows, raw or as `\\u0000`.)"""

    def enter_argument(
        self, node: ArgumentNode, _key: Any, _parent: Any, _path: Any, ancestors: Any
    ) -> None:
        name = node.name.value
        bad = list(_bad_literals(node.value, [name]))
        if not bad:
            return
        owner = ancestors[-1] if ancestors else None
        if isinstance(owner, DirectiveNode):
            coordinate = f"@{owner.name.value}({name}:)"
        else:  # the schema coordinate of the argument, e.g. Mutation.placeOrder(input:)
            parent = self.context.get_parent_type()
            field = owner.name.value if isinstance(owner, FieldNode) else "?"
            coordinate = f"{parent.name if parent else '?'}.{field}({name}:)"
        for string, path, problem in bad:
            self.report_error(
                bad_input(
                    f"Argument '{coordinate}' has invalid value"
                    f"{print_path_list(path[1:])}: {problem}.",
                    path,
                    string,
                    argument=coordinate,
                )
            )

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        if node.default_value is None:
            return
        name = node.variable.name.value
        for string, path, problem in _bad_literals(node.default_value, [name]):
            self.report_error(
                bad_input(
                    f"Variable '${name}' has invalid default value"
                    f"{print_path_list(path[1:])}: {problem}.",
                    path,
                    string,
                    variable=name,
                )
            )


# ---------- graphql-core's own variable errors ----------


def type_variable_errors(
    errors: Sequence[GraphQLError],
    schema: GraphQLSchema,
    document: DocumentNode | None,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> None:
    """Give graphql-core's errors about a variable's value BAD_USER_INPUT, the variable
    and the path to the bad part, as the errors of this module have (in place)."""
    for error in errors:
        node = error.nodes[0] if error.nodes else None
        # (graphql-core copies the scalar's extensions onto its own error; ours have
        # "variable" already)
        if not isinstance(node, VariableDefinitionNode) or "variable" in (error.extensions or {}):
            continue
        name = node.variable.name.value
        original = error.original_error
        extensions = dict(original.extensions or {}) if isinstance(original, GraphQLError) else {}
        extensions.update(code=BAD_USER_INPUT, variable=name)
        extensions["field"] = [name, *_path_in_variable(error, schema, node, variables)]
        error.extensions = extensions


def _path_in_variable(
    error: GraphQLError,
    schema: GraphQLSchema,
    node: VariableDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> list[str | int]:
    """Where in the variable graphql-core found the problem it reports: its message
    says it, so the value is checked again (on this error path only) and the problem
    with the same message gives the path."""
    name = node.variable.name.value
    if not variables or name not in variables:
        return []
    type_ = type_from_ast(schema, node.type)
    if type_ is None:
        return []
    found: list[tuple[GraphQLError, Path]] = []
    try:
        validate_input_value(variables[name], type_, lambda e, p: found.append((e, p)))  # type: ignore[arg-type]
    except RecursionError:
        return []
    for problem, path in found:
        if error.message == (
            f"Variable '${name}' has invalid value{print_path_list(path)}: {problem.message}"
        ):
            return list(path)
    return []
