"""Partner webhooks: subscriptions, fan-out of order events into deliveries, and the
state of each delivery (PENDING → DELIVERED, or DEAD after the last try).

The `webhook_deliveries` row is the truth. The relay writes it in the same transaction
that stamps the event (so no event is lost between commit and Redis), the worker claims
it for one attempt at a time (domain/webhooks/delivery.py), and a sweep finds rows
whose job never ran. The HTTP part lives in jobs/webhooks.py; this module knows
nothing of HTTP or queues.

Delivery is at least once: a worker that dies after the receiver answered but before
the result was recorded sends again after its lease. Receivers dedupe on the event id
(`X-OMS-Event-Id`, and `id` in the body).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.errors import Collector, InvalidState, NotFound
from domain.events import catalog as event_catalog
from domain.events.stream import StreamEvent
from domain.outbound import OutboundGuard, destination
from domain.ports import Job
from domain.webhooks.models import WebhookDelivery, WebhookSubscription

TOPICS = (
    "ORDER_PLACED",
    "ORDER_CANCELLED",
    "ORDER_LINES_CANCELLED",
    "SHIPMENT_STATUS_CHANGED",
    "TRACKING_EVENT_RECORDED",
    "RETURN_STATUS_CHANGED",
    "RETURN_INCOMING",
    "INVENTORY_LOW_STOCK",
    "CHANNEL_OUT_OF_STOCK",
)
# Topics a role's subscription would never receive, refused rather than silently idle:
# a low-stock alert concerns a location (its partners, and admins), a channel out of
# stock concerns that channel's sales (the channel, and admins). Order events reach a
# channel for its orders and a partner for its locations.
UNAVAILABLE_TOPICS = {
    Role.PARTNER: {"CHANNEL_OUT_OF_STOCK": "it concerns a channel's sales, not a location"},
    Role.CHANNEL: {"INVENTORY_LOW_STOCK": "it concerns a location's stock, not a channel"},
}
MAX_SUBSCRIPTIONS_PER_OWNER = 50
DELIVER_JOB = "deliver_webhook"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix that tells people what the string is)

# Delay before attempt n+1 after n failed attempts, at the default base of 10 seconds:
# 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, then every 6 h.
BACKOFF_SCHEDULE = (10, 30, 120, 600, 1800, 3600, 10800, 21600)
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_BASE_SECONDS = 10.0


def deliver_job(delivery_id: int, attempts: int, url: str | None = None, suffix: str = "") -> Job:
    """The job that makes the next attempt. Its id carries the attempt count, since arq
    cannot enqueue a job under the id of one it still remembers (arq#416). It names
    its receiver (`destination`, from the subscription's URL), so that the worker can
    see a crowded receiver before it claims anything."""
    job_id = f"webhook:{delivery_id}:{attempts}{suffix}"
    args: tuple[Any, ...] = (delivery_id,) if url is None else (delivery_id, destination(url))
    return Job(DELIVER_JOB, args, job_id=job_id)


def backoff_seconds(failed_attempts: int, base: float = DEFAULT_BACKOFF_BASE_SECONDS) -> float:
    """How long to wait after `failed_attempts` failures; `base` scales the schedule."""
    step = BACKOFF_SCHEDULE[min(max(failed_attempts, 1), len(BACKOFF_SCHEDULE)) - 1]
    return step * base / BACKOFF_SCHEDULE[0]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-OMS-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


# ---------- subscriptions ----------


def _owned_by(principal: Principal) -> ColumnElement[bool]:
    """Subscriptions a principal owns: admin all; a channel its channel's; a partner its key's."""
    s = WebhookSubscription
    if principal.role is Role.ADMIN:
        return true()
    if principal.role is Role.CHANNEL and principal.channel_id is not None:
        return and_(s.owner_role == "CHANNEL", s.channel_id == principal.channel_id)
    if principal.role is Role.PARTNER and principal.api_key_id is not None:
        return and_(s.owner_role == "PARTNER", s.owner_api_key_id == principal.api_key_id)
    return false()


def _owner_scope(principal: Principal) -> str:
    if principal.role is Role.CHANNEL:
        return f"channel:{principal.channel_id}"
    if principal.role is Role.PARTNER:
        return f"key:{principal.api_key_id}"
    return "admin"


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    url: str,
    topics: Sequence[str],
    *,
    outbound: OutboundGuard,
) -> tuple[WebhookSubscription, str]:
    """Subscribe the caller to topics. Returns the subscription and its signing secret,
    which the caller sees this once (it is kept to sign, so it cannot be hashed). The
    URL is checked (domain/outbound.py) first: no connection is held while it resolves."""
    principal.require(Role.ADMIN, Role.CHANNEL, Role.PARTNER)
    errors = Collector()
    await outbound.check_url(errors, url, ["input", "url"])
    if not topics:
        errors.add("REQUIRED", "subscribe to at least one topic", ["input", "topics"])
    for i, topic in enumerate(topics):
        if topic not in TOPICS:
            errors.add(
                "UNKNOWN_TOPIC",
                f"unknown topic {topic!r}; topics are {', '.join(TOPICS)}",
                ["input", "topics", i],
            )
        elif why := UNAVAILABLE_TOPICS.get(principal.role, {}).get(topic):
            errors.add(
                "UNAVAILABLE_TOPIC",
                f"a {principal.role.value} subscription never receives {topic}: {why}",
                ["input", "topics", i],
            )
    errors.raise_if_any()

    # One creator per owner at a time, so two concurrent requests cannot both take the
    # last free place.
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"webhooks:{_owner_scope(principal)}")))
    )
    owned = await session.scalar(
        select(func.count())
        .select_from(WebhookSubscription)
        .where(WebhookSubscription.active, _owned_by(principal))
    )
    if (owned or 0) >= MAX_SUBSCRIPTIONS_PER_OWNER:
        errors.add(
            "TOO_MANY",
            f"at most {MAX_SUBSCRIPTIONS_PER_OWNER} webhook subscriptions; delete one first",
            ["input"],
        )
        errors.raise_if_any()

    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    subscription = WebhookSubscription(
        owner_role=principal.role.value,
        owner_api_key_id=principal.api_key_id,
        channel_id=principal.channel_id if principal.role is Role.CHANNEL else None,
        location_ids=sorted(principal.location_ids) if principal.role is Role.PARTNER else [],
        url=url,
        topics=list(dict.fromkeys(topics)),
        secret=secret,
        active=True,
    )
    session.add(subscription)
    await session.flush()
    return subscription, secret


async def list_subscriptions(
    session: AsyncSession, principal: Principal
) -> list[WebhookSubscription]:
    """The caller's live subscriptions (every one for admin), oldest first."""
    rows = await session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.active, _owned_by(principal))
        .order_by(WebhookSubscription.id)
    )
    return list(rows)


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: int
) -> WebhookSubscription | None:
    """One subscription, live or deleted, if the caller owns it (or is admin)."""
    return await session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == subscription_id, _owned_by(principal)
        )
    )


