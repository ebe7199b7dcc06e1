"""Parsing and validation through caches, and the codes of errors that stop a document
before it runs.

Parsed documents and validation results are cached, since parsing and validating cost
more than many resolvers (see STACK-NOTES). A document that does not parse answers
GRAPHQL_PARSE_FAILED, one that does not validate GRAPHQL_VALIDATION_FAILED (the codes
Apollo and others use), unless a limit has its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.caching import Recent
from schema.input_guard import BadTextRule

# BadTextRule: string literals PostgreSQL cannot store (NUL), refused with the document.
_BASE_RULES = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule, BadTextRule)
_PRODUCTION_RULES = (*_BASE_RULES, NoSchemaIntrospectionCustomRule)


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


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
_VALIDATED: Recent[tuple[GraphQLError, ...]] = Recent(1024)
_VALIDATOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-validate")


async def validate_document(
    schema: GraphQLSchema, query: str, document: DocumentNode, production: bool
) -> tuple[GraphQLError, ...]:
    key = (id(schema), query, production)
    found = _VALIDATED.get(key)
    if found is not None:
        return found
    loop = asyncio.get_running_loop()
    errors = await loop.run_in_executor(_VALIDATOR, _validate, schema, document, production)
    return _VALIDATED.put(key, errors)
