"""The receivers of bench/delivery.py, in a process of their own (the load generator's
CPU must not slow them down): a webhook endpoint (uvicorn) and an SMTP server (aiosmtpd),
both answering after 50 ms and noting when they acknowledged each event or email.

    python -m bench.receivers     prints "PORTS <http> <smtp>", serves until SIGTERM
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvloop

from bench.common import ROOT, _track, free_port, terminate

ANSWER_SECONDS = 0.05
EMAIL_ID = re.compile(rb"Message-ID: <notification-(\d+)@oms>", re.IGNORECASE)


@dataclass
class Receiver:
    """The partner's endpoint (POST /hook): answers after `delay`, notes when each event
    was acknowledged (the first time: deliveries are at least once). GET /acks answers
    what both receivers acknowledged so far, as JSON."""

    mail: MailServer
    delay: float = ANSWER_SECONDS
    acked: dict[int, float] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        body = b""
        if scope["method"] == "GET":
            with self.mail.lock:
                body = orjson.dumps(
                    {"webhooks": self.acked, "emails": self.mail.acked},
                    option=orjson.OPT_NON_STR_KEYS,
                )
        else:
            await asyncio.sleep(self.delay)
            event_id = int(dict(scope["headers"])[b"x-oms-event-id"])
            self.acked.setdefault(event_id, time.time())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


class MailServer:
    """aiosmtpd (a thread of its own), accepting every message after `delay`; notes when
    each notification (by its Message-ID) was accepted."""

    def __init__(self, delay: float = ANSWER_SECONDS) -> None:
        from aiosmtpd.controller import Controller

        self.delay = delay
        self.acked: dict[int, float] = {}
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        found = EMAIL_ID.search(envelope.original_content or envelope.content)
        if found:
            with self.lock:
                self.acked.setdefault(int(found.group(1)), time.time())
        return "250 Message accepted for delivery"


def receivers_main() -> None:
    """`python -m bench.receivers`: both receivers in a process of their own
    (the load generator's CPU must not slow them down); prints their ports."""
    import uvicorn

    mail = MailServer()
    mail.controller.start()
    receiver = Receiver(mail)

    async def main() -> None:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(receiver, lifespan="off", log_level="warning", access_log=False,
                           loop="uvloop", http="httptools", backlog=2048)
        )  # fmt: skip
        print(f"PORTS {sock.getsockname()[1]} {mail.port}", flush=True)
        await server.serve(sockets=[sock])

    try:
        uvloop.run(main())
    finally:
        mail.controller.stop()


class Receivers:
    """The receivers' process, and what they acknowledged."""

    def __init__(self) -> None:
        self.proc = _track(
            subprocess.Popen(
                [sys.executable, "-m", "bench.receivers"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        )
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().decode().split()
        if not words or words[0] != "PORTS":
            raise RuntimeError("the receivers did not start")
        self.http_port, self.smtp_port = int(words[1]), int(words[2])

    async def acks(self, client: httpx.AsyncClient) -> tuple[dict[int, float], dict[int, float]]:
        found = orjson.loads((await client.get(f"http://127.0.0.1:{self.http_port}/acks")).content)
        return (
            {int(k): v for k, v in found["webhooks"].items()},
            {int(k): v for k, v in found["emails"].items()},
        )

    def stop(self) -> None:
        terminate(self.proc)


if __name__ == "__main__":
    receivers_main()