async def deactivate_subscription(
    session: AsyncSession, principal: Principal, subscription_id: int
) -> WebhookSubscription:
    """Stop a subscription: no new deliveries, and its pending ones are given up (DEAD).
    Its delivery history stays readable."""
    subscription = await session.scalar(
        select(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.active,
            _owned_by(principal),
        )
        .with_for_update()
    )
    if subscription is None:
        raise NotFound("no such webhook subscription", field=["id"])
    subscription.active = False
    await session.flush()
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == "PENDING",
        )
        .values(status="DEAD", last_error="subscription deleted")
    )
    return subscription


# ---------- deliveries, as their owners read and replay them ----------


def _deliveries_query(principal: Principal, subscription_id: int | None, status: str | None) -> Any:
    query = (
        select(WebhookDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(_owned_by(principal))
    )
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return query


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    *,
    subscription_id: int | None = None,
    status: str | None = None,
    limit: int = 20,
    after_id: int | None = None,
) -> list[WebhookDelivery]:
    """The caller's deliveries, newest first; `limit` rows after the delivery `after_id`."""
    query = _deliveries_query(principal, subscription_id, status)
    if after_id is not None:
        query = query.where(WebhookDelivery.id < after_id)
    rows = await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return list(rows)


async def count_deliveries(
    session: AsyncSession,
    principal: Principal,
    *,
    subscription_id: int | None = None,
    status: str | None = None,
) -> int:
    query = _deliveries_query(principal, subscription_id, status).with_only_columns(
        func.count(WebhookDelivery.id)
    )
    return int(await session.scalar(query) or 0)


