"""What a document asks for, measured in one pass: depth, aliases, cost and size.

Every measure here is linear in the size of the document. A fragment is measured once
and its figures reused wherever it is spread: a chain of fragments that each spread the
next one twice (2 kB of text, 2^40 paths) costs as little to measure as it is long. The
figures themselves may be astronomically large; they are only compared with limits.

Rules of the libraries we used before (strawberry's depth and alias limiters) walked
every path through the fragments, so such a document froze a process for minutes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from schema.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class Shape:
    """Figures of one selection set, fragments expanded.

    depth: fields nested in one another (a field with a selection counts 1, leaves 0,
        introspection fields are not counted: `__schema` and `__type` have their own
        depth rule in graphql-core);
    aliases: aliased fields;
    cost: objects the selection may return (each object field 1, times the page
        size of the connections above it);
    fields: field selections once every fragment is expanded (what the executor and
        the remaining validation rules would have to look at).
    """

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    fields: int = 0


_EMPTY = Shape()


def page_value(value: Any) -> int | None:
    """What of a variable's value a page size depends on: an integer, or nothing."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def page_size(
    field: FieldNode, variables: Mapping[str, Any], consulted: set[str] | None = None
) -> int | None:
    """The `first` a connection field asks for, capped as the connection caps it.
    Variables read for it are added to `consulted`."""
    for arg in field.arguments or ():
        if arg.name.value != "first":
            continue
        if isinstance(arg.value, IntValueNode):
            return max(0, min(int(arg.value.value), MAX_PAGE_SIZE))
        if isinstance(arg.value, VariableNode):
            name = arg.value.name.value
            if consulted is not None:
                consulted.add(name)
            value = page_value(variables.get(name))
            return DEFAULT_PAGE_SIZE if value is None else max(0, min(value, MAX_PAGE_SIZE))
    return None


class _Measure:
    def __init__(self, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Shape] = {}
        self.in_progress: set[str] = set()
        # Across the document's selection sets (inline fragments merged into the set
        # they stand in, as GraphQL merges them): the most fields sharing a response
        # name, and the most fragment spreads. Checking that fields can be merged is
        # quadratic in both (graphql-core's OverlappingFieldsCanBeMergedRule), so both
        # are bounded before that rule runs.
        self.same_name = 0
        self.spreads = 0
        # Variables the figures depend on (page sizes given as variables).
        self.consulted: set[str] = set()

    def merged(self, selection_set: SelectionSetNode) -> None:
        names: Counter[str] = Counter()
        spreads = 0
        pending = [selection_set]
        while pending:
            for sel in pending.pop().selections:
                if isinstance(sel, FieldNode):
                    names[sel.alias.value if sel.alias else sel.name.value] += 1
                elif isinstance(sel, InlineFragmentNode):
                    pending.append(sel.selection_set)
                elif isinstance(sel, FragmentSpreadNode):
                    spreads += 1
        if names:
            self.same_name = max(self.same_name, max(names.values()))
        self.spreads = max(self.spreads, spreads)

    def fragment(self, name: str) -> Shape:
        known = self.measured.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        # An unknown fragment, or a cycle (both refused by graphql-core's own rules).
        if definition is None or name in self.in_progress:
            return _EMPTY
        self.in_progress.add(name)
        self.merged(definition.selection_set)
        shape = self.selection_set(definition.selection_set)
        self.in_progress.discard(name)
        self.measured[name] = shape
        return shape

    def selection_set(self, selection_set: SelectionSetNode | None) -> Shape:
        if selection_set is None:
            return _EMPTY
        depth = aliases = cost = fields = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                fields += 1
                if sel.alias is not None:
                    aliases += 1
                if sel.selection_set is None:
                    continue
                self.merged(sel.selection_set)
                inner = self.selection_set(sel.selection_set)
                aliases += inner.aliases
                fields += inner.fields
                if not sel.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
                size = page_size(sel, self.variables, self.consulted)
                cost += 1 + (size if size is not None else 1) * inner.cost
                continue
            if isinstance(sel, InlineFragmentNode):
                inner = self.selection_set(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                inner = self.fragment(sel.name.value)
            else:  # pragma: no cover - the grammar has no other selection
                continue
            depth = max(depth, inner.depth)
            aliases += inner.aliases
            cost += inner.cost
            fields += inner.fields
        return Shape(depth, aliases, cost, fields)


def operations(document: DocumentNode, operation_name: str | None) -> list[OperationDefinitionNode]:
    found = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        found = [o for o in found if o.name and o.name.value == operation_name]
    return found


@dataclass(frozen=True, slots=True)
class DocumentShape:
    """Each operation's shape by name ("anonymous" for an unnamed one), and what any
    of the document's selection sets holds at most."""

    operations: dict[str, Shape]
    fragments: int
    same_name: int
    spreads: int
    # The variables these figures depend on: with the same values, the same figures.
    variables: tuple[str, ...]


def measure(
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> DocumentShape:
    """The document's figures. With an operation name, only that operation's (what
    will run); without, all of them, since a document's limits hold for every
    operation it carries."""
    measured = _Measure(document, variables or {})
    shapes = {}
    for op in operations(document, operation_name):
        measured.merged(op.selection_set)
        shapes[op.name.value if op.name else "anonymous"] = measured.selection_set(op.selection_set)
    return DocumentShape(
        shapes,
        len(measured.fragments),
        measured.same_name,
        measured.spreads,
        tuple(sorted(measured.consulted)),
    )


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> list[FieldNode]:
    """The operation's root fields, through fragments (each fragment visited once)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found: list[FieldNode] = []
    seen: set[str] = set()
    pending = [operation.selection_set]
    while pending:
        for sel in pending.pop().selections:
            if isinstance(sel, FieldNode):
                found.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                pending.append(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)
    return found
