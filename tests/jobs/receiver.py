"""A partner's webhook receiver for tests: a real HTTP server on loopback (uvicorn)
that records every request and answers scripted status codes. The `receiver` fixture
(registered in tests/jobs/conftest.py) starts one per test."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import uvicorn


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a partner does with a request: check the HMAC and that it is fresh."""
    parts = dict(p.split("=", 1) for p in headers["x-oms-signature"].split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return (
        hmac.compare_digest(expected, parts["v1"])
        and parts["t"] == headers["x-oms-timestamp"]
        and abs(time.time() - int(parts["t"])) < 300
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """An ASGI app recording every request and answering scripted status codes
    (then `default`)."""

    port: int
    script: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = self.script.pop(0) if self.script else self.default
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(scope["path"], headers, body, status))
        extra = [(b"location", self.url("/elsewhere").encode())] if 300 <= status < 400 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": b"thanks"})


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = Receiver(port=sock.getsockname()[1])
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await asyncio.wait_for(server.listening.wait(), 10)
    yield app
    server.should_exit = True
    await task
    sock.close()