async def get_delivery(
    session: AsyncSession, principal: Principal, delivery_id: int
) -> WebhookDelivery | None:
    return await session.scalar(
        _deliveries_query(principal, None, None).where(WebhookDelivery.id == delivery_id)
    )


async def replay_delivery(
    session: AsyncSession, principal: Principal, delivery_id: int
) -> tuple[WebhookDelivery, Job]:
    """Send a DEAD or DELIVERED delivery again, from attempt 0. Returns it and the job
    to enqueue after commit (if that fails, the sweep picks the row up)."""
    found = (
        await session.execute(
            select(WebhookDelivery.status, WebhookSubscription.active, WebhookSubscription.url)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id == delivery_id, _owned_by(principal))
            .with_for_update(of=WebhookDelivery)
        )
    ).first()
    if found is None:
        raise NotFound("no such webhook delivery", field=["id"])
    status, active, url = found
    if not active:
        raise InvalidState("its webhook subscription was deleted", field=["id"])
    if status == "PENDING":
        raise InvalidState("this delivery is still pending: it will be retried", field=["id"])
    delivery = (
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status="PENDING", attempts=0, next_attempt_at=func.now(), delivered_at=None)
            .returning(WebhookDelivery)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    # A replay starts again from attempt 0, whose job id arq may still remember.
    return delivery, deliver_job(delivery_id, 0, url, f":replay-{secrets.token_hex(6)}")


# ---------- fan-out: the relay's consumer ----------


def _may_see(subscription: Any, event: StreamEvent) -> bool:
    """Whether the subscription's owner may see the event: what its API would show it.
    A partner sees the events that concern one of its locations (domain/events/catalog.py)."""
    role = subscription["owner_role"]
    if role == "ADMIN":
        return True
    if role == "CHANNEL":
        return bool(subscription["channel_id"] == event.channel_id)
    if role == "PARTNER":
        return event_catalog.concerns(event.payload, subscription["location_ids"])
    return False


async def fan_out(conn: Any, events: Sequence[StreamEvent]) -> list[Job]:
    """In the relay's transaction (an asyncpg connection): one delivery per event and
    live subscription that wants its topic and may see it; jobs for the new ones.

    A partner's subscriptions belong to its API key (that is what binds it to its
    locations), so they stop when the key is revoked. Admin and channel subscriptions
    belong to the role and the channel: rotating the key that created them does not
    silence them."""
    types = sorted({e.type for e in events})
    if not types:
        return []
    subscriptions = await conn.fetch(
        """
        SELECT s.id, s.owner_role, s.channel_id, s.location_ids, s.topics, s.url
        FROM webhook_subscriptions s
        LEFT JOIN api_keys k ON k.id = s.owner_api_key_id
        WHERE s.active AND s.topics && $1::varchar[]
          AND (s.owner_role <> 'PARTNER' OR k.revoked_at IS NULL)
        ORDER BY s.id
        """,
        types,
    )
    pairs = [
        (s["id"], e.id, e.type)
        for e in sorted(events, key=lambda e: e.stream_seq)
        for s in subscriptions
        if e.type in s["topics"] and _may_see(s, e)
    ]
    if not pairs:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO webhook_deliveries (subscription_id, event_id, topic, next_attempt_at)
        SELECT t.subscription_id, t.event_id, t.topic, now()
        FROM unnest($1::bigint[], $2::bigint[], $3::varchar[]) WITH ORDINALITY
             AS t(subscription_id, event_id, topic, n)
        ORDER BY t.n
        ON CONFLICT (subscription_id, event_id) DO NOTHING
        RETURNING id, attempts, subscription_id
        """,
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        [p[2] for p in pairs],
    )
    urls = {s["id"]: s["url"] for s in subscriptions}
    return [
        deliver_job(r["id"], r["attempts"], urls[r["subscription_id"]])
        for r in sorted(rows, key=lambda r: r["id"])
    ]
