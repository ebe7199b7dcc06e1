"""The outbound rules again at connection time, in the jobs that send: a webhook or a
channel publish target that points inside the network (stored before the rule, or a
name that now resolves elsewhere: DNS rebinding) is refused without any TCP connection
being made, recorded as the last attempt, and the job goes on; the allow-list lets a
listed internal host through; redirects are never followed. (Feed directories:
tests/jobs/test_feed_root.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis

from domain.access.principal import SYSTEM
from domain.db import UnitOfWork
from domain.outbound import AllowList, OutboundGuard, OutboundRules
from domain.webhooks import service as webhooks
from jobs import outbound
from jobs.publishing import publish_stock
from jobs.queue import ArqQueue
from jobs.relay import relay_once
from jobs.webhooks import deliver_webhook
from tests.fixtures import World
from tests.jobs.test_publishing import channel_input, configure, stocked
from tests.jobs.test_webhooks import deliveries, fetch, place_order
from tests.support import Api, FakeResolver


@dataclass
class TcpReceiver:
    """A plain HTTP/1.1 server that counts every TCP connection it accepts (a refused
    target must not even get one) and answers every request with `status`."""

    status: int = 200
    location: str | None = None
    port: int = 0
    connections: int = 0
    requests: list[list[str]] = field(default_factory=list)  # request line and headers

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]
            length = next(
                (int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")),
                0,
            )
            await reader.readexactly(length)
            self.requests.append(head)
            extra = f"location: {self.location}\r\n" if self.location else ""
            writer.write(
                f"HTTP/1.1 {self.status} X\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # a TLS handshake, a client that gave up: counted all the same
        finally:
            writer.close()

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(**kwargs: Any) -> TcpReceiver:
        receiver = TcpReceiver(**kwargs)
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        receiver.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return receiver

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture(autouse=True)
def relay_only_when_the_test_says(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = app.state.runtime.services.extra.get("event_hub")
    if hub is not None and hasattr(hub, "_relay"):
        monkeypatch.setattr(hub, "_relay", None)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_PUBLISH_BACKOFF_SECONDS", "0.02")
    monkeypatch.setenv("OMS_PUBLISH_MIN_INTERVAL_SECONDS", "0")


@pytest.fixture
def job_ctx(sessionmaker: Any, arq_redis: ArqRedis) -> dict[str, Any]:
    return {"sessionmaker": sessionmaker, "redis": arq_redis}


def production(
    resolver: FakeResolver | None = None, allow: str = "", feed_root: Path | str = "/nonexistent"
) -> OutboundGuard:
    """The worker's guard as production builds it (OMS_ENV=production)."""
    rules = OutboundRules(
        public_only=True,
        allow_http_loopback=False,
        feed_root=str(feed_root),
        allow=AllowList.parse(allow),
    )
    return OutboundGuard(rules, resolver or FakeResolver())


REBOUND = {
    "hooks.rebind.example": ["127.0.0.1"],
    "both.rebind.example": ["93.184.216.34", "127.0.0.1"],
}
# Internal spellings of the receiver's address ({port}), each refused before connecting.
INTERNAL = [
    "http://127.0.0.1:{port}/hook",
    "http://127.1:{port}/hook",
    "http://0x7f.1:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://017700000001:{port}/hook",
    "http://0.0.0.0:{port}/hook",  # reaches this machine on Linux
    "http://localhost:{port}/hook",
    "http://foo.localhost:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "https://hooks.rebind.example:{port}/hook",
    "https://both.rebind.example:{port}/hook",
]


async def insert_subscription(sessionmaker: Any, url: str) -> int:
    """A subscription row as one registered before the rule would be."""
    [row] = await fetch(
        sessionmaker,
        "INSERT INTO webhook_subscriptions (owner_role, url, topics, secret)"
        " VALUES ('ADMIN', $1, ARRAY['ORDER_PLACED'], 'whsec_test') RETURNING id",
        url,
    )
    return int(row["id"])


async def one_delivery(api: Api, world: World, sessionmaker: Any, queue: ArqQueue) -> int:
    await place_order(api, world)
    await relay_once(sessionmaker, queue, patience=10)
    [delivery] = await deliveries(sessionmaker)
    return int(delivery["id"])


