"""Credentials partners can trust: revoking a key ends the customer tokens it minted,
any admin key `oms dev` accepts works, and a refusal says what the credential was taken
for (an API key or a customer token)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from api.auth import Authenticator, InvalidCredential
from domain.access.keys import chosen_secret_problem, ensure_admin_key
from domain.db import UnitOfWork
from tests.fixtures import World, variables
from tests.support import Api

ME = "{ me { email } }"
VIEWER = "{ viewer { role name } }"
REVOKE = (
    """mutation ($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } userErrors { code } } }"""
)


def refusal(response: Any) -> tuple[int, list[str | None], list[str]]:
    body = response.json()
    return (
        response.status_code,
        [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []],
        [e["message"] for e in body.get("errors") or []],
    )


async def channel_key(api: Api, world: World, name: str) -> tuple[str, str]:
    """A new web-fr key, made by the admin: (its id, its secret)."""
    created = (
        await api.op(
            "CreateApiKey",
            {"input": {"name": name, "role": "CHANNEL", "channel": "web-fr"}},
            key=world.admin,
        )
    )["createApiKey"]
    assert created["userErrors"] == []
    return created["apiKey"]["id"], created["secret"]


async def test_revoking_a_key_ends_the_customer_tokens_it_minted(
    api: Api, world: World, app_settings: Any
) -> None:
    key_id, secret = await channel_key(api, world, "Old storefront")
    token = await world.customer_token(api, channel_key=secret)
    sibling = await world.customer_token(api)  # minted by the channel's other key
    assert await api.run(ME, key=token) == {"me": {"email": "camille@example.com"}}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["key"] == int(claims["key"]) and claims["ch"]

    revoked = await api.run(REVOKE, {"id": key_id}, key=world.admin)
    assert revoked["revokeApiKey"]["userErrors"] == []

    assert refusal(await api.post(ME, key=token)) == (
        401,
        ["UNAUTHENTICATED"],
        ["revoked customer token: the API key that minted it was revoked"],
    )
    assert refusal(await api.post(ME, key=secret)) == (
        401,
        ["UNAUTHENTICATED"],
        ["unknown or revoked API key"],
    )
    # The same customer's token from a live key of the same channel still works.
    assert await api.run(ME, key=sibling) == {"me": {"email": "camille@example.com"}}
    # Documents take the same credentials.
    label = await api.http.get(
        "/returns/UmV0dXJuOjE=/label.html", headers={"Authorization": f"Bearer {token}"}
    )
    assert label.status_code == 401
    assert label.json()["errors"][0]["message"].startswith("revoked customer token")


async def test_a_token_without_its_minting_key_is_refused(
    api: Api, world: World, app_settings: Any, clock: Any
) -> None:
    """Tokens minted before they carried their key cannot be tied to one: refused (they
    lived at most 24 hours; the storefront mints a new one)."""
    claims = jwt.decode(await world.customer_token(api), options={"verify_signature": False})
    del claims["key"]
    legacy = jwt.encode(claims, app_settings.signing_key(), algorithm="HS256")
    assert refusal(await api.post(ME, key=legacy)) == (
        401,
        ["UNAUTHENTICATED"],
        ["invalid or expired customer token"],
    )


class CountingSessions:
    """A sessionmaker that counts the sessions (so the queries) it opens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.opened = 0

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        self.opened += 1
        async with self.inner() as session:
            yield session


