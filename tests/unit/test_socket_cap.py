"""The cap on open WebSocket sockets per credential, as the view keeps it."""

from __future__ import annotations

from typing import Any

from api.websocket import SocketCap, credential_of
from domain.access.principal import ANONYMOUS, Principal, Role


def test_sockets_are_counted_per_credential_up_to_the_limit() -> None:
    cap = SocketCap(2)
    scopes: list[dict[str, Any]] = [{} for _ in range(4)]
    assert [cap.admit(scopes[0], "key:1"), cap.admit(scopes[1], "key:1")] == [True, True]
    assert cap.admit(scopes[2], "key:1") is False
    assert cap.admit(scopes[3], "key:2") is True
    assert (cap.open_sockets("key:1"), cap.open_sockets("key:2")) == (2, 1)


def test_a_released_socket_frees_its_place_once() -> None:
    cap = SocketCap(1)
    scope: dict[str, Any] = {"state": {}}
    assert cap.admit(scope, "customer:7")
    cap.release(scope)
    cap.release(scope)  # the handler and the view both release: the second is a no-op
    assert cap.open_sockets("customer:7") == 0
    assert cap.admit({}, "customer:7")
    cap.release({})  # a socket that was never admitted (refused, or no connection_init)
    assert cap.open_sockets("customer:7") == 1


def test_what_a_socket_counts_under() -> None:
    key = Principal(role=Role.CHANNEL, name="web", api_key_id=3, channel_id=1)
    customer = Principal(role=Role.CUSTOMER, customer_id=9, channel_id=1)
    assert credential_of(key, "10.0.0.1") == "key:3"
    assert credential_of(customer, "10.0.0.1") == "customer:9"
    assert credential_of(ANONYMOUS, "10.0.0.1") == "anonymous:10.0.0.1"
    assert credential_of(ANONYMOUS, None) == "anonymous:?"
