"""GraphQL over HTTP: methods, status codes and media types, limits enforced before
execution, production hardening, request ids, and health and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from schema.limits import MAX_ALIASES, MAX_COST, MAX_DEPTH, MAX_TOKENS
from schema.root import build_schema
from tests.fixtures import World, variables
from tests.support import Api

MODERN = "application/graphql-response+json"
LEGACY = "application/json"
SIGNING_KEY = "production-signing-key-0123456789abcdef0123456789"


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors") or []]


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


async def post(
    api: Api, query: str, *, accept: str = f"{MODERN}, {LEGACY}", key: str | None = None
) -> httpx.Response:
    headers = {"Accept": accept}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return await api.http.post("/graphql", json={"query": query}, headers=headers)


async def product_skus(api: Api, world: World) -> list[str]:
    data = await api.run("{ products(first: 100) { edges { node { sku } } } }", key=world.admin)
    return [e["node"]["sku"] for e in data["products"]["edges"]]


# ---------- methods and bodies ----------


async def test_a_query_over_get_works(api: Api, world: World) -> None:
    response = await api.http.get(
        "/graphql",
        params={
            "query": "query($sku: String!) { product(sku: $sku) { sku name } }",
            "variables": '{"sku": "MUG-STONE"}',
        },
        headers={"Accept": MODERN, "Authorization": f"Bearer {world.admin}"},
    )
    assert response.status_code == 200
    assert media_type(response) == MODERN
    assert response.json()["data"] == {"product": {"sku": "MUG-STONE", "name": "Stoneware mug"}}


async def test_a_mutation_over_get_is_refused_and_not_run(api: Api, world: World) -> None:
    before = await product_skus(api, world)
    response = await api.http.get(
        "/graphql",
        params={
            "query": 'mutation { upsertProducts(input: [{sku: "GET-1", name: "Via GET"}]) { count } }'
        },
        headers={"Accept": MODERN, "Authorization": f"Bearer {world.admin}"},
    )
    assert await product_skus(api, world) == before
    # GraphQL over HTTP: "the server MUST respond with error status code 405".
    assert response.status_code == 405, (response.status_code, response.text)
    assert "POST" in response.headers.get("allow", "")


async def test_a_malformed_json_body_is_400(api: Api) -> None:
    response = await api.http.post(
        "/graphql",
        content=b'{"query": "{ viewer { role } }"',
        headers={"Content-Type": "application/json", "Accept": MODERN},
    )
    assert response.status_code == 400


async def test_a_body_without_a_query_is_400(api: Api) -> None:
    response = await api.http.post("/graphql", json={"variables": {}}, headers={"Accept": MODERN})
    assert response.status_code == 400


async def test_other_methods_are_refused(api: Api) -> None:
    response = await api.http.put("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("query", "message", "code"),
    [
        ("{ viewer { role }", "Syntax Error", "GRAPHQL_PARSE_FAILED"),
        (
            "{ viewer { role nickname } }",
            "Cannot query field 'nickname' on type 'Viewer'.",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "query($n: Int!) { products(first: $n) { edges { cursor } } }",
            "Variable '$n'",
            "BAD_USER_INPUT",
        ),
    ],
    ids=["syntax-error", "unknown-field", "missing-variable"],
)
async def test_a_request_error_is_400_for_graphql_response_json_and_200_for_json(
    api: Api, world: World, query: str, message: str, code: str
) -> None:
    modern = await post(api, query, accept=f"{MODERN}, {LEGACY};q=0.9", key=world.admin)
    assert modern.status_code == 400
    assert media_type(modern) == MODERN
    # Refused before execution: no `data` entry (GraphQL spec), and a code.
    assert "data" not in modern.json()
    assert codes(modern.json()) == [code]
    assert any(message in m for m in messages(modern.json())), modern.json()

    legacy = await post(api, query, accept=LEGACY, key=world.admin)
    assert legacy.status_code == 200
    assert media_type(legacy) == LEGACY
    assert messages(legacy.json()) == messages(modern.json())
    assert "data" not in legacy.json()

    # Without an Accept header the modern format applies (GraphQL over HTTP, after 2025).
    bare = await api.http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {world.admin}"}
    )
    assert bare.status_code == 400
    assert media_type(bare) == MODERN


async def test_a_document_that_cannot_run_says_why_in_its_code(api: Api) -> None:
    # The same codes as over WebSocket (tests/e2e/test_websocket_protocol.py).
    assert codes((await post(api, "{ viewer { role }")).json()) == ["GRAPHQL_PARSE_FAILED"]
    unknown = await post(api, "{ viewer { role nickname } }")
    assert codes(unknown.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_a_successful_answer_is_200_in_the_format_asked_for(api: Api) -> None:
    for accept, media in ((MODERN, MODERN), (LEGACY, LEGACY), ("*/*", MODERN)):
        response = await post(api, "{ viewer { role } }", accept=accept)
        assert response.status_code == 200
        assert media_type(response) == media
        assert response.json()["data"] == {"viewer": {"role": "ANONYMOUS"}}


# ---------- limits, before execution ----------


def nested(levels: int) -> str:
    """A selection `levels` fields deep under `channels` (depth = levels - 1)."""
    names = ["channels", "network", "address"] + [f"f{i}" for i in range(levels - 3)]
    return "{ " + " { ".join(names) + " }" * (levels - 1) + " }"


async def test_a_query_deeper_than_the_limit_is_refused(api: Api, world: World) -> None:
    assert MAX_DEPTH == 12
    too_deep = await post(api, nested(MAX_DEPTH + 2), key=world.admin)  # depth 13
    assert too_deep.status_code == 400
    assert "'anonymous' exceeds maximum operation depth of 12" in messages(too_deep.json())

    # At the limit, the depth rule is silent (the made-up fields are still unknown).
    at_limit = await post(api, nested(MAX_DEPTH + 1), key=world.admin)  # depth 12
    assert at_limit.status_code == 400
    assert not any("depth" in m for m in messages(at_limit.json())), at_limit.json()


async def test_a_deep_mutation_is_refused_and_not_run(api: Api, world: World) -> None:
    before = await product_skus(api, world)
    # upsertProducts > userErrors > f0 > ... > f11: 14 fields, depth 13.
    deep = " { ".join(f"f{i}" for i in range(12)) + " }" * 11
    query = (
        'mutation { upsertProducts(input: [{sku: "DEEP-1", name: "Deep"}]) '
        f"{{ count userErrors {{ {deep} }} }} }}"
    )
    response = await post(api, query, key=world.admin)
    assert response.status_code == 400
    assert any("exceeds maximum operation depth" in m for m in messages(response.json()))
    assert await product_skus(api, world) == before


def aliased_upserts(n: int) -> str:
    fields = " ".join(
        f'a{i}: upsertProducts(input: [{{sku: "ALIAS-{i}", name: "Alias {i}"}}]) {{ count }}'
        for i in range(n)
    )
    return f"mutation {{ {fields} }}"


async def test_more_aliases_than_the_limit_are_refused_and_nothing_runs(
    api: Api, world: World
) -> None:
    assert MAX_ALIASES == 15
    before = await product_skus(api, world)

    response = await post(api, aliased_upserts(16), key=world.admin)

    assert response.status_code == 400
    assert media_type(response) == MODERN
    body = response.json()
    assert body.get("data") is None
    assert any("aliases" in m.lower() for m in messages(body)), body
    assert await product_skus(api, world) == before

    # Fifteen is fine.
    allowed = await post(api, aliased_upserts(15), key=world.admin)
    assert allowed.status_code == 200, allowed.json()
    assert len(await product_skus(api, world)) == len(before) + 15


async def test_an_oversized_document_is_refused_and_nothing_runs(api: Api, world: World) -> None:
    before = await product_skus(api, world)
    lines = ", ".join(f'{{sku: "BIG-{i}", name: "Big {i}"}}' for i in range(800))
    query = f"mutation {{ upsertProducts(input: [{lines}]) {{ count }} }}"

    response = await post(api, query, key=world.admin)

    assert response.status_code == 400
    body = response.json()
    assert body.get("data") is None
    assert any(f"more than {MAX_TOKENS} tokens" in m for m in messages(body)), messages(body)
    assert await product_skus(api, world) == before

    # The same lines as variables are a small document, and run.
    ok = await api.run(
        "mutation($input: [ProductInput!]!) { upsertProducts(input: $input) { count } }",
        {"input": [{"sku": f"BIG-{i}", "name": f"Big {i}"} for i in range(800)]},
        key=world.admin,
    )
    assert ok == {"upsertProducts": {"count": 800}}


def fragment_bomb(doublings: int) -> str:
    """products(first: 100) { edges { node } } (cost 201), spread 2**doublings times."""
    fragments = [
        "fragment F0 on Query { products(first: 100) { edges { node { sku } } } }",
        *(f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, doublings + 1)),
    ]
    return f"query {{ ...F{doublings} }}\n" + "\n".join(fragments)


async def test_a_query_costing_more_than_the_limit_is_refused(api: Api, world: World) -> None:
    assert MAX_COST == 25_000
    response = await post(api, fragment_bomb(7), key=world.admin)  # 128 x 201 = 25,728

    assert response.status_code == 400
    body = response.json()
    assert body.get("data") is None
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert messages(body) == ["Query cost 25728 exceeds the limit of 25000; ask for smaller pages"]

    # Half of it is under the limit, runs, and reports its cost.
    half = await post(api, fragment_bomb(6), key=world.admin)  # 64 x 201 = 12,864
    assert half.status_code == 200, half.json()
    assert half.json()["extensions"]["cost"] == {"requested": 12_864, "limit": 25_000}


async def test_page_sizes_above_the_cap_are_priced_at_the_cap(api: Api, world: World) -> None:
    response = await post(
        api, "{ products(first: 100000) { edges { node { sku } } } }", key=world.admin
    )
    assert response.status_code == 200
    assert response.json()["extensions"]["cost"] == {"requested": 201, "limit": 25_000}


async def test_a_negative_page_size_does_not_lower_the_price(api: Api, world: World) -> None:
    # `b` is refused when it runs, but `a` runs all the same: the query must be priced
    # at least as `a` alone, or a negative `first` would buy cost (and budget) back.
    response = await post(
        api,
        """{ a: products(first: 100) { edges { node { sku } } }
             b: products(first: -100) { edges { node { sku } } } }""",
        key=world.admin,
    )
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["extensions"]["cost"]["requested"] >= 201, body["extensions"]


async def test_every_answer_reports_its_cost(api: Api, world: World) -> None:
    response = await api.post(
        "{ viewer { role } locations { code address { city } } }", key=world.admin
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "viewer": {"role": "ADMIN"},
            "locations": [
                {"code": "ST-PARIS-11", "address": {"city": "Paris"}},
                {"code": "WH-LYON", "address": {"city": "Lyon"}},
            ],
        },
        "extensions": {"cost": {"requested": 3, "limit": 25_000}},
    }
    mutation = await api.post(
        "mutation($input: [ProductInput!]!) { upsertProducts(input: $input) { count userErrors { code } } }",
        variables("UpsertProducts"),
        key=world.admin,
    )
    assert mutation.json()["extensions"] == {"cost": {"requested": 2, "limit": 25_000}}


# ---------- production ----------


async def test_the_production_schema_refuses_introspection_and_suggests_nothing() -> None:
    schema = build_schema(production=True)
    for query in (
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Query") { fields { name } } }',
    ):
        result = await schema.execute(query)
        assert result.data is None
        assert result.errors
        assert "introspection" in result.errors[0].message.lower()

    result = await schema.execute("{ viewr { role } }")
    assert result.data is None
    assert [e.message for e in result.errors or []] == [
        "Cannot query field 'viewr' on type 'Query'."
    ]
    result = await schema.execute("{ viewer { rol } }")
    assert [e.message for e in result.errors or []] == [
        "Cannot query field 'rol' on type 'Viewer'."
    ]

    # __typename is not introspection of the schema, and stays allowed.
    result = await schema.execute("{ __typename }")
    assert result.errors is None
    assert result.data == {"__typename": "Query"}


@pytest.fixture(scope="module")
async def production_api(servers: dict[str, str]) -> AsyncIterator[Api]:
    """The app as production builds it, on the test servers."""
    from api.app import create_app
    from api.settings import Settings

    settings = Settings.from_env(
        {
            "OMS_ENV": "production",
            "OMS_SECRET_KEY": SIGNING_KEY,
            "DATABASE_URL": servers["database_url"],
            "REDIS_URL": servers["redis_url"],
            "OMS_DATA_DIR": servers["tmp"],
            "OMS_AUTH_CACHE_SECONDS": "0",
            "OMS_LOG_JSON": "false",
        }
    )
    assert settings.production
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        Api.over_asgi(application) as client,
    ):
        yield client


async def test_production_refuses_introspection_over_http(
    production_api: Api, world: World
) -> None:
    response = await production_api.post("{ __schema { types { name } } }", key=world.admin)
    assert response.status_code == 400
    assert media_type(response) == MODERN
    body = response.json()
    assert body.get("data") is None
    assert body["errors"]
    assert all("introspection has been disabled" in m for m in messages(body)), body


async def test_production_suggests_no_field_names(production_api: Api, world: World) -> None:
    response = await production_api.post("{ viewr { role } locatons { code } }", key=world.admin)
    assert response.status_code == 400
    assert messages(response.json()) == [
        "Cannot query field 'viewr' on type 'Query'.",
        "Cannot query field 'locatons' on type 'Query'.",
    ]
    assert "Did you mean" not in response.text


async def test_production_serves_no_graphiql(production_api: Api, api: Api) -> None:
    html = {"Accept": "text/html"}
    production = await production_api.http.get("/graphql", headers=html)
    assert production.status_code == 404
    assert "graphiql" not in production.text.lower()
    development = await api.http.get("/graphql", headers=html)
    assert development.status_code == 200
    assert "graphiql" in development.text.lower()


async def test_production_answers_normal_queries(production_api: Api, world: World) -> None:
    data = await production_api.run("{ viewer { role } locations { code } }", key=world.admin)
    assert data == {
        "viewer": {"role": "ADMIN"},
        "locations": [{"code": "ST-PARIS-11"}, {"code": "WH-LYON"}],
    }


async def test_production_refuses_plain_http_webhooks_even_to_loopback(
    production_api: Api, world: World
) -> None:
    sent = variables("UpsertChannel")
    sent["input"]["publishTarget"] = {"webhookUrl": "http://127.0.0.1:9/x"}
    data = await production_api.op("UpsertChannel", sent, key=world.admin)
    assert [(e["code"], e["field"]) for e in data["upsertChannel"]["userErrors"]] == [
        ("INSECURE_URL", ["input", "publishTarget", "webhookUrl"])
    ]
    stored = await production_api.run(
        '{ channel(code: "web-fr") { publishTarget { webhookUrl } } }', key=world.admin
    )
    assert stored == {"channel": {"publishTarget": {"webhookUrl": None}}}


# ---------- request ids ----------


async def test_every_response_has_a_request_id(api: Api) -> None:
    responses = [
        await post(api, "{ viewer { role } }"),
        await post(api, "{ viewer { nope } }"),
        await api.http.post(
            "/graphql",
            json={"query": "{ viewer { role } }"},
            headers={"Authorization": "Bearer oms_unknown_key_0000000000000000"},
        ),
        await api.http.get("/healthz"),
        await api.http.get("/readyz"),
        await api.http.get("/no-such-page"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(isinstance(i, str) and len(i) >= 16 for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_given_request_id_is_echoed(api: Api) -> None:
    response = await api.http.post(
        "/graphql",
        json={"query": "{ viewer { role } }"},
        headers={"X-Request-Id": "checkout-7f3c2a-0001"},
    )
    assert response.headers["x-request-id"] == "checkout-7f3c2a-0001"
    assert response.headers.get_list("x-request-id") == ["checkout-7f3c2a-0001"]

    # One that is too long or not printable is replaced, not echoed.
    for bad in ("x" * 65, "a\tb"):
        replaced = await api.http.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers={"X-Request-Id": bad}
        )
        assert replaced.headers["x-request-id"] not in (bad, "")


# ---------- health ----------


async def test_healthz_and_readyz(api: Api) -> None:
    health = await api.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}

    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    deps = body["dependencies"]
    assert set(deps) == {"postgres", "redis", "worker", "events", "migrations", "outbox"}
    assert deps["migrations"]["status"] == "ok" and deps["migrations"]["at"]
    assert deps["outbox"]["status"] == "ok" and deps["outbox"]["unrelayed"] >= 0
    assert (deps["postgres"]["status"], deps["redis"]["status"], deps["events"]["status"]) == (
        "ok",
        "ok",
        "ok",
    )
    # No worker runs beside these tests (a burst worker of another test may have left
    # its heartbeat): without one, the service is degraded, and says why.
    if deps["worker"]["status"] == "ok":
        assert body["status"] == "ready"
    else:
        assert body["status"] == "degraded"
        assert deps["worker"] == {"status": "missing", "impact": deps["worker"]["impact"]}
        assert "webhooks" in deps["worker"]["impact"]


async def test_fields_with_a_closed_set_of_values_are_enums(api: Api) -> None:
    """Clients generate types from the schema: a closed set of values is an enum, never a
    string documented as one."""
    from graphql import GraphQLEnumType, get_named_type

    schema = build_schema()._schema
    expected = {
        ("Order", "deliveryMethod"): "DeliveryMethod",
        ("Order", "serviceLevel"): "ServiceLevel",
        ("Order", "splitPreference"): "SplitPreference",
        ("InboundSupply", "status"): "InboundSupplyStatus",
        ("CompleteRepairInput", "outcome"): "RepairOutcome",
    }
    for (type_name, field_name), enum_name in expected.items():
        field_type = get_named_type(schema.get_type(type_name).fields[field_name].type)  # type: ignore[union-attr]
        assert isinstance(field_type, GraphQLEnumType), (type_name, field_name)
        assert field_type.name == enum_name
    status = schema.query_type.fields["inboundSupplies"].args["status"]  # type: ignore[union-attr]
    assert get_named_type(status.type).name == "InboundSupplyStatus"
