"""Webhook subscriptions and deliveries: subscribe, unsubscribe, read, replay."""

from __future__ import annotations

import datetime as dt
import logging
from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.access.principal import Role
from domain.errors import DomainError, NotFound
from domain.ports import Job
from domain.webhooks import models
from domain.webhooks import service as webhooks
from schema.base import (
    Edge,
    InfoT,
    Node,
    PageInfo,
    UserError,
    authorize,
    build_page,
    decode_cursor,
    encode_cursor,
    page_size,
    pk_of,
    to_global_id,
    user_errors,
)
from schema.node import node_type

log = logging.getLogger("oms.webhooks")

OWNERS = (Role.ADMIN, Role.CHANNEL, Role.PARTNER)


@strawberry.enum(description="Where a webhook delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="Not delivered yet: the next attempt is due at `nextAttemptAt`."
    )
    DELIVERED = strawberry.enum_value(
        "DELIVERED", description="The receiver answered 2xx to one attempt."
    )
    DEAD = strawberry.enum_value(
        "DEAD",
        description="Given up after the last attempt (or the subscription was deleted); "
        "`replayWebhookDelivery` sends it again.",
    )


@strawberry.type(
    description=(
        "A subscription to order events, POSTed as signed JSON to a URL. Each request carries "
        "`X-OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>`, and "
        "`X-OMS-Event-Id`, `X-OMS-Topic`, `X-OMS-Delivery-Id`, `X-OMS-Timestamp`. Delivery "
        "is at least once: deduplicate on the event id. Ids in the body are global ids (as "
        "`node(id:)` takes). A partner's receives the events that concern its locations "
        "(`locationId`, or `locationIds` on order events), each shown in its part that does."
    )
)
class WebhookSubscription(Node):
    topics: list[str] = strawberry.field(
        description="The event types it receives, e.g. ORDER_PLACED, SHIPMENT_STATUS_CHANGED."
    )
    url: str = strawberry.field(description="Where events are POSTed (https).")
    active: bool = strawberry.field(description="False once deleted: nothing more is sent.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")

    @classmethod
    def of(cls, m: models.WebhookSubscription) -> WebhookSubscription:
        return cls(
            id=to_global_id("WebhookSubscription", m.id),
            topics=list(m.topics),
            url=m.url,
            active=m.active,
            created_at=m.created_at,
        )


@strawberry.type(description="One event sent (or being sent) to one webhook subscription.")
class WebhookDelivery(Node):
    subscription_id: strawberry.ID = strawberry.field(
        description="Global id of the subscription it is for."
    )
    event_id: strawberry.ID = strawberry.field(
        description="The event's id: the body's `id` and the `X-OMS-Event-Id` header."
    )
    topic: str = strawberry.field(description="The event type, e.g. ORDER_PLACED.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Attempts made so far (since the last replay).")
    last_status_code: int | None = strawberry.field(
        description="HTTP status of the last answer; null if none came (timeout, refused)."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed; null after a success."
    )
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When the next attempt is due; null unless PENDING."
    )
    delivered_at: dt.datetime | None = strawberry.field(
        description="When the receiver accepted it."
    )
    created_at: dt.datetime = strawberry.field(description="When the event was fanned out to it.")

    @classmethod
    def of(cls, m: models.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=to_global_id("WebhookDelivery", m.id),
            subscription_id=to_global_id("WebhookSubscription", m.subscription_id),
            event_id=strawberry.ID(str(m.event_id)),
            topic=m.topic,
            status=WebhookDeliveryStatus(m.status),
            attempts=m.attempts,
            last_status_code=m.last_status_code,
            last_error=m.last_error,
            next_attempt_at=m.next_attempt_at if m.status == "PENDING" else None,
            delivered_at=m.delivered_at,
            created_at=m.created_at,
        )


@strawberry.type(description="A page of webhook deliveries, newest first.")
class WebhookDeliveryConnection:
    edges: list[Edge[WebhookDelivery]] = strawberry.field(
        description="The deliveries of this page."
    )
    page_info: PageInfo = strawberry.field(description="Paging position.")
    total_count: int = strawberry.field(description="Deliveries matching the filter, all pages.")


@strawberry.input(description="A new webhook subscription.")
class WebhookSubscriptionInput:
    url: str = strawberry.field(
        description=(
            "Where to POST events: https (plain http only to loopback in development). In "
            "production its host must be, and resolve only to, public addresses "
            "(FORBIDDEN_ADDRESS, UNRESOLVABLE_HOST) unless the deployment allows it; no "
            "credentials in the URL."
        )
    )
    topics: list[str] = strawberry.field(
        description=(
            f"Event types to receive, any of: {', '.join(webhooks.TOPICS)}. A partner may not "
            "take CHANNEL_OUT_OF_STOCK, nor a channel INVENTORY_LOW_STOCK: they would never "
            "reach it (UNAVAILABLE_TOPIC)."
        )
    )