class TestWebhooksAtConnectionTime:
    @pytest.mark.parametrize("url", INTERNAL)
    async def test_a_delivery_to_an_internal_address_is_refused_without_connecting(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        queue: ArqQueue,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
        url: str,
    ) -> None:
        receiver = await receivers()
        await insert_subscription(sessionmaker, url.format(port=receiver.port))
        delivery_id = await one_delivery(api, world, sessionmaker, queue)
        resolver = FakeResolver(REBOUND)

        result = await deliver_webhook({**job_ctx, "outbound": production(resolver)}, delivery_id)

        assert result == "dead"  # at the first attempt of 8: waiting would not help
        assert receiver.connections == 0
        [d] = await deliveries(sessionmaker)
        assert (d["status"], d["attempts"], d["last_status_code"]) == ("DEAD", 1, None)
        assert d["last_error"].startswith("FORBIDDEN_ADDRESS: ")
        assert "only public addresses" in d["last_error"]

    async def test_a_name_registered_public_that_now_resolves_inside_is_refused(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        queue: ArqQueue,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
    ) -> None:
        """DNS rebinding: the check at registration saw a public address."""
        receiver = await receivers()
        resolver = FakeResolver({"hooks.partner.example": ["93.184.216.34"]})
        guard = production(resolver)
        url = receiver.url(host="hooks.partner.example", scheme="https")
        async with UnitOfWork(sessionmaker) as uow:
            await webhooks.create_subscription(
                uow.session, SYSTEM, url, ["ORDER_PLACED"], outbound=guard
            )
        delivery_id = await one_delivery(api, world, sessionmaker, queue)
        resolver.answers["hooks.partner.example"] = ["127.0.0.1"]

        assert await deliver_webhook({**job_ctx, "outbound": guard}, delivery_id) == "dead"

        assert receiver.connections == 0
        [d] = await deliveries(sessionmaker)
        assert (d["status"], d["attempts"]) == ("DEAD", 1)
        assert d["last_error"].startswith("FORBIDDEN_ADDRESS: 'hooks.partner.example' resolves to")

    async def test_a_name_that_does_not_resolve_is_an_ordinary_failed_attempt(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        queue: ArqQueue,
        job_ctx: dict[str, Any],
    ) -> None:
        await insert_subscription(sessionmaker, "https://gone.partner.example/hook")
        delivery_id = await one_delivery(api, world, sessionmaker, queue)

        result = await deliver_webhook({**job_ctx, "outbound": production()}, delivery_id)

        assert result == "retrying"  # DNS may come back
        [d] = await deliveries(sessionmaker)
        assert (d["status"], d["attempts"]) == ("PENDING", 1)
        assert (
            d["last_error"]
            == "ConnectError: UNRESOLVABLE_HOST: 'gone.partner.example' does not resolve"
        )

    @pytest.mark.parametrize(
        ("allow", "host"),
        [
            ("127.0.0.0/8", "127.0.0.1"),
            ("127.0.0.1", "2130706433"),
            ("hooks.corp.example", "hooks.corp.example"),
            ("*.corp.example", "hooks.corp.example"),
            ("127.0.0.0/8", "hooks.corp.example"),
        ],
    )
    async def test_the_allow_list_lets_a_listed_internal_host_through(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        queue: ArqQueue,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
        allow: str,
        host: str,
    ) -> None:
        receiver = await receivers()
        await insert_subscription(sessionmaker, receiver.url(host=host))
        delivery_id = await one_delivery(api, world, sessionmaker, queue)
        guard = production(FakeResolver({"hooks.corp.example": ["127.0.0.1"]}), allow=allow)

        assert await deliver_webhook({**job_ctx, "outbound": guard}, delivery_id) == "delivered"

        assert receiver.connections == 1
        [request] = receiver.requests
        assert request[0] == "POST /hook HTTP/1.1"
        assert f"Host: {host}:{receiver.port}" in request  # the URL's, not the address
        [d] = await deliveries(sessionmaker)
        assert (d["status"], d["attempts"], d["last_status_code"]) == ("DELIVERED", 1, 200)

    @pytest.mark.parametrize("rules", ["production", "development"])
    async def test_a_redirect_to_an_internal_address_is_a_failure_and_not_followed(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        queue: ArqQueue,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
        rules: str,
    ) -> None:
        internal = await receivers()
        receiver = await receivers(status=302, location=internal.url("/admin"))
        if rules == "production":  # the receiver is allowed by name, the redirect is not
            guard = production(
                FakeResolver({"hooks.corp.example": ["127.0.0.1"]}), allow="hooks.corp.example"
            )
            url = receiver.url(host="hooks.corp.example")
        else:
            guard = OutboundGuard(
                OutboundRules(public_only=False, allow_http_loopback=True, feed_root="/"),
                FakeResolver(),
            )
            url = receiver.url()
        await insert_subscription(sessionmaker, url)
        delivery_id = await one_delivery(api, world, sessionmaker, queue)

        assert await deliver_webhook({**job_ctx, "outbound": guard}, delivery_id) == "retrying"

        assert (receiver.connections, internal.connections) == (1, 0)
        [d] = await deliveries(sessionmaker)
        assert (d["status"], d["attempts"], d["last_status_code"], d["last_error"]) == (
            "PENDING",
            1,
            302,
            "HTTP 302",
        )


async def publications(sessionmaker: Any) -> list[dict[str, Any]]:
    return await fetch(
        sessionmaker,
        "SELECT kind, status, attempts, last_status_code, last_error FROM channel_publications"
        " ORDER BY id",
    )


async def publish_channel_to(
    api: Api, world: World, sessionmaker: Any, receiver: TcpReceiver, url: str
) -> None:
    """web-fr publishes to `url`, stored as it was before the rule: configured in
    development (plain http to this machine), then changed in the row."""
    await configure(api, world, channel_input(publishTarget={"webhookUrl": receiver.url("/stock")}))
    await fetch(
        sessionmaker, "UPDATE channels SET publish_webhook_url = $1 WHERE code = 'web-fr'", url
    )


