"""SMTP sessions kept open between emails, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from jobs.notifications import SmtpConfig
from jobs.smtp_sessions import KEEP, SmtpSessions
from tests.receivers import SmtpServer, free_port


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    smtp = SmtpServer(free_port())
    smtp.start()
    yield smtp
    smtp.stop()


def message(n: int, to: str = "ada@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "orders@boutique.example"
    msg["To"] = to
    msg["Subject"] = f"Order {n}"
    msg["Message-ID"] = f"<m-{n}@oms>"
    msg.set_content(f"message {n}")
    return msg


def received(server: SmtpServer) -> list[str]:
    return [str(m["Message-ID"]) for _, _, m in server.inbox.messages]


def sessions_for(server: SmtpServer) -> SmtpSessions:
    return SmtpSessions(SmtpConfig.from_url(server.url + "?timeout=5"))


async def test_emails_sent_one_after_another_share_one_session(server: SmtpServer) -> None:
    sessions = sessions_for(server)
    try:
        for n in range(10):
            await sessions.send(message(n))
    finally:
        await sessions.close()
    assert received(server) == [f"<m-{n}@oms>" for n in range(10)]
    assert sessions.opened == 1


async def test_a_session_the_server_dropped_is_replaced_and_the_email_sent_once(
    server: SmtpServer,
) -> None:
    sessions = sessions_for(server)
    try:
        await sessions.send(message(1))
        server.stop()  # the kept session is cut, as by a server's idle timeout
        server.start()
        await sessions.send(message(2))
        await sessions.send(message(3))
    finally:
        await sessions.close()
    assert received(server) == ["<m-1@oms>", "<m-2@oms>", "<m-3@oms>"]  # each once
    assert sessions.opened == 2


async def test_a_refused_recipient_fails_that_email_and_the_next_one_goes_out(
    server: SmtpServer,
) -> None:
    server.inbox.refuse.add("nobody@example.com")
    sessions = sessions_for(server)
    try:
        await sessions.send(message(1))
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await sessions.send(message(2, to="nobody@example.com"))
        await sessions.send(message(3))
    finally:
        await sessions.close()
    assert received(server) == ["<m-1@oms>", "<m-3@oms>"]
    assert sessions.opened == 2  # the session that failed was not reused


async def test_emails_sent_at_once_each_get_a_session_and_only_a_few_are_kept(
    server: SmtpServer,
) -> None:
    sessions = sessions_for(server)
    try:
        await asyncio.gather(*(sessions.send(message(n)) for n in range(KEEP + 5)))
        assert sorted(received(server)) == sorted(f"<m-{n}@oms>" for n in range(KEEP + 5))
        assert sessions.opened == KEEP + 5
        assert sessions.idle == KEEP
        await asyncio.gather(*(sessions.send(message(100 + n)) for n in range(KEEP)))
        assert sessions.opened == KEEP + 5  # the kept ones served the next round
    finally:
        await sessions.close()
    assert sessions.idle == 0
