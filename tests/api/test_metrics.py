"""`/metrics`: Prometheus series whose values move as orders are placed and refused."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from api.metrics_endpoint import MetricsEndpoint
from tests.fixtures import World, variables
from tests.jobs.test_webhooks import place_order
from tests.support import Api, operation


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(figures: dict[Any, float], name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_series_move_as_orders_are_placed_and_refused(api: Api, world: World) -> None:
    await place_order(api, world)
    before = await scrape(api)

    v = variables("PlaceOrder")
    v["input"]["externalId"] = "WEB-METRICS-1"
    v["idempotencyKey"] = "web-fr:WEB-METRICS-1"
    placed = (await api.post(operation("PlaceOrder"), v, key=world.channel)).json()
    assert placed["data"]["placeOrder"]["userErrors"] == []
    v["input"]["externalId"] = "WEB-METRICS-2"
    v["idempotencyKey"] = "web-fr:WEB-METRICS-2"
    v["input"]["lines"][0]["quantity"] = 0
    refused = (await api.post(operation("PlaceOrder"), v, key=world.channel)).json()
    [code] = {e["code"] for e in refused["data"]["placeOrder"]["userErrors"]}
    answer = await api.post(operation("PlaceOrder"), v, key=world.partner)
    error_code = answer.json()["errors"][0]["extensions"]["code"]

    after = await scrape(api)
    mutation = {"transport": "http", "type": "mutation", "operation": "PlaceOrder"}
    moved = value(after, "oms_graphql_operations_total", **mutation) - value(
        before, "oms_graphql_operations_total", **mutation
    )
    assert moved == 3
    timed = {"type": "mutation", "operation": "PlaceOrder"}
    assert (
        value(after, "oms_graphql_operation_duration_seconds_count", **timed)
        - value(before, "oms_graphql_operation_duration_seconds_count", **timed)
        == 3
    )
    assert (
        value(after, "oms_graphql_user_errors_total", code=code)
        - value(before, "oms_graphql_user_errors_total", code=code)
        >= 1
    )
    assert (
        value(after, "oms_graphql_errors_total", code=error_code)
        - value(before, "oms_graphql_errors_total", code=error_code)
        == 1
    )
    expected = Counter({"200": 2})  # placed, refused
    expected[str(answer.status_code)] += 1  # not allowed
    for status, count in expected.items():
        labels = {"path": "/graphql", "status": status}
        assert (
            value(after, "oms_http_responses_total", **labels)
            - value(before, "oms_http_responses_total", **labels)
            == count
        )
    placements = {"type": "mutation", "field": "placeOrder"}
    assert (
        value(after, "oms_graphql_root_fields_total", **placements)
        - value(before, "oms_graphql_root_fields_total", **placements)
        == 3
    )  # asked for: placed, refused, or not allowed for the caller
    # Read at scrape time, and sampled by the process.
    assert ("oms_outbox_unrelayed_events", ()) in after
    assert ("oms_outbox_oldest_unrelayed_age_seconds", ()) in after
    assert value(after, "oms_db_pool_connections", pool="write", state="idle") >= 0
    assert any(name == "oms_db_pool_connections" for name, _ in after)


async def test_operation_names_past_the_limit_share_one_label(api: Api, world: World) -> None:
    from domain import metrics

    for i in range(metrics.MAX_OPERATION_NAMES + 5):
        metrics.operation_label(f"Invented{i}")
    await api.post("query SurelyNewName { __typename }", key=world.admin)
    figures = await scrape(api)
    assert (
        value(
            figures,
            "oms_graphql_operations_total",
            transport="http",
            type="query",
            operation="other",
        )
        >= 1
    )
    assert ("oms_graphql_operations_total", (("operation", "SurelyNewName"),)) not in figures


def request(client: str, authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "headers": headers, "client": (client, 40000)})


def test_who_may_read_the_metrics() -> None:
    local_only = MetricsEndpoint(engine=None, environ={})  # type: ignore[arg-type]
    assert local_only.allowed(request("127.0.0.1")) and local_only.allowed(request("::1"))
    assert not local_only.allowed(request("203.0.113.9"))
    with_token = MetricsEndpoint(engine=None, environ={"OMS_METRICS_TOKEN": "s3cret"})  # type: ignore[arg-type]
    assert with_token.allowed(request("203.0.113.9", "Bearer s3cret"))
    assert not with_token.allowed(request("127.0.0.1"))
    assert not with_token.allowed(request("203.0.113.9", "Bearer wrong"))
