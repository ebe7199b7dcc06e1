"""Signed label links: they open one return's label, until they expire."""

from __future__ import annotations

import datetime as dt

from domain.returns.label_links import LINK_VALIDITY, label_link, label_token, token_opens

KEY = "k" * 48
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_a_token_opens_its_return_until_it_expires() -> None:
    token = label_token(KEY, 42, NOW + LINK_VALIDITY)
    assert token_opens(KEY, 42, token, NOW)
    assert token_opens(KEY, 42, token, NOW + LINK_VALIDITY - dt.timedelta(seconds=1))
    assert not token_opens(KEY, 42, token, NOW + LINK_VALIDITY + dt.timedelta(seconds=1))
    assert not token_opens(KEY, 43, token, NOW)  # another return
    assert not token_opens("another key" * 4, 42, token, NOW)
    expires, _, mac = token.partition(".")
    assert not token_opens(KEY, 42, f"{int(expires) + 3600}.{mac}", NOW)  # extended by hand
    for bad in ("", ".", "abc", f"{expires}.", f"x{expires}.{mac}", f"{'9' * 40}.{mac}"):
        assert not token_opens(KEY, 42, bad, NOW)


def test_a_link_is_absolute_and_signed_only_with_an_address_and_a_key() -> None:
    assert label_link(42, "UmV0dXJuOjQy", base_url=None, key=KEY, now=NOW) == (
        "/returns/UmV0dXJuOjQy/label.html"
    )
    assert label_link(42, "UmV0dXJuOjQy", base_url="https://oms.example", key=None, now=NOW) == (
        "/returns/UmV0dXJuOjQy/label.html"
    )
    link = label_link(42, "UmV0dXJuOjQy", base_url="https://oms.example/", key=KEY, now=NOW)
    assert link.startswith("https://oms.example/returns/UmV0dXJuOjQy/label.html?token=")
    assert token_opens(KEY, 42, link.rpartition("=")[2], NOW)