async def test_a_revoked_key_ends_its_tokens_within_the_key_cache_time_at_no_extra_cost(
    api: Api, world: World, sessionmaker: Any, app_settings: Any, clock: Any
) -> None:
    key_id, secret = await channel_key(api, world, "Cached storefront")
    token = await world.customer_token(api, channel_key=secret)
    sessions = CountingSessions(sessionmaker)
    auth = Authenticator(
        sessions,  # type: ignore[arg-type]
        app_settings.signing_key(),
        cache_seconds=0.5,
        clock=clock,
    )
    # The key's own request reads it once; its tokens then ride on that answer.
    assert (await auth.authenticate(f"Bearer {secret}")).principal.role.value == "CHANNEL"
    for _ in range(20):
        assert (await auth.authenticate(f"Bearer {token}")).principal.customer_email
    assert sessions.opened == 1
    # A hundred sockets asking together, once the cache has expired: one query.
    await asyncio.sleep(0.55)
    principal = (await auth.authenticate(f"Bearer {token}")).principal
    assert sessions.opened == 2
    await asyncio.sleep(0.55)
    assert all(await asyncio.gather(*(auth.still_valid(principal) for _ in range(100))))
    assert sessions.opened == 3

    assert (await api.run(REVOKE, {"id": key_id}, key=world.admin))["revokeApiKey"][
        "userErrors"
    ] == []
    # Within the cache time the process may still trust what it read; after it, not.
    await asyncio.sleep(0.55)
    with pytest.raises(InvalidCredential, match="revoked customer token"):
        await auth.authenticate(f"Bearer {token}")
    with pytest.raises(InvalidCredential, match="unknown or revoked API key"):
        await auth.authenticate(f"Bearer {secret}")


# ---------- API keys whatever their prefix; what a refusal calls the credential ----------


async def test_an_admin_key_without_the_oms_prefix_works(
    api: Api, world: World, sessionmaker: Any
) -> None:
    secret = "correct-horse-battery-staple-2026"
    assert chosen_secret_problem(secret) is None
    async with UnitOfWork(sessionmaker) as uow:
        await ensure_admin_key(uow.session, secret)  # what `oms dev` does with OMS_ADMIN_KEY
    assert await api.run(VIEWER, key=secret) == {
        "viewer": {"role": "ADMIN", "name": "OMS_ADMIN_KEY"}
    }
    products = await api.op("UpsertProducts", variables("UpsertProducts"), key=secret)
    assert products["upsertProducts"]["userErrors"] == []


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ("oms_this_key_does_not_exist_00000000000000", "unknown or revoked API key"),
        ("no-prefix-and-unknown-0000000000000000", "unknown or revoked API key"),
        ("a.b", "unknown or revoked API key"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", "invalid or expired customer token"),
        ("not.a.token", "invalid or expired customer token"),
    ],
)
async def test_a_refusal_says_what_the_credential_was_taken_for(
    api: Api, world: World, credential: str, message: str
) -> None:
    assert refusal(await api.post(VIEWER, key=credential)) == (
        401,
        ["UNAUTHENTICATED"],
        [message],
    )


@pytest.mark.parametrize(
    "secret",
    [
        "short-admin-key",
        "an admin key with spaces in it",
        "three.part.secret-000000000000000",
        "non-ascii-ädmin-key-000000000000000",
        "x" * 201,
    ],
)
def test_oms_dev_refuses_an_admin_key_that_could_not_work(secret: str, tmp_path: Any) -> None:
    env = {
        **os.environ,
        "OMS_ADMIN_KEY": secret,
        "OMS_DATA_DIR": str(tmp_path),
        # Nothing may be reached: the refusal comes before anything starts.
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    out = subprocess.run(
        [sys.executable, "-m", "api", "dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("OMS_ADMIN_KEY is not usable as an API key: it must")
    assert out.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_what_a_chosen_secret_must_be() -> None:
    assert chosen_secret_problem("oms_demo_admin_key_0000000000000000") is None
    assert chosen_secret_problem("s3cr3t!-#$%&*+,/:;<=>?@[]^_`{|}~-x") is None
    assert chosen_secret_problem("a.b-just-one-dot-or-three.c.d.e") is None
    assert chosen_secret_problem("x" * 23) == "it must have 24 to 200 characters (it has 23)"
    assert chosen_secret_problem("x" * 200) is None
    assert chosen_secret_problem("tab\tinside-000000000000000") == (
        "it must be printable ASCII characters without spaces"
    )
    assert chosen_secret_problem("eyJhbGciOiJIUzI1NiJ9.e30.c2ln") == (
        "it must not contain exactly two dots (that is the shape of a customer token)"
    )
