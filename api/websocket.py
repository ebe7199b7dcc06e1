"""graphql-transport-ws as our clients need it: text frames, and an `error` message for
a document that does not parse or validate.

strawberry's handler and adapter do the protocol; these subclasses change only what
is said above (see the view, api/graphql_view.py, which uses them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)


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

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # strawberry closes the whole socket (4400) on a syntax error or an operation it
        # cannot find, ending the client's other subscriptions too. The protocol's
        # `error` message is for exactly this: "before execution starts, usually due to
        # validation errors"; it ends that one operation.
        return None
