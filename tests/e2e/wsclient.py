"""A minimal graphql-transport-ws client, as a mobile app's library would speak it."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets


class GraphQLWebSocket:
    def __init__(self, url: str, authorization: str | None) -> None:
        self.url = url
        self.authorization = authorization
        self.ws: Any = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> GraphQLWebSocket:
        self.ws = await websockets.connect(self.url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        payload = {"Authorization": self.authorization} if self.authorization else {}
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        if ack["type"] != "connection_ack":
            raise AssertionError(ack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def subscribe(self, query: str, variables: dict[str, Any]) -> str:
        op_id = str(next(self._ids))
        await self.ws.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        return op_id

    async def next(self, within: float = 10) -> dict[str, Any]:
        """The next message that is not a ping (answered with pong)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), within))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            return message  # type: ignore[no-any-return]