@strawberry.type(description="Result of createWebhookSubscription.")
class WebhookSubscriptionPayload:
    webhook_subscription: WebhookSubscription | None = strawberry.field(
        description="The subscription."
    )
    secret: str | None = strawberry.field(
        description="The signing secret: shown this once, never again."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created, if so.")


@strawberry.type(description="Result of deleteWebhookSubscription.")
class DeleteWebhookSubscriptionPayload:
    webhook_subscription: WebhookSubscription | None = strawberry.field(
        description="The subscription, now inactive."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.type(description="Result of replayWebhookDelivery.")
class ReplayWebhookDeliveryPayload:
    webhook_delivery: WebhookDelivery | None = strawberry.field(
        description="The delivery, PENDING again from attempt 0."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


async def _enqueue_after_commit(info: InfoT, job: Job) -> None:
    """Hand the job to the worker's queue if this process has one; if not, or if Redis
    is down, the sweep finds the due row within a minute."""
    queue = info.context.services.extra.get("job_queue")
    if queue is None:
        return
    try:
        await queue.enqueue(job)
    except Exception:
        log.warning("could not enqueue %s; the sweep will", job.job_id, exc_info=True)


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        description="The caller's webhook subscriptions (every one, for admin), oldest first."
    )
    async def webhook_subscriptions(self, info: InfoT) -> list[WebhookSubscription]:
        principal = authorize(info, *OWNERS)
        async with info.context.session() as session:
            rows = await webhooks.list_subscriptions(session, principal)
        return [WebhookSubscription.of(m) for m in rows]

    @strawberry.field(description="Deliveries of the caller's webhook subscriptions, newest first.")
    async def webhook_deliveries(
        self,
        info: InfoT,
        subscription_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this subscription's deliveries."),
        ] = None,
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this state."),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, at most 100.")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> WebhookDeliveryConnection:
        principal = authorize(info, *OWNERS)
        size = page_size(first)
        cursor = decode_cursor(after)
        after_id = None
        if cursor:
            try:
                after_id = int(cursor[0])
            except ValueError:
                raise GraphQLError(
                    "`after` is not a cursor of this connection",
                    extensions={"code": "BAD_USER_INPUT"},
                ) from None
        sub_pk = None
        if subscription_id is not None:
            # An id that is not a subscription's matches nothing, like one not yours.
            sub_pk = pk_of(subscription_id, "WebhookSubscription") or 0
        wanted = status.name if status is not None else None
        async with info.context.session() as session:
            rows = await webhooks.list_deliveries(
                session,
                principal,
                subscription_id=sub_pk,
                status=wanted,
                limit=size + 1,
                after_id=after_id,
            )
            total = await webhooks.count_deliveries(
                session, principal, subscription_id=sub_pk, status=wanted
            )
        edges, page = build_page(rows, size, WebhookDelivery.of, lambda m: encode_cursor(m.id))
        return WebhookDeliveryConnection(edges=edges, page_info=page, total_count=total)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description=(
            "Subscribe to order events by webhook. A channel receives its own orders' events, "
            "a partner those of its locations, admin all. The signing secret is in the answer, "
            "and only there."
        )
    )
    async def create_webhook_subscription(
        self,
        info: InfoT,
        input: Annotated[
            WebhookSubscriptionInput,
            strawberry.argument(description="Where to send which events."),
        ],
    ) -> WebhookSubscriptionPayload:
        principal = authorize(info, *OWNERS)
        try:
            async with info.context.uow() as uow:
                m, secret = await webhooks.create_subscription(
                    uow.session,
                    principal,
                    input.url,
                    input.topics,
                    outbound=info.context.services.outbound,
                )
        except DomainError as exc:
            return WebhookSubscriptionPayload(
                webhook_subscription=None, secret=None, user_errors=user_errors(exc)
            )
        return WebhookSubscriptionPayload(
            webhook_subscription=WebhookSubscription.of(m), secret=secret, user_errors=[]
        )

    @strawberry.mutation(
        description="Delete a webhook subscription: nothing more is sent, pending deliveries "
        "are given up; its delivery history stays readable."
    )
    async def delete_webhook_subscription(
        self,
        info: InfoT,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="Global id of the subscription.")
        ],
    ) -> DeleteWebhookSubscriptionPayload:
        principal = authorize(info, *OWNERS)
        pk = pk_of(id, "WebhookSubscription")
        try:
            if pk is None:
                raise NotFound("no such webhook subscription", field=["id"])
            async with info.context.uow() as uow:
                m = await webhooks.deactivate_subscription(uow.session, principal, pk)
        except DomainError as exc:
            return DeleteWebhookSubscriptionPayload(
                webhook_subscription=None, user_errors=user_errors(exc)
            )
        return DeleteWebhookSubscriptionPayload(
            webhook_subscription=WebhookSubscription.of(m), user_errors=[]
        )

    @strawberry.mutation(
        description="Send a DEAD or DELIVERED webhook delivery again, from attempt 0 "
        "(its owner or admin)."
    )
    async def replay_webhook_delivery(
        self,
        info: InfoT,
        id: Annotated[strawberry.ID, strawberry.argument(description="Global id of the delivery.")],
    ) -> ReplayWebhookDeliveryPayload:
        principal = authorize(info, *OWNERS)
        pk = pk_of(id, "WebhookDelivery")
        try:
            if pk is None:
                raise NotFound("no such webhook delivery", field=["id"])
            async with info.context.uow() as uow:
                m, job = await webhooks.replay_delivery(uow.session, principal, pk)
        except DomainError as exc:
            return ReplayWebhookDeliveryPayload(webhook_delivery=None, user_errors=user_errors(exc))
        await _enqueue_after_commit(info, job)
        return ReplayWebhookDeliveryPayload(webhook_delivery=WebhookDelivery.of(m), user_errors=[])


@node_type("WebhookSubscription")
async def _subscription_node(info: InfoT, pk: int) -> Node | None:
    principal = info.context.principal
    if principal.role not in OWNERS:
        return None
    async with info.context.session() as session:
        m = await webhooks.get_subscription(session, principal, pk)
    return WebhookSubscription.of(m) if m else None


@node_type("WebhookDelivery")
async def _delivery_node(info: InfoT, pk: int) -> Node | None:
    principal = info.context.principal
    if principal.role not in OWNERS:
        return None
    async with info.context.session() as session:
        m = await webhooks.get_delivery(session, principal, pk)
    return WebhookDelivery.of(m) if m else None
