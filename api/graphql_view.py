"""The GraphQL endpoint: strawberry's ASGI view with our authentication, context and
the status codes and media type of the GraphQL over HTTP specification."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import uuid
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types import ExecutionResult

from api.auth import Authenticated, Authenticator, InvalidCredential
from api.logs import request_id_var
from domain.access.principal import ANONYMOUS
from schema.context import Context, Services
from schema.input_guard import bad_input, text_problem

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

# Status and media type chosen while processing the result, applied to the response.
_status: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "status", default=None
)

_STATUS_BY_CODE = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "RATE_LIMITED": 429}


def _wants_graphql_response_json(accept: str) -> bool:
    """Per the spec, clients that list only application/json get the legacy format."""
    if GRAPHQL_RESPONSE_JSON in accept:
        return True
    return "application/json" not in accept


def _status_for(result: ExecutionResult, modern: bool) -> int:
    if not result.errors:
        return 200
    codes = {(e.extensions or {}).get("code") for e in result.errors}
    for code, status in _STATUS_BY_CODE.items():
        if code in codes and (result.data is None or code == "RATE_LIMITED"):
            return status
    if result.data is None and modern:
        request_error = all(not e.path for e in result.errors)
        return 400 if request_error else 500 if "INTERNAL" in codes else 200
    return 200


_expiry_watchers: set[asyncio.Task[None]] = set()


async def _close_when_expired(websocket: WebSocket, seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds))
    with contextlib.suppress(Exception):
        await websocket.close(code=4401, reason="credential expired")


def _bad_operation_name(name: object) -> GraphQLError | None:
    """An operation name PostgreSQL could not store nor the answer echo (a lone
    surrogate cannot be encoded): refused like any other bad text in a request."""
    problem = text_problem(name) if isinstance(name, str) else None
    if problem is None:
        return None
    return bad_input(f"operationName has invalid value: {problem}.", ["operationName"])


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, refusing what HTTP refuses before anything runs: a message
    id or operation name with text that cannot be answered back."""

    async def handle_subscribe(self, message: Any) -> None:
        op_id = message.get("id")
        if isinstance(op_id, str) and text_problem(op_id) is not None:
            await self.websocket.close(code=4400, reason="Invalid subscribe message id")
            return
        payload = message.get("payload")
        error = (
            _bad_operation_name(payload.get("operationName")) if isinstance(payload, dict) else None
        )
        if error is not None:
            await self.send_message({"id": op_id, "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)


class OmsGraphQL(GraphQL):
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self,
        schema: Schema,
        services: Services,
        authenticator: Authenticator,
        *,
        production: bool,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            max_subscriptions_per_connection=50,
            allowed_origins=allowed_origins or (() if production else ("*",)),
        )
        self.services = services
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Authenticate before anything runs: a bad credential is a 401, not a
            # GraphQL answer, and nothing is executed.
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            try:
                authenticated = await self.authenticator.authenticate(authorization)
            except InvalidCredential as exc:
                response = JSONResponse(
                    {"errors": [{"message": str(exc), "extensions": {"code": "UNAUTHENTICATED"}}]},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="oms"'},
                    media_type=GRAPHQL_RESPONSE_JSON,
                )
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["auth"] = authenticated

            async def send_with_allow(message: Any) -> None:
                if message["type"] == "http.response.start" and message["status"] == 405:
                    message["headers"] = [*message.get("headers", []), (b"allow", b"GET, POST")]
                await send(message)

            await super().__call__(scope, receive, send_with_allow)
            return
        await super().__call__(scope, receive, send)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """A mutation sent with GET is 405 Method Not Allowed (GraphQL over HTTP), not 400;
        a bad operation name is a request error like bad text in the variables."""
        request_data = kwargs.get("request_data")
        error = _bad_operation_name(getattr(request_data, "operation_name", None))
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
        context.principal = authenticated.principal
        context.principal_expires_at = authenticated.expires_at
        if authenticated.expires_at is not None and isinstance(context.request, WebSocket):
            # A customer token that expires closes the socket; the client must reconnect
            # with a fresh one (and resume with afterSequence).
            remaining = (authenticated.expires_at - self.services.clock()).total_seconds()
            task = asyncio.create_task(_close_when_expired(context.request, remaining))
            _expiry_watchers.add(task)
            task.add_done_callback(_expiry_watchers.discard)
        return None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if isinstance(request, Request):
            modern = _wants_graphql_response_json(request.headers.get("accept", ""))
            media = GRAPHQL_RESPONSE_JSON if modern else "application/json"
            _status.set((_status_for(result, modern), media))
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        chosen = _status.get()
        if chosen is not None:
            status, media = chosen
            if not sub_response.status_code:
                response.status_code = status
            response.headers["content-type"] = media + "; charset=utf-8"
        return response
