"""Where the service may send data: webhook and channel publish URLs, feed directories.

A partner (or an admin's typo) registering `https://169.254.169.254/` or a name that
resolves inside the network would otherwise make the worker POST from where it runs:
server-side request forgery. With `public_only` (on in production), a URL's host must
be, and resolve only to, public addresses, or be on the operator's allow-list. The
rule is applied twice: when the URL is registered (a typed refusal, nothing written),
and again by the worker at each connection, on the very addresses it connects to
(jobs/outbound.py): a name may resolve elsewhere by then (DNS rebinding), and rows
registered before the rule are covered too.

Host literals are read as the system's resolver reads them (inet_aton: `127.1`,
`0x7f.1`, `2130706433`, `017700000001` are all 127.0.0.1), which Python's `ipaddress`
does not; names go through the resolver port (getaddrinfo), bounded in time. A name
that does not resolve is refused at registration (`UNRESOLVABLE_HOST`): it cannot be
checked, and a webhook that cannot be delivered is better refused than dead-lettered.

Feed directories must lie under the feed root once symlinks and `..` are resolved.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from domain.errors import Collector, DomainError
from domain.ports import Resolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

INVALID_URL = "INVALID_URL"
INSECURE_URL = "INSECURE_URL"
FORBIDDEN_ADDRESS = "FORBIDDEN_ADDRESS"
UNRESOLVABLE_HOST = "UNRESOLVABLE_HOST"
INVALID_PATH = "INVALID_PATH"

RESOLVE_TIMEOUT_SECONDS = 2.0
MAX_URL_LENGTH = 2000

# What a host may be written with: an ASCII name (international names in their xn--
# form) or an address. Anything else (percent escapes, `;`, `\`, spaces, zone ids) is
# where URL parsers disagree, so it is refused rather than interpreted.
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|[0-9a-f:.]+")
_HEX_PART = re.compile(r"0x[0-9a-f]+")
_OCTAL_PART = re.compile(r"0[0-7]*")
_DECIMAL_PART = re.compile(r"[1-9][0-9]*")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class Refused(DomainError):
    """A target the rules refuse; `code` says why (FORBIDDEN_ADDRESS, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


# ---------- addresses ----------


def destination(url: str) -> str:
    """The receiver a URL reaches, as concurrency towards receivers is counted: its
    scheme, host and port (`https://hooks.example.com:443`)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"https": 443, "http": 80, "smtps": 465, "smtp": 25}.get(parts.scheme)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 literal in any form the C resolver accepts: 1 to 4 parts, each decimal,
    octal (leading 0) or hex (0x); the last part fills the remaining bytes."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if _HEX_PART.fullmatch(part):
            values.append(int(part[2:], 16))
        elif _OCTAL_PART.fullmatch(part):
            values.append(int(part, 8))
        elif _DECIMAL_PART.fullmatch(part):
            values.append(int(part))
        else:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number << 8 | v
    return ipaddress.IPv4Address(number << 8 * (4 - len(head)) | last)


def ip_literal(host: str) -> Address | None:
    """The address a host literally is (`[::1]`, `127.1`, `0x7f000001.`), or None for a
    name."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _inet_aton(text[:-1] if text.endswith(".") else text)


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any: what the
    packet finally reaches."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_kind(address: Address) -> str | None:
    """Why an address is not public ("loopback", "private", ...), None if it is."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return non_public_kind(embedded)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("shared (carrier-grade NAT)", address in ipaddress.IPv4Network("100.64.0.0/10")),
    )
    for kind, hit in checks:
        if hit:
            return kind
    return None if address.is_global else "non-global"


def _is_localhost(name: str) -> bool:
    """`localhost` and every name under it (RFC 6761): this machine, whatever DNS says."""
    name = name.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


# ---------- the operator's allow-list ----------


@dataclass(frozen=True, slots=True)
class AllowList:
    """Internal targets a deployment must reach (OMS_OUTBOUND_ALLOW): networks
    (`10.20.0.0/16`, `fd00::/8`, a single address) and host names (`erp.corp.example`,
    or `*.corp.example` for every name under it). A listed name is reached whatever it
    resolves to; an address is allowed when it lies in a listed network."""

    networks: tuple[Network, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Comma-separated entries; ValueError names the first that is none of these."""
        networks: list[Network] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in text.split(","):
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            wildcard = entry.startswith("*.")
            name = entry[2:] if wildcard else entry
            if ":" in name or not _HOST.fullmatch(name) or ip_literal(name) is not None:
                raise ValueError(
                    f"OMS_OUTBOUND_ALLOW: {raw.strip()!r} is not a network (CIDR), an address "
                    "or a host name"
                )
            if wildcard:
                suffixes.append("." + name)
            else:
                names.add(name)
        return cls(tuple(networks), frozenset(names), tuple(suffixes))

    def allows_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(s) for s in self.suffixes)

    def allows_address(self, address: Address) -> bool:
        embedded = _embedded_ipv4(address)
        return any(
            candidate in network
            for candidate in (address, embedded)
            if candidate is not None
            for network in self.networks
        )

    def __bool__(self) -> bool:
        return bool(self.networks or self.names or self.suffixes)


