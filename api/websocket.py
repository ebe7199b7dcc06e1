"""graphql-transport-ws as our clients need it: text frames, an `error` message for a
document that does not parse or validate, and a cap on open sockets per credential.

strawberry's handler and adapter do the protocol; these subclasses change only what
is said above (see the view, api/graphql_view.py, which uses them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol, cast

import orjson
from graphql import GraphQLError
from opentelemetry import trace
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from api.access_log import count_operation, log_websocket_operation
from api.tracing import name_operation
from domain import metrics
from domain.access.principal import Principal, Role
from schema import observed
from schema.input_guard import bad_operation_name, text_problem

TOO_MANY_CONNECTIONS = 4429

# Where a socket keeps the credential it counts under, in its ASGI scope.
_COUNTED_AS = "socket_counted_as"


# The database is away at connection_init (the credential cannot be checked): the
# standard "Try Again Later" close code.
TRY_AGAIN_LATER = 1013


class Unavailable(Exception):
    """A connection_init that cannot be served now; the client should reconnect later."""


class TooManySockets(Exception):
    """The credential already has as many open sockets as this process allows."""


_tracer = trace.get_tracer("oms.websocket")


class SocketCap:
    """Open sockets per credential in this process: taken when a socket is admitted at
    connection_init, given back when it closes, however it closes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def admit(self, scope: MutableMapping[str, Any], credential: str) -> bool:
        """Counts the socket of this ASGI scope under `credential`, if there is room."""
        count = self._open.get(credential, 0)
        if count >= self.limit:
            return False
        self._open[credential] = count + 1
        scope.setdefault("state", {})[_COUNTED_AS] = credential
        metrics.WEBSOCKETS.inc()
        return True

    def release(self, scope: MutableMapping[str, Any]) -> None:
        """Gives back the place of the socket of this scope, if it has one (once)."""
        credential = scope.get("state", {}).pop(_COUNTED_AS, None)
        if credential is None:
            return
        metrics.WEBSOCKETS.dec()
        count = self._open.get(credential, 0) - 1
        if count > 0:
            self._open[credential] = count
        else:
            self._open.pop(credential, None)

    def open_sockets(self, credential: str) -> int:
        return self._open.get(credential, 0)


def credential_of(principal: Principal, client_host: str | None) -> str:
    """What the cap counts by: the API key, the customer, or an anonymous client's address."""
    if principal.role is Role.ANONYMOUS:
        return f"anonymous:{client_host or '?'}"
    return principal.scope


class CappedView(Protocol):
    sockets: SocketCap


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Every message as a text frame. The view encodes JSON to bytes (orjson, fast over
    HTTP), which strawberry sends as binary frames; graphql-transport-ws messages are
    text, and the reference client (graphql-ws) cannot read binary ones."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """strawberry's graphql-transport-ws handler, with the changes said above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._results: dict[str, int] = {}  # `next` messages per operation (access log)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # strawberry closes the whole socket (4400) on a syntax error or an operation it
        # cannot find, ending the client's other subscriptions too. The protocol's
        # `error` message is for exactly this: "before execution starts, usually due to
        # validation errors"; it ends that one operation.
        return None

    async def shutdown(self) -> None:
        # The socket is gone: its place is free now, not once its operations have
        # finished cleaning up (which shutdown waits for).
        request = getattr(self.context, "request", None)
        if isinstance(request, WebSocket):
            cast(CappedView, self.view).sockets.release(request.scope)
        await super().shutdown()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManySockets:
            await self.websocket.close(code=TOO_MANY_CONNECTIONS, reason="Too many connections")
        except Unavailable:
            await self.websocket.close(code=TRY_AGAIN_LATER, reason="Service unavailable")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # What HTTP refuses before anything runs: an id or operation name with text that
        # cannot be stored nor answered back (a NUL, a lone surrogate).
        op_id: Any = message.get("id")
        if isinstance(op_id, str) and text_problem(op_id) is not None:
            await self.websocket.close(code=4400, reason="Invalid subscribe message id")
            return
        payload: Any = message.get("payload")
        bad_name = (
            bad_operation_name(payload.get("operationName")) if isinstance(payload, dict) else None
        )
        if bad_name is not None:
            await self.send_message({"id": op_id, "type": "error", "payload": [bad_name.formatted]})
            return
        # strawberry refuses past its limit with an error that has no code; same refusal,
        # with the code every other GraphQL error here carries.
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and len(self.operations) >= limit
            and message["id"] not in self.operations
        ):
            error = GraphQLError(
                f"At most {limit} operations at once on one connection",
                extensions={"code": "TOO_MANY_SUBSCRIPTIONS"},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        """strawberry's, in a span of its own (with tracing on), with its metrics and
        its access log line when it ends."""
        with _tracer.start_as_current_span("graphql websocket operation"):
            seen, token = observed.begin()
            started = time.perf_counter()
            outcome = "complete"
            metrics.SUBSCRIPTIONS.inc()
            try:
                await super().run_operation(operation)
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except Exception:
                outcome = "error"
                raise
            finally:
                observed.end(token)
                metrics.SUBSCRIPTIONS.dec()
                name_operation(seen.operation_type, seen.operation_name, seen.cost)
                count_operation("websocket", seen)
                self._log(operation.id, seen, started, outcome)

    def _log(self, operation_id: str, seen: Any, started: float, outcome: str) -> None:
        results = self._results.pop(operation_id, 0)
        settings = getattr(self.view, "access_log", None)
        if settings is not None:
            principal = getattr(self.context, "principal", None)
            log_websocket_operation(
                settings, principal, operation_id, seen, started, results, outcome
            )

    async def send_message(self, message: Any) -> None:
        if message.get("type") == "next":
            self._results[message["id"]] = self._results.get(message["id"], 0) + 1
        await super().send_message(message)
