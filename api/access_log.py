"""The access log: one JSON line per HTTP request and per WebSocket operation, at INFO.

Each line says who asked (role, API key id, customer id: never a secret, nor an email),
what (operation name and type, query cost), how it went (HTTP status, top-level error
codes, the codes of business refusals under `userErrors`), how long it took and how
many bytes went each way, with the request id the client was given. Logger
`oms.access`, so a deployment can route or silence it like any other.

Very busy deployments choose what is written (OMS_ACCESS_LOG): `all` (the default),
`errors` (only requests that failed: status >= 400, a GraphQL error or a userError),
or `off`; and OMS_ACCESS_LOG_SAMPLE, the share (0 to 1) of the other requests that are
written (failures always are).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import request_id_var
from api.tracing import name_operation
from domain import metrics
from domain.access.principal import Principal
from schema import observed
from schema.observed import Observed

log = logging.getLogger("oms.access")

MODES = ("all", "errors", "off")


@dataclass(frozen=True, slots=True)
class AccessLogSettings:
    mode: str = "all"
    sample: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AccessLogSettings:
        mode = (environ.get("OMS_ACCESS_LOG") or "all").strip().lower()
        if mode not in MODES:
            raise ValueError(f"OMS_ACCESS_LOG must be one of {', '.join(MODES)}, not {mode!r}")
        raw = (environ.get("OMS_ACCESS_LOG_SAMPLE") or "1").strip()
        try:
            sample = float(raw)
        except ValueError:
            raise ValueError(
                f"OMS_ACCESS_LOG_SAMPLE must be a number from 0 to 1, not {raw!r}"
            ) from None
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"OMS_ACCESS_LOG_SAMPLE must be from 0 to 1, not {sample}")
        return cls(mode=mode, sample=sample)

    def wanted(self, failed: bool) -> bool:
        if self.mode == "off" or not log.isEnabledFor(logging.INFO):
            return False
        if failed:
            return True
        if self.mode == "errors":
            return False
        return self.sample >= 1.0 or random.random() < self.sample


def who(principal: Principal | None) -> dict[str, Any]:
    """The caller, as the log may name it: role and ids, never a secret or an email."""
    if principal is None:
        return {"role": "ANONYMOUS"}
    entry: dict[str, Any] = {"role": principal.role.value}
    if principal.api_key_id is not None:
        entry["key_id"] = principal.api_key_id
    if principal.customer_id is not None:
        entry["customer_id"] = principal.customer_id
        if principal.issuing_key_id is not None:
            entry["key_id"] = principal.issuing_key_id
    return entry


def _operation_fields(seen: Observed) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if seen.operation_type is not None:
        entry["operation_type"] = seen.operation_type
    if seen.operation_name is not None:
        entry["operation"] = seen.operation_name
    if seen.cost is not None:
        entry["cost"] = seen.cost
    if seen.errors:
        entry["errors"] = seen.errors
    if seen.user_errors:
        entry["user_errors"] = seen.user_errors
    return entry


# Paths with a label of their own in oms_http_responses_total; others are `other`.
_KNOWN_PATHS = ("/graphql", "/healthz", "/readyz", "/metrics", "/graphiql")
_KNOWN_PREFIXES = ("/documents/", "/graphiql-assets/")


def path_label(path: str) -> str:
    if path in _KNOWN_PATHS:
        return path
    for prefix in _KNOWN_PREFIXES:
        if path.startswith(prefix):
            return prefix + "*"
    return "other"


def count_operation(transport: str, seen: Observed, elapsed: float | None = None) -> None:
    """The operation's metrics (domain/metrics.py), whatever the log writes."""
    for code in seen.errors:
        metrics.ERRORS.labels(code).inc()
    for code in seen.user_errors:
        metrics.USER_ERRORS.labels(code).inc()
    if seen.operation_type is None:
        return
    for field_name in seen.root_fields:
        if not field_name.startswith("__"):
            metrics.ROOT_FIELDS.labels(seen.operation_type, field_name).inc()
    name = metrics.operation_label(seen.operation_name)
    metrics.OPERATIONS.labels(transport, seen.operation_type, name).inc()
    if elapsed is not None:
        metrics.OPERATION_SECONDS.labels(seen.operation_type, name).observe(elapsed)


class AccessLogMiddleware:
    """Writes the HTTP requests' lines (inside RequestIdMiddleware, whose id they carry).
    WebSocket operations are written by the WebSocket handler (api/websocket.py)."""

    def __init__(self, app: ASGIApp, settings: AccessLogSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        bytes_in = 0
        bytes_out = 0

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            bytes_in += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = message["status"]
                # Now, not when the request is done: the tracing middleware ends the
                # request's span with the response's last byte.
                name_operation(seen.operation_type, seen.operation_name, seen.cost)
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        seen, token = observed.begin()
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            observed.end(token)
            elapsed = time.perf_counter() - started
            metrics.HTTP_RESPONSES.labels(path_label(scope.get("path") or ""), str(status)).inc()
            count_operation("http", seen, elapsed)
            failed = status >= 400 or bool(seen.errors) or bool(seen.user_errors)
            if self.settings.wanted(failed):
                auth = (scope.get("state") or {}).get("auth")
                entry: dict[str, Any] = {
                    "request_id": request_id_var.get(),
                    "transport": "http",
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "bytes_in": bytes_in,
                    "bytes_out": bytes_out,
                    "principal": who(getattr(auth, "principal", None)),
                    **_operation_fields(seen),
                }
                log.info("access", extra=entry)


def log_websocket_operation(
    settings: AccessLogSettings,
    principal: Principal | None,
    operation_id: str,
    seen: Observed,
    started: float,
    results: int,
    outcome: str,
) -> None:
    """One line for an operation run over WebSocket, when it ends (`outcome`: complete,
    cancelled (by the client, or the socket closing) or error), with how many results
    (`next` messages) it sent."""
    failed = bool(seen.errors) or bool(seen.user_errors) or outcome == "error"
    if not settings.wanted(failed):
        return
    entry: dict[str, Any] = {
        "transport": "websocket",
        "operation_id": operation_id[:64],
        "outcome": outcome,
        "ms": round((time.perf_counter() - started) * 1000, 2),
        "results": results,
        "principal": who(principal),
        **_operation_fields(seen),
    }
    request_id = request_id_var.get()
    if request_id:
        entry["request_id"] = request_id
    log.info("access", extra=entry)
