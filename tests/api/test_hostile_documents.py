"""Hostile documents and bodies: refused quickly, typed, and nothing changes.

Written as families, not single examples: each generator makes documents whose
expansion grows exponentially with a parameter, and the time to answer must not grow
with it (before the fix, 18 levels of fragments took 3 s and 40 froze the process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from schema.limits import (
    ANONYMOUS_MAX_DOCUMENT_CHARS,
    MAX_DOCUMENT_CHARS,
    MAX_LIST_ITEMS,
    MAX_VARIABLE_VALUES,
)
from tests.fixtures import World
from tests.support import Api

MODERN = "application/graphql-response+json"
# Far above what any of these documents takes now (a few ms), far below what they took
# before (seconds to forever).
ANSWER_WITHIN_SECONDS = 0.5


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def doubling(leaf: str, on: str = "Query") -> Callable[[int], str]:
    """Each fragment spreads the next one twice: 2**levels paths to `leaf`."""

    def document(levels: int) -> str:
        parts = ["query Bomb { ...F0 }"]
        parts += [f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
        parts.append(f"fragment F{levels} on {on} {{ {leaf} }}")
        return "\n".join(parts)

    return document


def doubling_inline(levels: int) -> str:
    """The same through inline fragments: a spread, and the same spread inside `... on`."""
    parts = ["query Bomb { ...F0 }"]
    parts += [
        f"fragment F{i} on Query {{ ...F{i + 1} ... on Query {{ ...F{i + 1} }} }}"
        for i in range(levels)
    ]
    parts.append(f"fragment F{levels} on Query {{ viewer {{ role }} }}")
    return "\n".join(parts)


def doubling_introspection(levels: int) -> str:
    """Introspection types nest without end: the depth limit does not count them."""
    parts = ["query Bomb { __schema { types { ...T0 } } }"]
    parts += [
        f"fragment T{i} on __Type {{ ofType {{ ...T{i + 1} }} fields {{ type {{ ...T{i + 1} }} }} }}"
        for i in range(levels)
    ]
    parts.append(f"fragment T{levels} on __Type {{ name }}")
    return "\n".join(parts)


def wide_same_field(count: int) -> str:
    """One field many times side by side: checking they merge is quadratic."""
    return "query Wide { " + " ".join("viewer { role }" for _ in range(count)) + " }"


def many_fragments(count: int) -> str:
    spreads = " ".join(f"...G{i}" for i in range(count))
    fragments = "\n".join(
        f'fragment G{i} on Query {{ product(sku: "{i}") {{ sku }} }}' for i in range(count)
    )
    return f"query Many {{ {spreads} }}\n{fragments}"


FAMILIES: dict[str, tuple[Callable[[int], str], tuple[int, ...]]] = {
    "typename": (doubling("__typename"), (8, 16, 24, 40)),
    "object-fields": (doubling("viewer { role name }"), (8, 16, 24, 40)),
    "inline-fragments": (doubling_inline, (8, 16, 24, 40)),
    "introspection": (doubling_introspection, (4, 8, 16, 30)),
    "same-field": (wide_same_field, (10, 100, 500, 1_100)),
    "many-fragments": (many_fragments, (10, 50, 150, 250)),
}


async def timed_post(api: Api, query: str, key: str | None) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await api.post(query, key=key)
    return response, time.perf_counter() - started


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("who", ["admin", "anonymous"])
async def test_expanding_documents_are_answered_in_bounded_time(
    api: Api, world: World, family: str, who: str
) -> None:
    generate, sizes = FAMILIES[family]
    key = world.admin if who == "admin" else None
    await api.post("{ __typename }", key=key)  # warm the process's first-request paths
    for size in sizes:
        document = generate(size)
        response, elapsed = await timed_post(api, document, key)
        body = response.json()
        assert response.status_code < 500, (family, size, body)
        assert "INTERNAL" not in codes(body), (family, size, body)
        assert elapsed < ANSWER_WITHIN_SECONDS, (family, size, f"{elapsed:.3f} s")
        if size == sizes[-1]:
            # The largest of each family is refused, before it runs.
            assert response.status_code in (400, 401, 413), (family, body)
            assert "data" not in body or body["data"] is None, body


async def test_the_depth_limit_still_counts_through_fragments(api: Api, world: World) -> None:
    chain = ["query Deep { channels { ...C0 } }"]
    chain += [
        f"fragment C{i} on Channel {{ network {{ channels {{ ...C{i + 1} }} }} }}" for i in range(8)
    ]
    chain.append("fragment C8 on Channel { code }")
    response = await api.post("\n".join(chain), key=world.admin)
    assert response.status_code == 400
    assert codes(response.json()) == ["QUERY_TOO_DEEP"]


# ---------- what a caller without a credential may do ----------


async def test_without_a_credential_only_viewer_and_introspection_run(api: Api) -> None:
    assert (await api.post("{ __typename }")).json()["data"] == {"__typename": "Query"}
    viewer = await api.post("{ viewer { role } }")
    assert viewer.json()["data"] == {"viewer": {"role": "ANONYMOUS"}}
    # GraphiQL's own introspection query, in development.
    introspection = await api.post(get_introspection_query(descriptions=True))
    assert introspection.status_code == 200, introspection.text[:300]
    assert introspection.json()["data"]["__schema"]["queryType"]["name"] == "Query"

    refused = await api.post("{ viewer { role } products(first: 1) { edges { cursor } } }")
    assert refused.status_code == 401
    assert codes(refused.json()) == ["UNAUTHENTICATED"]


async def test_without_a_credential_a_long_document_is_refused_before_parsing(api: Api) -> None:
    padding = "#" + "x" * ANONYMOUS_MAX_DOCUMENT_CHARS + "\n"
    response = await api.post(padding + "{ __typename }")
    assert response.status_code == 400
    assert codes(response.json()) == ["QUERY_TOO_LARGE"]


async def test_with_a_credential_a_document_over_the_size_limit_is_refused(
    api: Api, world: World
) -> None:
    padding = " " * MAX_DOCUMENT_CHARS
    started = time.perf_counter()
    response = await api.post("{ __typename }" + padding, key=world.admin)
    assert time.perf_counter() - started < ANSWER_WITHIN_SECONDS
    assert response.status_code == 400
    assert codes(response.json()) == ["QUERY_TOO_LARGE"]


# ---------- bodies that are not a GraphQL request ----------

MALFORMED_BODIES = {
    "string": b'"{ __typename }"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "list": b'[{"query": "{ __typename }"}]',
    "empty": b"",
    "deep-list": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"query": "{ __typename }", "variables": '
    + b'{"a":' * 50_000
    + b"1"
    + b"}" * 50_001,
    "invalid-utf8": b'{"query": "{ __typename \xff\xfe }"}',
    "query-number": b'{"query": 1}',
    "query-object": b'{"query": {}}',
    "variables-list": b'{"query": "{ __typename }", "variables": []}',
    "operation-name-number": b'{"query": "{ __typename }", "operationName": 7}',
    "extensions-string": b'{"query": "{ __typename }", "extensions": "x"}',
    "truncated": b'{"query": "{ __typename }"',
    "nan": b'{"query": "{ __typename }", "variables": {"a": NaN}}',
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
@pytest.mark.parametrize("accept", [MODERN, "application/json"])
async def test_a_body_that_is_not_a_graphql_request_is_400_json(
    api: Api, world: World, name: str, accept: str
) -> None:
    response = await api.http.post(
        "/graphql",
        content=MALFORMED_BODIES[name],
        headers={
            "Content-Type": "application/json",
            "Accept": accept,
            "Authorization": f"Bearer {world.admin}",
        },
    )
    assert response.status_code == 400, (name, response.status_code, response.text[:200])
    assert response.headers["content-type"].split(";")[0] == accept
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["BAD_REQUEST"], body


async def test_an_unsupported_content_type_is_json_too(api: Api) -> None:
    response = await api.http.post(
        "/graphql", content=b"{ __typename }", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]


# ---------- big inputs: refused as they are read ----------


async def test_a_list_longer_than_any_operation_accepts_is_refused_before_coercion(
    api: Api, world: World
) -> None:
    products = [{"sku": f"FLOOD-{i}", "name": f"Flood {i}"} for i in range(100_000)]
    document = "mutation($input: [ProductInput!]!) { upsertProducts(input: $input) { count } }"
    started = time.perf_counter()
    response = await api.post(document, {"input": products}, key=world.admin)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text[:300]
    assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
    # Refused on a count of its brackets and commas, before it is decoded.
    assert f"{MAX_VARIABLE_VALUES:,} values" in response.json()["errors"][0]["message"]
    # It took 48-61 s before: JSON decoding is all it costs now.
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    check = await api.run('{ product(sku: "FLOOD-1") { sku } }', key=world.admin)
    assert check == {"product": None}


async def test_a_list_longer_than_twice_any_cap_is_refused_before_graphql_reads_it(
    api: Api, world: World
) -> None:
    skus = [f"S{i}" for i in range(MAX_LIST_ITEMS + 1)]  # under a megabyte
    response = await api.post(
        'query($skus: [String!]!) { availability(channel: "web-fr", skus: $skus) { sku } }',
        {"skus": skus},
        key=world.admin,
    )
    assert response.status_code == 413
    assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
    assert f"no operation accepts more than {MAX_LIST_ITEMS:,}" in response.text


@pytest.mark.parametrize(
    ("document", "variable", "item", "cap_name"),
    [
        (
            "mutation($input: [ProductInput!]!) { upsertProducts(input: $input) { count } }",
            "input",
            {"sku": "CAP-1", "name": "Cap"},
            "ProductInput",
        ),
        (
            "mutation($input: SetStockLevelsInput!, $key: String!) "
            "{ setStockLevels(input: $input, idempotencyKey: $key) { ignored { sku } } }",
            "input.levels",
            {"sku": "MUG-STONE", "onHand": 1},
            "StockLevelLineInput",
        ),
    ],
    ids=["products", "stock-levels"],
)
async def test_one_item_over_a_list_cap_is_refused_before_coercion(
    api: Api, world: World, document: str, variable: str, item: dict[str, Any], cap_name: str
) -> None:
    from schema.limits import LIST_CAPS

    cap = LIST_CAPS[cap_name]
    items = [item] * (cap + 1)
    if variable == "input":
        values: dict[str, Any] = {"input": items}
    else:
        values = {
            "input": {"location": "WH-LYON", "asOf": "2026-11-22T06:00:00Z", "levels": items},
            "key": "cap-test",
        }
    started = time.perf_counter()
    response = await api.post(document, values, key=world.admin)
    elapsed = time.perf_counter() - started
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    assert codes(body) == ["TOO_MANY"]
    assert body["errors"][0]["extensions"]["field"] == variable.split(".")
    assert f"at most {cap:,}" in body["errors"][0]["message"]
    # Coercing that many inputs took about a second per 10,000 before.
    assert elapsed < 0.5, f"{elapsed:.2f} s"
    assert await api.run('{ product(sku: "CAP-1") { sku } }', key=world.admin) == {"product": None}