# ---------- the rules and the guard ----------


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class OutboundRules:
    """Configuration: see the README's table (OMS_OUTBOUND_PUBLIC_ONLY,
    OMS_OUTBOUND_ALLOW, OMS_FEED_ROOT)."""

    # Targets must be (and resolve only to) public addresses, or be allow-listed.
    public_only: bool
    # Plain http is accepted to loopback (development and tests: local receivers).
    allow_http_loopback: bool
    feed_root: str
    allow: AllowList = field(default_factory=AllowList)
    resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OutboundRules:
        """The same rules for the API and the worker, from the same variables."""
        production = environ.get("OMS_ENV", "development") == "production"
        data_dir = os.path.realpath(environ.get("OMS_DATA_DIR") or ".data")
        return cls(
            public_only=_flag(environ.get("OMS_OUTBOUND_PUBLIC_ONLY"), production),
            allow_http_loopback=not production,
            feed_root=os.path.realpath(
                environ.get("OMS_FEED_ROOT") or os.path.join(data_dir, "feeds")
            ),
            allow=AllowList.parse(environ.get("OMS_OUTBOUND_ALLOW", "")),
        )


async def _no_resolver(host: str) -> Sequence[str]:
    raise OSError(f"no resolver to look up {host!r}")


class OutboundGuard:
    """The rules, with the resolver they need. One per process."""

    def __init__(self, rules: OutboundRules, resolve: Resolver) -> None:
        self.rules = rules
        self.resolve = resolve

    @classmethod
    def permissive(cls, feed_root: str = "/") -> OutboundGuard:
        """For trusted callers that configure targets in code (demo data, benchmarks):
        any address, plain http to loopback, no resolution."""
        return cls(
            OutboundRules(public_only=False, allow_http_loopback=True, feed_root=feed_root),
            _no_resolver,
        )

    async def addresses(self, host: str) -> tuple[Address, ...] | None:
        """The checked addresses to connect to for `host`, or None when the rules do not
        apply (not `public_only`): connect by name as usual. A name is resolved once,
        here; an allow-listed name is resolved too (the connection goes where this
        answer says) but its addresses are not checked. Raises Refused:
        FORBIDDEN_ADDRESS when an address is not public and not allowed,
        UNRESOLVABLE_HOST when the name does not resolve within the time limit."""
        rules = self.rules
        if not rules.public_only:
            return None
        listed = rules.allow.allows_name(host)
        literal = ip_literal(host)
        if literal is not None:
            self._check(host, literal, literal=True)
            return (literal,)
        if _is_localhost(host):
            # Loopback whatever DNS would say (RFC 6761): refused unless loopback is allowed.
            loopback = ipaddress.IPv4Address("127.0.0.1")
            if not listed:
                self._check(host, loopback, literal=False)
            return (loopback,)
        try:
            async with asyncio.timeout(rules.resolve_timeout):
                found = await self.resolve(host.rstrip("."))
        except TimeoutError:
            raise Refused(
                UNRESOLVABLE_HOST, f"{host!r} did not resolve within {rules.resolve_timeout:g} s"
            ) from None
        except (OSError, UnicodeError):
            raise Refused(UNRESOLVABLE_HOST, f"{host!r} does not resolve") from None
        addresses: list[Address] = []
        for text in found:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise Refused(UNRESOLVABLE_HOST, f"{host!r} resolves to no address") from None
            if not listed:
                self._check(host, address, literal=False)
            addresses.append(address)
        if not addresses:
            raise Refused(UNRESOLVABLE_HOST, f"{host!r} resolves to no address")
        return tuple(dict.fromkeys(addresses))

    def _check(self, host: str, address: Address, *, literal: bool) -> None:
        kind = non_public_kind(address)
        if kind is None or self.rules.allow.allows_address(address):
            return
        # The address of a name is not echoed: callers need not learn the internal DNS.
        an = "an" if kind[0] in "aeiou" else "a"
        verb = "is" if literal else "resolves to"
        raise Refused(
            FORBIDDEN_ADDRESS,
            f"{host!r} {verb} {an} {kind} address: only public addresses may be called",
        )

    async def check_url(self, errors: Collector, url: str, at: list[str | int]) -> None:
        """HTTPS to a public host; plain HTTP only to loopback, where allowed (development,
        tests). At most one problem per URL is reported."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or len(url) > MAX_URL_LENGTH
        ):
            errors.add(INVALID_URL, f"{url!r} is not an http(s) URL", at)
            return
        if "@" in parts.netloc:
            errors.add(INVALID_URL, "credentials in the URL (user@host) are not accepted", at)
            return
        host = parts.hostname
        if not _HOST.fullmatch(host):
            errors.add(
                INVALID_URL,
                f"{host!r} is not a host name or address (write international names in their xn-- form)",
                at,
            )
            return
        if parts.scheme == "http" and not (self.rules.allow_http_loopback and _is_loopback(host)):
            errors.add(
                INSECURE_URL,
                "use https (plain http is allowed only to loopback in development)",
                at,
            )
            return
        try:
            await self.addresses(host)
        except Refused as exc:
            errors.add(exc.code, exc.message, at)

    def feed_directory(self, path: str) -> str:
        """The directory's real path (symlinks and `..` resolved), which must lie under
        the feed root; Refused (INVALID_PATH) otherwise. Writers use the path returned."""
        if not os.path.isabs(path):
            raise Refused(INVALID_PATH, "feedDirectory must be an absolute path")
        root = os.path.realpath(self.rules.feed_root)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise Refused(INVALID_PATH, f"feedDirectory must lie under the feed root {root}")
        return real

    def check_feed_directory(self, errors: Collector, path: str, at: list[str | int]) -> None:
        try:
            real = self.feed_directory(path)
        except Refused as exc:
            errors.add(exc.code, exc.message, at)
            return
        if os.path.exists(real) and not (os.path.isdir(real) and os.access(real, os.W_OK)):
            errors.add(INVALID_PATH, "feedDirectory exists but is not a writable directory", at)


def _is_loopback(host: str) -> bool:
    address = ip_literal(host)
    return _is_localhost(host) if address is None else address.is_loopback
