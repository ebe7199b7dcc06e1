"""The GraphQL endpoint: strawberry's ASGI view with our authentication, context and
the status codes and media type of the GraphQL over HTTP specification."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from api.access_log import AccessLogSettings
from api.auth import Authenticated, Authenticator, InvalidCredential
from api.graphql_request import (
    GRAPHQL_RESPONSE_JSON,
    HTTP_ERROR_CODES,
    decode_request_json,
    oversized_list,
    request_data,
    request_error,
    too_many_values,
    wants_graphql_response_json,
)
from api.logs import request_id_var
from api.websocket import (
    SocketCap,
    TextWebSocketAdapter,
    TooManySockets,
    TransportWSHandler,
    Unavailable,
    credential_of,
)
from domain.access.principal import ANONYMOUS
from schema.context import Context, Services
from schema.errors import RETRYABLE_CODES, retryable
from schema.input_guard import bad_operation_name

# Status and media type chosen while processing the result, applied to the response.
_status: contextvars.ContextVar[tuple[int, str, dict[str, str]] | None] = contextvars.ContextVar(
    "status", default=None
)

log = logging.getLogger("oms.http")

GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql.html"
GRAPHIQL_ASSETS = Path(__file__).parent / "static" / "graphiql"
logger = logging.getLogger(__name__)

_STATUS_BY_CODE = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "RATE_LIMITED": 429}


def _status_for(result: ExecutionResult, modern: bool) -> int:
    if not result.errors:
        return 200
    codes = {(e.extensions or {}).get("code") for e in result.errors}
    # The database is away or a lock was not granted (schema/errors.py): 503 with
    # Retry-After, whatever else the answer holds, as 429 is for the rate limit, so
    # that clients and proxies that look only at the status retry too.
    if codes & RETRYABLE_CODES:
        return 503
    for code, status in _STATUS_BY_CODE.items():
        if code in codes and (result.data is None or code == "RATE_LIMITED"):
            return status
    if result.data is None and modern:
        request_error = all(not e.path for e in result.errors)
        return 400 if request_error else 500 if "INTERNAL" in codes else 200
    return 200


# Where a WebSocket's scope keeps the task that watches its credential, cancelled when
# the connection ends.
_WATCHER = "oms.credential_watcher"
# How often an open WebSocket asks whether the key its credential stands on was
# revoked (through the authenticator's cache, so at most one query per key and cache
# period in a process, however many sockets).
MIN_REVOCATION_CHECK_SECONDS = 1.0


async def _watch_credential(
    websocket: WebSocket,
    authenticator: Authenticator,
    authenticated: Authenticated,
    clock: Callable[[], dt.datetime],
) -> None:
    """Close the socket (4401) when its credential expires, or once the API key it
    stands on (the key, or the key that minted the customer token) is revoked."""
    principal, expires_at = authenticated.principal, authenticated.expires_at
    watch_key = principal.credential_key_id is not None
    interval = max(authenticator.cache_seconds, MIN_REVOCATION_CHECK_SECONDS)
    while True:
        remaining = None if expires_at is None else (expires_at - clock()).total_seconds()
        if remaining is not None and remaining <= 0:
            reason = "credential expired"
            break
        if not watch_key:
            assert remaining is not None
            await asyncio.sleep(remaining)
            continue
        await asyncio.sleep(interval if remaining is None else min(interval, remaining))
        try:
            live = await authenticator.still_valid(principal)
        except Exception:  # the database away for a moment: ask again next time
            logger.warning("could not check a WebSocket's credential", exc_info=True)
            continue
        if not live:
            reason = "credential revoked"
            break
    with contextlib.suppress(Exception):
        await websocket.close(code=4401, reason=reason)


class OmsGraphQL(GraphQL):
    websocket_adapter_class = TextWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self,
        schema: Schema,
        services: Services,
        authenticator: Authenticator,
        *,
        production: bool,
        allowed_origins: tuple[str, ...] = (),
        ws_init_timeout_seconds: float = 10.0,
        max_sockets_per_credential: int = 100,
        ide_authorization: str | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=ws_init_timeout_seconds),
            max_subscriptions_per_connection=50,
            allowed_origins=allowed_origins or (() if production else ("*",)),
        )
        self.services = services
        self.authenticator = authenticator
        self.sockets = SocketCap(max_sockets_per_credential)
        # What the WebSocket handler writes to the access log (set by create_app).
        self.access_log: AccessLogSettings | None = None
        # GraphiQL (development only) opens with this credential in its headers.
        self.ide_authorization = ide_authorization

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                # However the socket ended (closed, dropped, cancelled), its place is
                # free (the handler frees it first as it shuts down; this is the
                # backstop), and nothing watches its credential any more.
                self.sockets.release(scope)
                watcher = scope.get("state", {}).pop(_WATCHER, None)
                if watcher is not None:
                    watcher.cancel()
            return
        headers = dict(scope.get("headers") or [])
        accept = headers.get(b"accept", b"").decode("latin-1")
        # Authenticate before anything runs: a bad credential is a 401, not a GraphQL
        # answer, and nothing is executed.
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        try:
            authenticated = await self.authenticator.authenticate(authorization)
        except InvalidCredential as exc:
            response = request_error(
                str(exc),
                "UNAUTHENTICATED",
                401,
                accept,
                headers={"WWW-Authenticate": 'Bearer realm="oms"'},
            )
            await response(scope, receive, send)
            return
        except Exception as exc:
            # An API key is looked up in the database: while it is away, the answer is
            # a retryable 503 in JSON, like any other refusal (uvicorn's would be a
            # text/plain 500).
            transient = retryable(exc)
            if transient is None:
                raise
            log.warning("%s while authenticating: %s", transient.code, exc)
            response = request_error(
                transient.message,
                transient.code,
                503,
                accept,
                headers={"Retry-After": str(transient.retry_after)},
                extensions={"retryable": True, "retryAfter": transient.retry_after},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["auth"] = authenticated
        answer: Response
        try:
            answer = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            # Malformed requests (strawberry's and ours) answer JSON like every other
            # error, never text/plain.
            code = HTTP_ERROR_CODES.get(exc.status_code, "BAD_REQUEST")
            extra = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            answer = request_error(exc.reason, code, exc.status_code, accept, headers=extra)
        await answer(scope, receive, send)

    async def parse_http_body(self, request: Any) -> GraphQLRequestData:
        """strawberry's, stricter: a POST body must be a JSON object (not a string,
        number, list or null) and its variables an object whose lists are no longer
        than any operation accepts, all checked before anything else reads them.
        Invalid UTF-8, lone surrogates and JSON nested deeper than 1,024 levels are
        malformed JSON to orjson: 400 like any malformed body."""
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if request.method == "POST" and content_type == "application/json":
            body = await request.get_body()
            problem = too_many_values(body)
            if problem is not None:
                raise HTTPException(413, problem)
            data = self.parse_json(body)
            if not isinstance(data, dict):
                raise HTTPException(400, "The request body must be a JSON object")
            parsed = request_data(data)
        else:
            # GET (query parameters) and unsupported content types (strawberry's 400).
            found = await super().parse_http_body(request)
            if isinstance(found, list):  # pragma: no cover - batching is off
                raise HTTPException(400, "Batched requests are not supported")
            parsed = found
        problem = oversized_list(parsed.variables)
        if problem is not None:
            raise HTTPException(413, problem)
        return parsed

    def decode_json(self, data: str | bytes) -> object:
        return decode_request_json(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our GraphiQL page: its scripts and styles are served by this process
        (/graphiql-assets, api/static), so it works offline, and in development it
        opens with the demo admin key in its headers."""
        config = {
            "authorization": self.ide_authorization,
            "defaultQuery": "{\n  viewer { role name }\n  channels { code name currency }\n}\n",
        }
        # `<` escaped: nothing in the configuration can close the script element.
        encoded = orjson.dumps(config).decode().replace("<", "\\u003c")
        return HTMLResponse(GRAPHIQL_PAGE.read_text().replace("{{CONFIG}}", encoded))

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """A mutation sent with GET is 405 Method Not Allowed (GraphQL over HTTP), not 400;
        a bad operation name is a request error like bad text in the variables."""
        request_data = kwargs.get("request_data")
        error = bad_operation_name(getattr(request_data, "operation_name", None))
        if error is not None:
            return ExecutionResult(data=None, errors=[error])
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            adapter = kwargs.get("request_adapter")
            if (
                exc.status_code == 400
                and adapter is not None
                and adapter.method == "GET"
                and "not allowed" in exc.reason
            ):
                raise HTTPException(405, exc.reason) from exc
            raise

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        request_id = request_id_var.get() or uuid.uuid4().hex
        auth: Authenticated = request.scope.get("state", {}).get("auth") or Authenticated(ANONYMOUS)
        context = Context(
            self.services, auth.principal, request_id, request=request, response=response
        )
        context.principal_expires_at = auth.expires_at
        return context

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        if authorization is None and isinstance(context.request, WebSocket):
            authorization = context.request.headers.get("authorization")
        try:
            authenticated = await self.authenticator.authenticate(authorization)
        except InvalidCredential as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        except Exception as exc:
            if retryable(exc) is None:
                raise
            raise Unavailable() from exc
        request = context.request
        if isinstance(request, WebSocket):
            credential = credential_of(
                authenticated.principal, request.client.host if request.client else None
            )
            if not self.sockets.admit(request.scope, credential):
                raise TooManySockets(credential)
        context.principal = authenticated.principal
        context.principal_expires_at = authenticated.expires_at
        watched = (
            authenticated.expires_at is not None
            or authenticated.principal.credential_key_id is not None
        )
        if watched and isinstance(context.request, WebSocket):
            # A customer token that expires, or a credential whose key is revoked, closes
            # the socket; the client must reconnect with a valid one (and resume with
            # afterSequence).
            task = asyncio.create_task(
                _watch_credential(
                    context.request, self.authenticator, authenticated, self.services.clock
                )
            )
            state = context.request.scope.setdefault("state", {})
            previous = state.get(_WATCHER)
            if previous is not None:  # a second connection_init is refused anyway
                previous.cancel()
            state[_WATCHER] = task
        return None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if result.errors and result.data is None and all(not e.path for e in result.errors):
            # Refused before execution: per the GraphQL spec no `data` entry at all (each
            # error says why in its code: schema.parsing.code_request_errors).
            response.pop("data", None)
        if isinstance(request, Request):
            modern = wants_graphql_response_json(request.headers.get("accept", ""))
            media = GRAPHQL_RESPONSE_JSON if modern else "application/json"
            headers = {}
            for error in result.errors or ():
                retry_after = (error.extensions or {}).get("retryAfter")
                if retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
            _status.set((_status_for(result, modern), media, headers))
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        chosen = _status.get()
        if chosen is not None:
            status, media, headers = chosen
            if not sub_response.status_code:
                response.status_code = status
            response.headers["content-type"] = media + "; charset=utf-8"
            response.headers.update(headers)
        return response
