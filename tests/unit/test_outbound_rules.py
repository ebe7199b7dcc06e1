"""The outbound rules (domain/outbound.py) without a database: how hosts are read, which
addresses are public, the allow-list, the settings, and feed directory confinement.
Names resolve through a fake of the Resolver port."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from pathlib import Path

import pytest

from domain.errors import Collector
from domain.outbound import (
    AllowList,
    OutboundGuard,
    OutboundRules,
    Refused,
    ip_literal,
    non_public_kind,
)
from tests.support import FakeResolver

AT: list[str | int] = ["input", "url"]


def production(
    resolver: FakeResolver | None = None, allow: str = "", feed_root: str = "/srv/feeds"
) -> OutboundGuard:
    rules = OutboundRules(
        public_only=True,
        allow_http_loopback=False,
        feed_root=feed_root,
        allow=AllowList.parse(allow),
        resolve_timeout=0.2,
    )
    return OutboundGuard(rules, resolver or FakeResolver())


def development(resolver: FakeResolver | None = None) -> OutboundGuard:
    rules = OutboundRules(public_only=False, allow_http_loopback=True, feed_root="/srv/feeds")
    return OutboundGuard(rules, resolver or FakeResolver())


async def problems(guard: OutboundGuard, url: str) -> list[tuple[str, list[str]]]:
    errors = Collector()
    await guard.check_url(errors, url, AT)
    return [(e.code, e.field or []) for e in errors.errors]


class TestHostLiterals:
    """Hosts read as the C resolver reads them (inet_aton), which `ipaddress` does not."""

    @pytest.mark.parametrize(
        ("host", "address"),
        [
            ("127.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0x7f.0.0.1", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("017700000001", "127.0.0.1"),
            ("0177.0.0.01", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("0", "0.0.0.0"),  # noqa: S104 (an address read, not bound)
            ("00", "0.0.0.0"),  # noqa: S104 (an address read, not bound)
            ("0.0.0.0", "0.0.0.0"),  # noqa: S104 (an address read, not bound)
            ("10.1", "10.0.0.1"),
            ("0xa9fea9fe", "169.254.169.254"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
            ("[::]", "::"),
            ("FE80::1", "fe80::1"),
        ],
    )
    def test_an_address_in_any_spelling_is_read_as_the_resolver_reads_it(
        self, host: str, address: str
    ) -> None:
        assert ip_literal(host) == ipaddress.ip_address(address)

    @pytest.mark.parametrize(
        "host",
        ["localhost", "example.com", "1.2.3.4.5", "08", "0x", "256.1.1.1", "4294967296", "1..2"],
    )
    def test_anything_else_is_a_name(self, host: str) -> None:
        assert ip_literal(host) is None


class TestPublicAddresses:
    @pytest.mark.parametrize(
        ("address", "kind"),
        [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
            ("0.0.0.0", "unspecified"),  # noqa: S104
            ("::", "unspecified"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.254", "private"),
            ("192.168.1.1", "private"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("100.127.255.254", "shared (carrier-grade NAT)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("ff02::1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
            ("fec0::1", "site-local"),
            ("198.18.0.1", "private"),  # benchmarking
            ("192.0.2.1", "private"),  # documentation
            ("2001:db8::1", "private"),
        ],
    )
    def test_non_public_addresses_and_why(self, address: str, kind: str) -> None:
        assert non_public_kind(ipaddress.ip_address(address)) == kind

    @pytest.mark.parametrize(
        "address",
        ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"],
    )
    def test_public_addresses(self, address: str) -> None:
        assert non_public_kind(ipaddress.ip_address(address)) is None


class TestRegistrationInProduction:
    RESOLVER = {
        "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
        "rebind.example.com": ["127.0.0.1"],
        "intranet.example.com": ["10.1.2.3"],
        "metadata.example.com": ["169.254.169.254"],
        "half.example.com": ["93.184.216.34", "192.168.1.10"],
        "v6only.example.com": ["::1"],
        "mapped.example.com": ["::ffff:10.0.0.1"],
        "empty.example.com": [],
    }

    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("https://127.0.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://127.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://0x7f.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://2130706433/hook", "FORBIDDEN_ADDRESS"),
            ("https://017700000001/hook", "FORBIDDEN_ADDRESS"),
            ("https://127.0.0.1.:8443/hook", "FORBIDDEN_ADDRESS"),
            ("https://0.0.0.0/hook", "FORBIDDEN_ADDRESS"),
            ("https://0/hook", "FORBIDDEN_ADDRESS"),
            ("https://[::1]/hook", "FORBIDDEN_ADDRESS"),
            ("https://[::ffff:127.0.0.1]/hook", "FORBIDDEN_ADDRESS"),
            ("https://[::]/hook", "FORBIDDEN_ADDRESS"),
            ("https://localhost/hook", "FORBIDDEN_ADDRESS"),
            ("https://LOCALHOST./hook", "FORBIDDEN_ADDRESS"),
            ("https://foo.localhost/hook", "FORBIDDEN_ADDRESS"),
            ("https://169.254.169.254/latest/meta-data/", "FORBIDDEN_ADDRESS"),
            ("https://[fe80::1]/hook", "FORBIDDEN_ADDRESS"),
            ("https://10.0.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://172.16.5.4/hook", "FORBIDDEN_ADDRESS"),
            ("https://192.168.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://[fd00::1]/hook", "FORBIDDEN_ADDRESS"),
            ("https://100.64.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://224.0.0.251/hook", "FORBIDDEN_ADDRESS"),
            ("https://240.0.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("https://rebind.example.com/hook", "FORBIDDEN_ADDRESS"),
            ("https://intranet.example.com/hook", "FORBIDDEN_ADDRESS"),
            ("https://metadata.example.com/hook", "FORBIDDEN_ADDRESS"),
            ("https://half.example.com/hook", "FORBIDDEN_ADDRESS"),  # one bad answer is enough
            ("https://v6only.example.com/hook", "FORBIDDEN_ADDRESS"),
            ("https://mapped.example.com/hook", "FORBIDDEN_ADDRESS"),
            ("https://nowhere.example.com/hook", "UNRESOLVABLE_HOST"),
            ("https://empty.example.com/hook", "UNRESOLVABLE_HOST"),
            ("https://example.com@127.0.0.1/hook", "INVALID_URL"),
            ("https://user:pass@hooks.example.com/hook", "INVALID_URL"),
            ("https://hooks.example.com\\@127.0.0.1/hook", "INVALID_URL"),
            ("https://%31%32%37.0.0.1/hook", "INVALID_URL"),
            ("https://127.0.0.1%2f.example.com/hook", "INVALID_URL"),
            ("https://[fe80::1%25eth0]/hook", "INVALID_URL"),
            ("https://hooks.example.com:99999/hook", "INVALID_URL"),
            ("http://hooks.example.com/hook", "INSECURE_URL"),
            ("http://127.0.0.1:8089/hook", "INSECURE_URL"),
        ],
    )
    async def test_a_url_that_is_or_may_reach_inside_the_network_is_refused(
        self, url: str, code: str
    ) -> None:
        assert await problems(production(FakeResolver(self.RESOLVER)), url) == [(code, AT)]

    @pytest.mark.parametrize(
        "url",
        [
            "https://93.184.216.34/hook",
            "https://[2606:4700::1111]:8443/hook",
            "https://hooks.example.com/oms?x=1",
            "https://HOOKS.example.com./hook",
        ],
    )
    async def test_a_public_url_is_accepted(self, url: str) -> None:
        assert await problems(production(FakeResolver(self.RESOLVER)), url) == []

    async def test_a_literal_needs_no_resolution_and_a_name_is_resolved_once(self) -> None:
        resolver = FakeResolver(self.RESOLVER)
        guard = production(resolver)
        await problems(guard, "https://93.184.216.34/hook")
        await problems(guard, "https://0x7f.1/hook")
        await problems(guard, "https://localhost/hook")
        assert resolver.lookups == []
        await problems(guard, "https://hooks.example.com./hook")
        assert resolver.lookups == ["hooks.example.com"]

    async def test_resolution_is_bounded_in_time(self) -> None:
        guard = production(FakeResolver({"slow.example.com": ["93.184.216.34"]}, delay=30))
        started = time.monotonic()
        assert await problems(guard, "https://slow.example.com/hook") == [("UNRESOLVABLE_HOST", AT)]
        assert time.monotonic() - started < 2  # the limit is 0.2 s here, 2 s by default

    async def test_resolution_does_not_block_the_event_loop(self) -> None:
        guard = production(FakeResolver({"slow.example.com": ["93.184.216.34"]}, delay=0.1))
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        assert await problems(guard, "https://slow.example.com/hook") == []
        ticker.cancel()
        assert ticks >= 5

    async def test_the_refusal_does_not_reveal_what_a_name_resolves_to(self) -> None:
        with pytest.raises(Refused) as refused:
            await production(FakeResolver(self.RESOLVER)).addresses("intranet.example.com")
        assert refused.value.code == "FORBIDDEN_ADDRESS"
        assert "10.1.2.3" not in refused.value.message
        assert "private" in refused.value.message


class TestAllowList:
    RESOLVER = {"erp.corp.example": ["10.20.1.5"], "stock.corp.example": ["10.99.0.1"]}

    @pytest.mark.parametrize(
        ("allow", "url"),
        [
            ("10.20.0.0/16", "https://10.20.1.5/hook"),
            ("10.20.0.0/16", "https://erp.corp.example/hook"),  # resolves into the network
            ("10.20.0.0/16", "https://[::ffff:10.20.1.5]/hook"),
            ("10.20.1.5", "https://10.20.1.5/hook"),
            ("erp.corp.example", "https://erp.corp.example/hook"),
            ("*.corp.example", "https://stock.corp.example/hook"),
            ("fd00::/8", "https://[fd00::5]/hook"),
            ("127.0.0.0/8", "https://localhost/hook"),
            ("127.0.0.0/8", "https://127.1/hook"),
            (" 192.168.0.0/16 , erp.corp.example ,", "https://erp.corp.example/hook"),
        ],
    )
    async def test_a_listed_network_or_name_is_let_through(self, allow: str, url: str) -> None:
        guard = production(FakeResolver(self.RESOLVER), allow=allow)
        assert await problems(guard, url) == []

    @pytest.mark.parametrize(
        ("allow", "url", "code"),
        [
            ("10.20.0.0/16", "https://10.21.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("10.20.0.0/16", "https://stock.corp.example/hook", "FORBIDDEN_ADDRESS"),
            ("erp.corp.example", "https://stock.corp.example/hook", "FORBIDDEN_ADDRESS"),
            ("*.corp.example", "https://corp.example.evil.com/hook", "UNRESOLVABLE_HOST"),
            ("*.corp.example", "https://127.0.0.1/hook", "FORBIDDEN_ADDRESS"),
            ("10.20.0.0/16", "http://10.20.1.5/hook", "INSECURE_URL"),  # still https only
        ],
    )
    async def test_what_is_not_listed_stays_refused(self, allow: str, url: str, code: str) -> None:
        guard = production(FakeResolver(self.RESOLVER), allow=allow)
        assert await problems(guard, url) == [(code, AT)]

    async def test_a_listed_name_is_reached_at_what_it_resolves_to_unchecked(self) -> None:
        resolver = FakeResolver({**self.RESOLVER, "erp.corp.example": ["127.0.0.1", "10.9.9.9"]})
        guard = production(resolver, allow="erp.corp.example")
        assert await guard.addresses("erp.corp.example") == (
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("10.9.9.9"),
        )
        assert resolver.lookups == ["erp.corp.example"]  # once: the connection goes there

    async def test_a_listed_name_must_still_resolve(self) -> None:
        guard = production(FakeResolver(), allow="erp.corp.example")
        assert await problems(guard, "https://erp.corp.example/hook") == [("UNRESOLVABLE_HOST", AT)]

    @pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host", "http://x.example", "10/8"])
    def test_an_entry_that_is_neither_network_nor_name_stops_startup(self, entry: str) -> None:
        with pytest.raises(ValueError, match="OMS_OUTBOUND_ALLOW"):
            AllowList.parse(f"10.0.0.0/8,{entry}")


class TestDevelopment:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8089/hook",
            "http://localhost:8089/hook",
            "http://[::1]:8089/hook",
            "https://10.0.0.1/hook",
            "https://erp.example.com/hook",
        ],
    )
    async def test_anything_goes_but_plain_http_elsewhere_than_loopback(self, url: str) -> None:
        resolver = FakeResolver()
        assert await problems(development(resolver), url) == []
        assert resolver.lookups == []  # nothing is resolved in development

    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("http://erp.example.com/hook", "INSECURE_URL"),
            ("http://10.0.0.1/hook", "INSECURE_URL"),
            ("https://example.com@127.0.0.1/hook", "INVALID_URL"),
            ("ftp://erp.example.com/hook", "INVALID_URL"),
        ],
    )
    async def test_what_is_refused_everywhere(self, url: str, code: str) -> None:
        assert await problems(development(), url) == [(code, AT)]


class TestSettings:
    @pytest.mark.parametrize(
        ("environ", "public_only", "http_loopback"),
        [
            ({}, False, True),
            ({"OMS_ENV": "production"}, True, False),
            ({"OMS_ENV": "production", "OMS_OUTBOUND_PUBLIC_ONLY": "false"}, False, False),
            ({"OMS_OUTBOUND_PUBLIC_ONLY": "true"}, True, True),
            ({"OMS_OUTBOUND_PUBLIC_ONLY": ""}, False, True),
        ],
    )
    def test_public_only_is_on_in_production_unless_said_otherwise(
        self, environ: dict[str, str], public_only: bool, http_loopback: bool
    ) -> None:
        rules = OutboundRules.from_env(environ)
        assert (rules.public_only, rules.allow_http_loopback) == (public_only, http_loopback)

    def test_the_feed_root_defaults_under_the_data_directory(self, tmp_path: Path) -> None:
        rules = OutboundRules.from_env({"OMS_DATA_DIR": str(tmp_path)})
        assert rules.feed_root == str(tmp_path.resolve() / "feeds")
        given = OutboundRules.from_env({"OMS_FEED_ROOT": str(tmp_path / "x" / ".." / "y")})
        assert given.feed_root == str(tmp_path.resolve() / "y")

    def test_the_allow_list_is_read_from_the_environment(self) -> None:
        rules = OutboundRules.from_env({"OMS_OUTBOUND_ALLOW": "10.20.0.0/16,ERP.corp.example"})
        assert rules.allow == AllowList(
            (ipaddress.ip_network("10.20.0.0/16"),), frozenset({"erp.corp.example"})
        )
        with pytest.raises(ValueError, match="OMS_OUTBOUND_ALLOW"):
            OutboundRules.from_env({"OMS_OUTBOUND_ALLOW": "10.20.0.0/16 erp"})


class TestFeedDirectories:
    """Confined to the feed root once `..` and symlinks are resolved, in every environment."""

    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        root = tmp_path / "feeds"
        (root / "web").mkdir(parents=True)
        (tmp_path / "outside").mkdir()
        os.symlink(tmp_path / "outside", root / "escape")
        os.symlink(root / "web", root / "alias")
        return root

    @pytest.mark.parametrize(
        "path",
        [
            "/etc",
            "/etc/oms-feeds",
            "/",
            "{root}/..",
            "{root}/../outside",
            "{root}/web/../../outside",
            "{root}/escape",
            "{root}/escape/deeper",
            "{root}-sibling",
            "relative/feeds",
            "../feeds",
        ],
    )
    def test_a_directory_outside_the_root_is_refused(self, root: Path, path: str) -> None:
        guard = production(feed_root=str(root))
        errors = Collector()
        guard.check_feed_directory(errors, path.format(root=root), ["input", "feedDirectory"])
        assert [(e.code, e.field) for e in errors.errors] == [
            ("INVALID_PATH", ["input", "feedDirectory"])
        ]
        with pytest.raises(Refused):
            guard.feed_directory(path.format(root=root))

    @pytest.mark.parametrize(
        ("path", "real"),
        [
            ("{root}", "{root}"),
            ("{root}/web", "{root}/web"),
            ("{root}/new/not/yet/made", "{root}/new/not/yet/made"),
            ("{root}/web/../other", "{root}/other"),
            ("{root}/alias", "{root}/web"),  # a symlink that stays inside
        ],
    )
    def test_a_directory_under_the_root_is_accepted_as_its_real_path(
        self, root: Path, path: str, real: str
    ) -> None:
        guard = production(feed_root=str(root))
        errors = Collector()
        guard.check_feed_directory(errors, path.format(root=root), ["input", "feedDirectory"])
        assert errors.errors == []
        assert guard.feed_directory(path.format(root=root)) == real.format(root=root)

    def test_a_root_reached_through_a_symlink_is_its_real_path(self, root: Path) -> None:
        link = root.parent / "root-link"
        os.symlink(root, link)
        guard = production(feed_root=str(link))
        assert guard.feed_directory(str(root / "web")) == str(root / "web")
        assert guard.feed_directory(str(link / "web")) == str(root / "web")
