"""The service's Prometheus metrics, defined once for the API, the worker and the domain.

prometheus-client keeps them per process; with several API processes (`oms serve
--workers N`) the supervisor gives its children a shared directory
(PROMETHEUS_MULTIPROC_DIR) and `/metrics` adds them up (api/metrics_endpoint.py).
Gauges say how they add up across processes (`multiprocess_mode`).

Names and units follow Prometheus' conventions: `oms_` prefix, `_total` counters,
`_seconds` durations, base units. Labels have bounded values: operation names are
chosen by clients, so only the first MAX_OPERATION_NAMES distinct ones get a label of
their own (`operation_label`).
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from 5 ms to 10 s (a request), and to 60 s (a job, a delivery).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_OPERATION_NAMES = 200

OPERATIONS = Counter(
    "oms_graphql_operations_total",
    "GraphQL operations answered, by transport, operation type and name.",
    ["transport", "type", "operation"],
)
OPERATION_SECONDS = Histogram(
    "oms_graphql_operation_duration_seconds",
    "Time to answer a GraphQL operation over HTTP (request received to response sent).",
    ["type", "operation"],
    buckets=REQUEST_BUCKETS,
)
ROOT_FIELDS = Counter(
    "oms_graphql_root_fields_total",
    "Top-level fields asked for (availability, placeOrder, ...), by operation type: the"
    " schema's names, whatever the clients call their operations.",
    ["type", "field"],
)
HTTP_RESPONSES = Counter(
    "oms_http_responses_total", "HTTP responses, by path and status code.", ["path", "status"]
)
ERRORS = Counter(
    "oms_graphql_errors_total", "Top-level GraphQL errors, by their extensions code.", ["code"]
)
USER_ERRORS = Counter(
    "oms_graphql_user_errors_total", "Business refusals (userErrors), by code.", ["code"]
)
WEBSOCKETS = Gauge(
    "oms_websocket_connections", "WebSocket connections open.", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "oms_subscriptions", "Subscription operations running.", multiprocess_mode="livesum"
)
GC_PAUSE_SECONDS = Histogram(
    "oms_gc_pause_seconds",
    "Pauses of the garbage collector, by generation.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
DB_POOL_CONNECTIONS = Gauge(
    "oms_db_pool_connections",
    "Database connections of a pool, by pool and state (in_use, idle, overflow).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
OUTBOX_UNRELAYED = Gauge(
    "oms_outbox_unrelayed_events",
    "Committed events not yet stamped and handed to the relay's consumers.",
    multiprocess_mode="max",
)
OUTBOX_OLDEST_AGE_SECONDS = Gauge(
    "oms_outbox_oldest_unrelayed_age_seconds",
    "Age of the oldest committed event not yet relayed (0 when none).",
    multiprocess_mode="max",
)
RELAY_LAG_SECONDS = Histogram(
    "oms_relay_lag_seconds",
    "From an event's transaction to its relay (stamped, fanned out, jobs enqueued).",
    buckets=REQUEST_BUCKETS,
)
DELIVERIES = Counter(
    "oms_deliveries_total",
    "Delivery attempts by kind (webhook, email) and outcome (delivered, retrying, dead).",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "oms_job_duration_seconds",
    "Worker jobs' run time, by function.",
    ["function"],
    buckets=JOB_BUCKETS,
)
JOB_FAILURES = Counter(
    "oms_job_failures_total", "Worker jobs that raised (arq retries or gives up).", ["function"]
)
REDIS_ERRORS = Counter(
    "oms_redis_errors_total", "Calls to Redis that failed, by where they were made.", ["where"]
)

_names: set[str] = set()
_names_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """The label for a client-chosen operation name: itself while fewer than
    MAX_OPERATION_NAMES distinct names were seen, then `other` for new ones (a client
    inventing names must not grow the series without bound)."""
    if not name:
        return "anonymous"
    if name in _names:
        return name
    with _names_lock:
        if len(_names) < MAX_OPERATION_NAMES:
            _names.add(name)
            return name
    return "other"
