"""Outgoing HTTP of the worker's jobs (webhooks, channel publishing, inventory alerts):
every connection is checked by the outbound rules (domain/outbound.py) on the address
it is actually made to.

The check sits in httpcore's network backend, where a connection is opened: the host
is resolved once, every address is checked, and the socket is connected to a checked
address, never to the name (a second resolution could answer differently: DNS
rebinding). TLS still verifies the certificate for, and sends SNI of, the URL's host,
and the Host header is the URL's: only the TCP connection uses the vetted address.
Redirects are never followed, and environment proxies are not used, so the address
checked is the one the request goes to.

A refused connection is a permanent failure of that target (`Answer.forbidden`): the
jobs record it as the last attempt (dead letter) rather than retrying it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import certifi
import httpcore
import httpx

from domain.outbound import FORBIDDEN_ADDRESS, OutboundGuard, OutboundRules, Refused

HTTP_TIMEOUT_SECONDS = 10.0
# A whole attempt (a receiver can trickle its answer) stays well inside the jobs' leases.
ATTEMPT_DEADLINE_SECONDS = 30.0

# Resolutions run in threads of their own: a resolver that hangs (they are abandoned
# after the guard's time limit, but the thread runs on) cannot take the threads that
# asyncio.to_thread and the default executor give to everything else.
_RESOLVER_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oms-resolve")


async def system_resolve(host: str) -> list[str]:
    """The Resolver port over the C library's getaddrinfo, off the event loop."""
    infos = await asyncio.get_running_loop().run_in_executor(
        _RESOLVER_THREADS,
        functools.partial(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM),
    )
    return [str(info[4][0]) for info in infos]


def guard_from_env(environ: Mapping[str, str] | None = None) -> OutboundGuard:
    return OutboundGuard(
        OutboundRules.from_env(os.environ if environ is None else environ), system_resolve
    )


def guard(ctx: dict[str, Any]) -> OutboundGuard:
    """The worker's guard (built at startup), or one from the environment."""
    found: OutboundGuard | None = ctx.get("outbound")
    return found if found is not None else guard_from_env()


class ForbiddenTarget(httpcore.ConnectError):
    """The rules refuse the address a connection would go to."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, connecting only to addresses the guard has checked."""

    def __init__(self, outbound: OutboundGuard) -> None:
        self._guard = outbound
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._guard.addresses(host)
        except Refused as exc:
            if exc.code == FORBIDDEN_ADDRESS:
                raise ForbiddenTarget(f"{exc.code}: {exc.message}") from None
            raise httpcore.ConnectError(f"{exc.code}: {exc.message}") from None
        targets = [host] if addresses is None else [str(a) for a in addresses]
        error: Exception | None = None
        for target in targets:
            try:
                return await self._inner.connect_tcp(
                    target,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # the next checked address, if any
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenTarget(f"{FORBIDDEN_ADDRESS}: unix sockets are not called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (request and response mapping, exceptions) over a connection
    pool whose connections go through the guard. httpx takes no network backend, so
    the pool it builds is replaced by the same pool with ours."""

    def __init__(
        self, outbound: OutboundGuard, *, ssl_context: ssl.SSLContext, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):  # httpx changed
            raise TypeError("httpx.AsyncHTTPTransport no longer has a plain connection pool")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(outbound),
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle is the costly part of a client; do it once per process.
    return ssl.create_default_context(cafile=certifi.where())


def http_client(
    outbound: OutboundGuard, user_agent: str, limits: httpx.Limits | None = None
) -> httpx.AsyncClient:
    """A client for signed POSTs: 10 s timeouts, redirects never followed (a redirect is
    a failed attempt: following it would send signed data somewhere not configured),
    every connection checked."""
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        timeout=HTTP_TIMEOUT_SECONDS,
        follow_redirects=False,
        transport=GuardedTransport(outbound, ssl_context=_ssl_context(), limits=limits),
        headers={"User-Agent": user_agent},
        trust_env=False,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST came to."""

    status_code: int | None
    error: str | None  # None for a 2xx answer
    forbidden: bool = False  # refused by the outbound rules: trying again will not help


def _forbidden(exc: BaseException) -> ForbiddenTarget | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ForbiddenTarget):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """One POST; the answer's body is never read, so a receiver cannot make us download
    anything."""
    try:
        async with (
            asyncio.timeout(ATTEMPT_DEADLINE_SECONDS),
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            code = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError) as exc:
        refused = _forbidden(exc)
        if refused is not None:
            return Answer(None, str(refused)[:1000], forbidden=True)
        return Answer(None, f"{type(exc).__name__}: {exc}"[:1000])
    return Answer(code, None if 200 <= code < 300 else f"HTTP {code}")
