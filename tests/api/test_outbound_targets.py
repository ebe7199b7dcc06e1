"""Where the service may be told to send data, through the clients' own mutations: in
production, webhook subscriptions and channel publish webhooks reach only public
addresses unless the deployment allows more (OMS_OUTBOUND_ALLOW); feed directories stay
under the feed root everywhere. Every refusal is a typed userError naming the field,
and changes nothing in the database."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from domain.outbound import ip_literal, non_public_kind
from jobs.outbound import system_resolve
from tests.fixtures import World, variables
from tests.support import Api, FakeResolver

SIGNING_KEY = "production-signing-key-0123456789abcdef0123456789"
WEBHOOK_FIELD = ["input", "url"]
CHANNEL_FIELD = ["input", "publishTarget", "webhookUrl"]
FEED_FIELD = ["input", "publishTarget", "feedDirectory"]
# Names as production's resolver answers them here; anything else goes to the system's.
ANSWERS = {
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "marketplace.example.com": ["93.184.216.35"],
    "rebind.example.com": ["127.0.0.1"],
    "intranet.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "half.example.com": ["93.184.216.34", "192.168.1.10"],
    "erp.corp.example": ["10.99.0.1"],
    "stock.corp.example": ["192.168.7.7"],
}
RESOLVER = FakeResolver(ANSWERS, fallback=system_resolve)

# Every way of writing an internal address, and names that resolve to one.
REFUSED = [
    ("https://127.0.0.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://127.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://0x7f.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://2130706433/hook", "FORBIDDEN_ADDRESS"),
    ("https://017700000001/hook", "FORBIDDEN_ADDRESS"),
    ("https://0.0.0.0/hook", "FORBIDDEN_ADDRESS"),
    ("https://0/hook", "FORBIDDEN_ADDRESS"),
    ("https://[::1]/hook", "FORBIDDEN_ADDRESS"),
    ("https://[::ffff:127.0.0.1]/hook", "FORBIDDEN_ADDRESS"),
    ("https://[::]/hook", "FORBIDDEN_ADDRESS"),
    ("https://localhost/hook", "FORBIDDEN_ADDRESS"),
    ("https://foo.localhost/hook", "FORBIDDEN_ADDRESS"),
    ("https://169.254.169.254/latest/meta-data/", "FORBIDDEN_ADDRESS"),
    ("https://[fe80::1]/hook", "FORBIDDEN_ADDRESS"),
    ("https://10.0.0.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://172.16.0.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://192.168.1.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://[fc00::1]/hook", "FORBIDDEN_ADDRESS"),
    ("https://100.64.0.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://224.0.0.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://240.0.0.1/hook", "FORBIDDEN_ADDRESS"),
    ("https://rebind.example.com/hook", "FORBIDDEN_ADDRESS"),
    ("https://intranet.example.com/hook", "FORBIDDEN_ADDRESS"),
    ("https://metadata.example.com/hook", "FORBIDDEN_ADDRESS"),
    ("https://half.example.com/hook", "FORBIDDEN_ADDRESS"),
    ("https://nowhere.invalid/hook", "UNRESOLVABLE_HOST"),
    ("https://example.com@127.0.0.1/hook", "INVALID_URL"),
    ("https://user:secret@hooks.example.com/hook", "INVALID_URL"),
    ("http://127.0.0.1:8089/hook", "INSECURE_URL"),
]
ACCEPTED = [
    "https://93.184.216.34/hook",
    "https://[2606:4700::1111]:8443/hook",
    "https://hooks.example.com/oms-events",
]
WATCHED_TABLES = (
    "webhook_subscriptions",
    "webhook_deliveries",
    "channels",
    "channel_locations",
    "channel_publish_states",
    "channel_publications",
)


async def snapshot(engine: Any) -> dict[str, list[dict[str, Any]]]:
    """The rows a refused registration must leave as they were."""
    async with engine.connect() as conn:
        return {
            table: [
                dict(r._mapping)
                for r in await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
            ]
            for table in WATCHED_TABLES
        }


async def app_api(servers: dict[str, str], feed_root: Path, **env: str) -> AsyncIterator[Api]:
    from api.app import create_app
    from api.settings import Settings

    settings = Settings.from_env(
        {
            "OMS_ENV": "production",
            "OMS_SECRET_KEY": SIGNING_KEY,
            "DATABASE_URL": servers["database_url"],
            "REDIS_URL": servers["redis_url"],
            "OMS_DATA_DIR": servers["tmp"],
            "OMS_FEED_ROOT": str(feed_root),
            "OMS_AUTH_CACHE_SECONDS": "0",
            "OMS_LOG_JSON": "false",
            **env,
        }
    )
    application = create_app(settings, resolve=RESOLVER)
    async with (
        application.router.lifespan_context(application),
        Api.over_asgi(application) as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def production_api(servers: dict[str, str], feed_root: Path) -> AsyncIterator[Api]:
    """The app as production builds it (public addresses only), with names resolved
    by RESOLVER."""
    async for client in app_api(servers, feed_root):
        yield client


@pytest.fixture(scope="module")
async def allowing_api(servers: dict[str, str], feed_root: Path) -> AsyncIterator[Api]:
    """Production that must also call some internal hosts."""
    async for client in app_api(
        servers, feed_root, OMS_OUTBOUND_ALLOW="10.20.0.0/16, erp.corp.example"
    ):
        yield client


async def subscribe(api: Api, key: str, url: str) -> dict[str, Any]:
    sent = {"input": {"url": url, "topics": ["ORDER_PLACED"]}}
    return dict(
        (await api.op("CreateWebhookSubscription", sent, key=key))["createWebhookSubscription"]
    )


async def publish_to(api: Api, key: str, **target: str) -> dict[str, Any]:
    sent = variables("UpsertChannel")
    sent["input"]["publishTarget"] = target
    return dict((await api.op("UpsertChannel", sent, key=key))["upsertChannel"])


async def stored_target(api: Api, world: World) -> dict[str, Any]:
    data = await api.run(
        '{ channel(code: "web-fr") { publishTarget { webhookUrl feedDirectory } } }',
        key=world.admin,
    )
    return dict(data["channel"]["publishTarget"])


def refusal(payload: dict[str, Any], code: str, field: list[str]) -> None:
    """The whole answer of a refused mutation: nothing, and one typed error."""
    errors = payload.pop("userErrors")
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)]
    assert errors[0]["message"]
    assert set(payload.values()) == {None}


class TestRefusedInProduction:
    @pytest.mark.parametrize(("url", "code"), REFUSED)
    async def test_a_webhook_subscription_to_an_internal_address_is_refused(
        self, production_api: Api, world: World, engine: Any, url: str, code: str
    ) -> None:
        before = await snapshot(engine)
        for key in (world.partner, world.admin):
            refusal(await subscribe(production_api, key, url), code, WEBHOOK_FIELD)
        assert await snapshot(engine) == before

    @pytest.mark.parametrize(("url", "code"), REFUSED)
    async def test_a_channel_publish_webhook_to_an_internal_address_is_refused(
        self, production_api: Api, world: World, engine: Any, url: str, code: str
    ) -> None:
        before = await snapshot(engine)
        refusal(await publish_to(production_api, world.admin, webhookUrl=url), code, CHANNEL_FIELD)
        assert await snapshot(engine) == before
        assert await stored_target(production_api, world) == {
            "webhookUrl": None,
            "feedDirectory": None,
        }

    async def test_this_machines_own_name_is_refused_as_the_system_resolver_answers_it(
        self, production_api: Api, world: World, engine: Any
    ) -> None:
        name = socket.gethostname().lower()
        try:
            addresses = await system_resolve(name)
        except OSError:
            pytest.skip(f"{name} does not resolve here")
        if ip_literal(name) is not None or name == "localhost":
            pytest.skip("the host name is not a plain name")
        if all(non_public_kind(ipaddress.ip_address(a)) is None for a in addresses):
            pytest.skip(f"{name} resolves to public addresses here")
        before = await snapshot(engine)
        url = f"https://{name}/hook"
        refusal(
            await subscribe(production_api, world.partner, url), "FORBIDDEN_ADDRESS", WEBHOOK_FIELD
        )
        refusal(
            await publish_to(production_api, world.admin, webhookUrl=url),
            "FORBIDDEN_ADDRESS",
            CHANNEL_FIELD,
        )
        assert await snapshot(engine) == before


class TestAcceptedInProduction:
    @pytest.mark.parametrize("url", ACCEPTED)
    async def test_a_webhook_subscription_to_a_public_address_is_accepted(
        self, production_api: Api, world: World, url: str
    ) -> None:
        payload = await subscribe(production_api, world.partner, url)
        assert payload["userErrors"] == []
        assert payload["webhookSubscription"]["url"] == url
        listed = await production_api.run("{ webhookSubscriptions { url } }", key=world.partner)
        assert listed == {"webhookSubscriptions": [{"url": url}]}

    @pytest.mark.parametrize("url", ACCEPTED)
    async def test_a_channel_publish_webhook_to_a_public_address_is_accepted(
        self, production_api: Api, world: World, url: str
    ) -> None:
        payload = await publish_to(production_api, world.admin, webhookUrl=url)
        assert payload["userErrors"] == []
        assert await stored_target(production_api, world) == {
            "webhookUrl": url,
            "feedDirectory": None,
        }


class TestAllowList:
    @pytest.mark.parametrize(
        "url",
        [
            "https://10.20.1.5/hook",
            "https://[::ffff:10.20.1.5]/hook",
            "https://erp.corp.example/hook",  # a listed name, whatever it resolves to
            "https://hooks.example.com/hook",  # public stays allowed
        ],
    )
    async def test_a_listed_internal_target_is_accepted(
        self, allowing_api: Api, world: World, url: str
    ) -> None:
        subscribed = await subscribe(allowing_api, world.partner, url)
        assert subscribed["userErrors"] == []
        published = await publish_to(allowing_api, world.admin, webhookUrl=url)
        assert published["userErrors"] == []
        assert (await stored_target(allowing_api, world))["webhookUrl"] == url

    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("https://10.21.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://127.0.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://stock.corp.example/hook", "FORBIDDEN_ADDRESS"),
            ("http://10.20.1.5/hook", "INSECURE_URL"),
        ],
    )
    async def test_what_is_not_listed_stays_refused(
        self, allowing_api: Api, world: World, engine: Any, url: str, code: str
    ) -> None:
        before = await snapshot(engine)
        refusal(await subscribe(allowing_api, world.partner, url), code, WEBHOOK_FIELD)
        refusal(await publish_to(allowing_api, world.admin, webhookUrl=url), code, CHANNEL_FIELD)
        assert await snapshot(engine) == before


class TestFeedDirectories:
    """Confined to the feed root (here pytest's base temporary directory) in every
    environment: development's app here, production's in the last test."""

    @pytest.mark.parametrize(
        "path",
        [
            "/etc",
            "/etc/oms-feeds",
            "/",
            "{root}/..",
            "{tmp}/../../../../../../etc",
            "{root}/../elsewhere",
            "{tmp}/escape",  # a symlink inside the root to /etc
            "{tmp}/escape/oms",
            "{root}-sibling/feeds",
            "feeds/relative",
        ],
    )
    async def test_a_directory_outside_the_root_is_refused(
        self, api: Api, world: World, engine: Any, tmp_path: Path, feed_root: Path, path: str
    ) -> None:
        os.symlink("/etc", tmp_path / "escape")
        before = await snapshot(engine)
        directory = path.format(root=feed_root, tmp=tmp_path)
        refusal(
            await publish_to(api, world.admin, feedDirectory=directory), "INVALID_PATH", FEED_FIELD
        )
        assert await snapshot(engine) == before
        assert await stored_target(api, world) == {"webhookUrl": None, "feedDirectory": None}

    @pytest.mark.parametrize("path", ["{tmp}/feeds", "{tmp}/a/../feeds", "{tmp}/inside"])
    async def test_a_directory_under_the_root_is_accepted(
        self, api: Api, world: World, tmp_path: Path, path: str
    ) -> None:
        (tmp_path / "feeds").mkdir()
        os.symlink(tmp_path / "feeds", tmp_path / "inside")  # a symlink staying inside
        directory = path.format(tmp=tmp_path)
        payload = await publish_to(api, world.admin, feedDirectory=directory)
        assert payload["userErrors"] == []
        assert await stored_target(api, world) == {"webhookUrl": None, "feedDirectory": directory}

    async def test_production_confines_them_the_same_way(
        self, production_api: Api, world: World, engine: Any, tmp_path: Path
    ) -> None:
        before = await snapshot(engine)
        refusal(
            await publish_to(production_api, world.admin, feedDirectory="/etc"),
            "INVALID_PATH",
            FEED_FIELD,
        )
        assert await snapshot(engine) == before
        payload = await publish_to(production_api, world.admin, feedDirectory=str(tmp_path))
        assert payload["userErrors"] == []