class TestChannelPublishingAtConnectionTime:
    @pytest.mark.parametrize("url", [u.removesuffix("/hook") + "/stock" for u in INTERNAL])
    async def test_a_push_to_an_internal_address_is_refused_without_connecting(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
        url: str,
    ) -> None:
        receiver = await receivers()
        await publish_channel_to(api, world, sessionmaker, receiver, url.format(port=receiver.port))
        await stocked(api, world)

        done = await publish_stock({**job_ctx, "outbound": production(FakeResolver(REBOUND))})

        assert (done["pushes"], done["acknowledged"]) == (1, 0)
        assert receiver.connections == 0
        [batch] = await publications(sessionmaker)
        assert (batch["status"], batch["attempts"], batch["last_status_code"]) == ("DEAD", 1, None)
        assert batch["last_error"].startswith("FORBIDDEN_ADDRESS: ")

    @pytest.mark.parametrize(
        ("allow", "host"),
        [("127.0.0.0/8", "127.0.0.1"), ("stock.corp.example", "stock.corp.example")],
    )
    async def test_the_allow_list_lets_a_listed_internal_host_through(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
        allow: str,
        host: str,
    ) -> None:
        receiver = await receivers()
        await publish_channel_to(
            api, world, sessionmaker, receiver, receiver.url("/stock", host=host)
        )
        await stocked(api, world)
        guard = production(FakeResolver({"stock.corp.example": ["127.0.0.1"]}), allow=allow)

        done = await publish_stock({**job_ctx, "outbound": guard})

        assert done["acknowledged"] >= 1
        assert receiver.connections >= 1
        assert all(r[0] == "POST /stock HTTP/1.1" for r in receiver.requests)
        assert {b["status"] for b in await publications(sessionmaker)} == {"ACKNOWLEDGED"}

    async def test_a_redirect_to_an_internal_address_is_a_failure_and_not_followed(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        job_ctx: dict[str, Any],
        receivers: Callable[..., Any],
    ) -> None:
        internal = await receivers()
        receiver = await receivers(status=302, location=internal.url("/admin"))
        url = receiver.url("/stock", host="stock.corp.example")
        await publish_channel_to(api, world, sessionmaker, receiver, url)
        await stocked(api, world)
        guard = production(
            FakeResolver({"stock.corp.example": ["127.0.0.1"]}), allow="stock.corp.example"
        )

        done = await publish_stock({**job_ctx, "outbound": guard})

        assert (done["pushes"], done["acknowledged"]) == (1, 0)
        assert (receiver.connections, internal.connections) == (1, 0)
        [batch] = await publications(sessionmaker)
        assert (
            batch["status"],
            batch["attempts"],
            batch["last_status_code"],
            batch["last_error"],
        ) == (
            "FAILED",
            1,
            302,
            "HTTP 302",
        )


class TestTls:
    """Connecting to the checked address changes nothing else: TLS verifies the
    certificate of the URL's host and sends it as SNI, and Host is the URL's."""

    @pytest.fixture
    def certificate(self, tmp_path: Path) -> tuple[Path, Path]:
        key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
        try:
            subprocess.run(
                [
                    *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
                    *("-subj", "/CN=hooks.partner.example"),
                    *("-addext", "subjectAltName=DNS:hooks.partner.example"),
                    *("-keyout", str(key), "-out", str(cert)),
                ],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError):
            pytest.skip("openssl is not available to make a certificate")
        return key, cert

    async def test_a_vetted_connection_keeps_the_names_certificate_and_sni(
        self, certificate: tuple[Path, Path]
    ) -> None:
        key, cert = certificate
        names: list[str | None] = []
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
        receiver = TcpReceiver()
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=server_tls)
        receiver.port = server.sockets[0].getsockname()[1]
        client_tls = ssl.create_default_context(cafile=str(cert))
        resolver = FakeResolver({"hooks.partner.example": ["127.0.0.1"]})
        guard = production(resolver, allow="127.0.0.0/8")
        transport = outbound.GuardedTransport(
            guard, ssl_context=client_tls, limits=httpx.Limits(max_connections=1)
        )
        try:
            async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
                answer = await outbound.post(
                    client, f"https://hooks.partner.example:{receiver.port}/hook", b"{}", {}
                )
                assert answer == outbound.Answer(200, None)
                # The same URL by address: the certificate is not for it.
                by_address = await outbound.post(
                    client, f"https://127.0.0.1:{receiver.port}/hook", b"{}", {}
                )
                assert (
                    by_address.error is not None and "CERTIFICATE_VERIFY_FAILED" in by_address.error
                )
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        assert names[0] == "hooks.partner.example"
        assert f"Host: hooks.partner.example:{receiver.port}" in receiver.requests[0]
        assert resolver.lookups == ["hooks.partner.example"]
