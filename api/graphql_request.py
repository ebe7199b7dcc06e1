"""What a GraphQL request over HTTP must look like before anything reads it further,
and how a request refused at that stage is answered (JSON, with a code, in the media
type the client accepts)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.responses import JSONResponse

from schema.limits import MAX_LIST_ITEMS, MAX_VARIABLE_VALUES

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def wants_graphql_response_json(accept: str) -> bool:
    """GraphQL over HTTP: clients that list only application/json get the legacy format;
    no Accept header, `*/*` or the modern type get application/graphql-response+json
    (the spec's default since its 2025 watershed)."""
    if GRAPHQL_RESPONSE_JSON in accept:
        return True
    return "application/json" not in accept


def request_error(
    message: str,
    code: str,
    status: int,
    accept: str,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A request refused before execution: `errors` only, no `data` entry."""
    media = GRAPHQL_RESPONSE_JSON if wants_graphql_response_json(accept) else "application/json"
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]},
        status_code=status,
        headers=dict(headers or {}),
        media_type=media,
    )


def request_data(data: dict[str, Any]) -> Any:
    """The parameters of a JSON request body, each of the type the spec allows."""
    from strawberry.http import GraphQLRequestData

    query = data.get("query")
    if not isinstance(query, (str, type(None))):
        raise HTTPException(400, "The GraphQL operation's `query` must be a string or null")
    variables = data.get("variables")
    if not isinstance(variables, (dict, type(None))):
        raise HTTPException(400, "The GraphQL operation's `variables` must be an object or null")
    extensions = data.get("extensions")
    if not isinstance(extensions, (dict, type(None))):
        raise HTTPException(400, "The GraphQL operation's `extensions` must be an object or null")
    operation_name = data.get("operationName")
    if not isinstance(operation_name, (str, type(None))):
        raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null")
    return GraphQLRequestData(
        query=query, variables=variables, operation_name=operation_name, extensions=extensions
    )


# Below this size a body is decoded without a second look (decoding 1 MB takes ~10 ms).
LARGE_BODY_BYTES = 1024 * 1024


def too_many_values(body: bytes) -> str | None:
    """Why a large body holds too many values to be worth decoding, or None.

    Every value after the first in an array or object follows a comma, and every object
    and array opens with a bracket: counting them (in C, ~1 ms for 5 MB) bounds the
    values from above without building them. Decoding 100,000 products (4.6 MB) into
    Python objects costs ~50 ms of the event loop, and freeing them ~10 ms more; a body
    whose count is over MAX_VARIABLE_VALUES is refused for the price of the count.
    Commas inside strings only make the estimate larger: a body of long texts full of
    commas would be refused, which no operation of this API needs."""
    if len(body) < LARGE_BODY_BYTES:
        return None
    estimate = body.count(b",") + body.count(b"{") + body.count(b"[")
    if estimate > MAX_VARIABLE_VALUES:
        return f"the request holds more than {MAX_VARIABLE_VALUES:,} values"
    return None


def decode_request_json(data: str | bytes) -> object:
    """A request's JSON. orjson first (fast, and it refuses invalid UTF-8 and nesting
    deeper than 1,024). It also refuses a string escaping a lone surrogate ("\\ud800"),
    which is valid JSON that PostgreSQL cannot store: such a body is decoded again by
    the standard library, so that the guard can refuse that one value by its path
    (BAD_USER_INPUT) rather than the whole body as malformed."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise
    try:
        return json.loads(data)
    except RecursionError as exc:  # orjson's depth limit is not the standard library's
        raise json.JSONDecodeError("nested too deeply", "", 0) from exc
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("invalid UTF-8", "", 0) from exc


def oversized_list(variables: Mapping[str, Any] | None) -> str | None:
    """Why the variables are too big to be worth coercing, or None.

    Looks at each list's length before its items, so a list of 100,000 products is
    refused at once, before GraphQL coerces (and the domain refuses) every item."""
    if not variables:
        return None
    pending: list[Any] = [variables]
    values = 0
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            if len(value) > MAX_LIST_ITEMS:
                return f"a list of {len(value):,} items; no operation accepts more than {MAX_LIST_ITEMS:,}"
            items: Any = value
        elif isinstance(value, dict):
            items = value.values()
        else:
            continue
        values += len(value)
        if values > MAX_VARIABLE_VALUES:
            return f"variables hold more than {MAX_VARIABLE_VALUES:,} values"
        pending.extend(v for v in items if isinstance(v, (list, dict)))
    return None
