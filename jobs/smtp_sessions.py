"""SMTP sessions kept open between messages.

A new SMTP session per email costs a TCP connect, the greeting, EHLO (and with it a
`getfqdn` lookup in a thread when no local hostname is given), perhaps STARTTLS and
AUTH, then QUIT: several round trips and, measured with bench/delivery.py, a good share
of the worker's CPU for each message. Mail servers expect a client that sends many
messages to send them over one session (RFC 5321 §3.3: "one or more transactions"), so
the worker keeps a few sessions per server open, each used by one message at a time.

A session that failed in any way is closed, never reused (its state is unknown). A
kept session the server closed meanwhile (an idle timeout on its side) fails on its
first command; the message is then tried once more on a new session. The retry cannot
send a message twice: a server that hung up before a transaction began accepted
nothing of it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib

if TYPE_CHECKING:
    from jobs.notifications import SmtpConfig

# Sessions idle longer than this are closed rather than reused: servers commonly drop
# idle clients after 30 s to 5 min, and one that did costs a failed command.
IDLE_SECONDS = 20.0
# Sessions kept open per server; the per-destination limit (jobs/resilience.py) bounds
# how many messages are sent at once, and beyond this many the extra are closed.
KEEP = 10

_local_hostname: str | None = None


def local_hostname() -> str:
    """The name given in EHLO, looked up once per process (aiosmtplib would look it up
    for every session, in a thread)."""
    global _local_hostname
    if _local_hostname is None:
        _local_hostname = socket.getfqdn() or "localhost"
    return _local_hostname


class _Kept:
    __slots__ = ("client", "since")

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.since = time.monotonic()


class SmtpSessions:
    """Open sessions to one SMTP server (one `SmtpConfig`)."""

    def __init__(self, config: SmtpConfig, keep: int = KEEP) -> None:
        self.config = config
        self.keep = keep
        self._idle: list[_Kept] = []
        self.opened = 0  # sessions connected over this object's life (for tests)

    async def send(self, message: EmailMessage) -> None:
        kept = self._take()
        if kept is not None:
            try:
                await kept.send_message(message)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                kept.close()  # hung up while idle: nothing of this message was taken
            except BaseException:
                kept.close()
                raise
            else:
                self._give_back(kept)
                return
        client = await self._connect()
        try:
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        self._give_back(client)

    @property
    def idle(self) -> int:
        """Sessions open and waiting for the next email."""
        return len(self._idle)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for kept in idle:
            await _quit(kept.client)

    def _take(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            kept = self._idle.pop()
            if now - kept.since < IDLE_SECONDS and kept.client.is_connected:
                return kept.client
            kept.client.close()
        return None

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.keep and client.is_connected:
            self._idle.append(_Kept(client))
        else:
            client.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.use_tls,
            start_tls=c.start_tls,
            timeout=c.timeout,
            local_hostname=local_hostname(),
        )
        await client.connect()
        self.opened += 1
        return client


async def _quit(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        await client.quit()
    client.close()
