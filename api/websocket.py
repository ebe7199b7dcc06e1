"""graphql-transport-ws as our clients need it, on strawberry's handler and adapter:
these subclasses change only what is said here (the view, api/graphql_view.py, uses
them)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Every message as a text frame. The view encodes JSON to bytes (orjson, fast over
    HTTP), which strawberry sends as binary frames; graphql-transport-ws messages are
    text, and the reference client (graphql-ws) cannot read binary ones."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
