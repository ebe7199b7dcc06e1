"""Customer notifications: which events warrant an email, and what goes in it.

`fan_out` is an event consumer (domain/ports.py): in the relay's transaction it records
one `notifications` row per (event, kind) - the unique constraint makes a replayed
batch harmless - and returns the jobs that send them once the rows are committed.
`render` loads what a template needs. Sending is the job's business (jobs/notifications.py).

Return cases (RETURN_STATUS_CHANGED events) send three emails: approved (when a customer's
or merchant's case becomes APPROVED; a carrier's return of an undeliverable parcel is not
the customer's doing, so it sends nothing), refunded (a refund SUCCEEDED) and rejected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from domain.events.stream import StreamEvent
from domain.fulfillment.carriers import display_name
from domain.global_ids import global_id
from domain.money import Money
from domain.notifications import templates as t
from domain.notifications.delivery import send_job
from domain.ports import Job
from domain.returns.label_links import label_link

# Shipment statuses a customer hears about. PICKED_UP (they were there), IN_TRANSIT,
# OUT_FOR_DELIVERY and the warehouse's own steps send nothing.
SHIPMENT_KINDS = {
    "SHIPPED": t.SHIPPED,
    "READY_FOR_PICKUP": t.READY_FOR_PICKUP,
    "DELIVERED": t.DELIVERED,
    "DELIVERY_FAILED": t.DELIVERY_FAILED,
}


# Returns whose approval is emailed: the customer's and the merchant's (a CARRIER return
# of an undeliverable parcel is not something the customer asked for).
APPROVAL_NOTICE_INITIATORS = ("CUSTOMER", "MERCHANT")


def kind_for(event: StreamEvent) -> str | None:
    """The notification an event warrants, if any."""
    if event.type == "ORDER_PLACED":
        return t.ORDER_CONFIRMED
    if event.type == "SHIPMENT_STATUS_CHANGED":
        return SHIPMENT_KINDS.get(str(event.payload.get("status")))
    if event.type == "RETURN_STATUS_CHANGED":
        return return_kind(event.payload)
    return None


def return_kind(payload: dict[str, Any]) -> str | None:
    """A return event's notification. Receipts, repairs and failed refunds also emit
    RETURN_STATUS_CHANGED with an unchanged status (`from` == `status`): only a change
    into APPROVED or REJECTED, or a refund that succeeded, is news for the customer."""
    refund = payload.get("refund")
    if isinstance(refund, dict) and refund.get("status") == "SUCCEEDED":
        return t.RETURN_REFUNDED
    status = payload.get("status")
    if status == payload.get("from"):
        return None
    if status == "APPROVED" and payload.get("initiatedBy") in APPROVAL_NOTICE_INITIATORS:
        return t.RETURN_APPROVED
    if status == "REJECTED":
        return t.RETURN_REJECTED
    return None


@dataclass(frozen=True, slots=True)
class Links:
    """How emails link back to the service: its public base URL and the key that signs
    label links (either missing: links are bare paths)."""

    base_url: str | None = None
    key: str | None = None

    def return_label(self, return_id: int, now: dt.datetime) -> str:
        return label_link(
            return_id,
            global_id("Return", return_id),
            base_url=self.base_url,
            key=self.key,
            now=now,
        )


async def fan_out(conn: Any, events: Sequence[StreamEvent]) -> list[Job]:
    """EventConsumer: record the notifications these events warrant; jobs for new rows."""
    wanted = [(e.id, e.order_id, kind) for e in events if (kind := kind_for(e))]
    if not wanted:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO notifications (event_id, order_id, kind, recipient)
        SELECT t.event_id, t.order_id, t.kind, cu.email
        FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY AS t(event_id, order_id, kind, n)
        JOIN orders o ON o.id = t.order_id
        JOIN customers cu ON cu.id = o.customer_id
        WHERE cu.email <> ''
        ORDER BY t.n
        ON CONFLICT (event_id, kind) DO NOTHING
        RETURNING id
        """,
        [w[0] for w in wanted],
        [w[1] for w in wanted],
        [w[2] for w in wanted],
    )
    return [send_job(int(r["id"])) for r in rows]


@dataclass(frozen=True, slots=True)
class RenderedNotification:
    id: int
    kind: str
    status: str
    recipient: str
    recipient_name: str | None
    email: t.Email


def _money(minor: int, currency: str) -> str:
    return f"{Money(minor, currency)} {currency}"


def _address(*parts: str | None) -> tuple[str, ...]:
    return tuple(p for p in parts if p)


async def render(
    conn: Any,
    notification_id: int,
    *,
    links: Links | None = None,
    now: dt.datetime | None = None,
) -> RenderedNotification | None:
    """The email of a notification, from the order as it is now and the event's payload
    (the shipment's state when it changed). None if the notification does not exist.
    `links` makes its links absolute (and label links signed, valid from `now`)."""
    n = await conn.fetchrow(
        """
        SELECT n.id, n.kind, n.status, n.recipient, n.order_id, e.payload::text AS payload,
               o.number, o.currency, o.status AS order_status, o.delivery_method, o.pickup_location_id,
               -- The confirmation confirms the order as placed (its lines are shown as
               -- placed), whatever was cancelled before the email went out.
               coalesce(o.original_subtotal_minor, o.subtotal_minor) AS subtotal_minor,
               coalesce(o.original_discount_minor, o.discount_minor) AS discount_minor,
               coalesce(o.original_tax_minor, o.tax_minor) AS tax_minor,
               coalesce(o.original_shipping_minor, o.shipping_minor) AS shipping_minor,
               coalesce(o.original_total_minor, o.total_minor) AS total_minor,
               o.ship_name, o.ship_line1, o.ship_line2, o.ship_postal_code, o.ship_city, o.ship_country_code,
               cu.name AS customer_name
        FROM notifications n
        JOIN order_events e ON e.id = n.event_id
        JOIN orders o ON o.id = n.order_id
        JOIN customers cu ON cu.id = o.customer_id
        WHERE n.id = $1
        """,
        notification_id,
    )
    if n is None:
        return None
    payload: dict[str, Any] = orjson.loads(n["payload"])
    currency = n["currency"]
    kind = n["kind"]
    common: dict[str, Any] = {
        "kind": kind,
        "order_number": n["number"],
        "customer_name": n["customer_name"],
    }
    if kind == t.ORDER_CONFIRMED:
        lines = await conn.fetch(
            "SELECT l.sku, COALESCE(p.name, l.sku) AS name, l.quantity, l.unit_price_minor, l.discount_minor"
            " FROM order_lines l LEFT JOIN products p ON p.sku = l.sku"
            " WHERE l.order_id = $1 ORDER BY l.line_number",
            n["order_id"],
        )
        store = await _location(conn, n["pickup_location_id"])
        ctx = t.EmailContext(
            **common,
            lines=tuple(
                t.EmailLine(
                    name=r["name"],
                    sku=r["sku"],
                    quantity=r["quantity"],
                    amount=_money(
                        r["unit_price_minor"] * r["quantity"] - r["discount_minor"], currency
                    ),
                )
                for r in lines
            ),
            subtotal=_money(n["subtotal_minor"], currency),
            discount=_money(n["discount_minor"], currency) if n["discount_minor"] else None,
            shipping=_money(n["shipping_minor"], currency),
            tax=_money(n["tax_minor"], currency) if n["tax_minor"] else None,
            total=_money(n["total_minor"], currency),
            backordered=n["order_status"] == "BACKORDERED"
            or payload.get("status") == "BACKORDERED",
            delivery_method=n["delivery_method"],
            ship_to=_address(
                n["ship_name"],
                n["ship_line1"],
                n["ship_line2"],
                " ".join(x for x in (n["ship_postal_code"], n["ship_city"]) if x),
                n["ship_country_code"],
            ),
            store_name=store[0] if store else None,
            store_address=store[1] if store else (),
        )
    elif kind in t.RETURN_KINDS:
        ctx = await _return_context(
            conn,
            n["order_id"],
            currency,
            payload,
            common,
            links or Links(),
            now or dt.datetime.now(dt.UTC),
        )
    else:
        ctx = await _shipment_context(conn, n["order_id"], payload, common)
    return RenderedNotification(
        id=n["id"],
        kind=kind,
        status=n["status"],
        recipient=n["recipient"],
        recipient_name=n["customer_name"],
        email=t.render_email(ctx),
    )


async def _location(conn: Any, location_id: int | None) -> tuple[str, tuple[str, ...]] | None:
    if location_id is None:
        return None
    r = await conn.fetchrow(
        "SELECT name, address_line1, address_line2, postal_code, city FROM locations WHERE id = $1",
        location_id,
    )
    if r is None:
        return None
    return r["name"], _address(
        r["address_line1"], r["address_line2"], f"{r['postal_code']} {r['city']}"
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _shipment_context(
    conn: Any, order_id: int, payload: dict[str, Any], common: dict[str, Any]
) -> t.EmailContext:
    """Payload values (the shipment when the event happened) win over the shipment row
    (as it is now), which fills what the payload leaves out."""
    shipment_id = _int(payload.get("shipmentId"))
    s = None
    items: list[Any] = []
    if shipment_id is not None:
        s = await conn.fetchrow(
            "SELECT id, location_id, carrier, tracking_number, tracking_url, pickup_code"
            " FROM shipments WHERE id = $1 AND order_id = $2",
            shipment_id,
            order_id,
        )
    if s is not None:
        items = await conn.fetch(
            "SELECT sl.sku, COALESCE(p.name, sl.sku) AS name, sl.quantity - sl.quantity_cancelled AS quantity"
            " FROM shipment_lines sl JOIN order_lines l ON l.id = sl.order_line_id"
            " LEFT JOIN products p ON p.sku = sl.sku"
            " WHERE sl.shipment_id = $1 AND sl.quantity > sl.quantity_cancelled ORDER BY l.line_number",
            s["id"],
        )
    shipments = await conn.fetchval(
        "SELECT count(*) FROM shipments WHERE order_id = $1 AND status <> 'CANCELLED'", order_id
    )

    def pick(key: str, column: str) -> str | None:
        value = payload.get(key)
        if value in (None, "") and s is not None:
            value = s[column]
        return str(value) if value not in (None, "") else None

    location_id = _int(payload.get("locationId"))
    if location_id is None and s is not None:
        location_id = s["location_id"]
    carrier = pick("carrier", "carrier")  # a code; the customer reads its name
    store = await _location(conn, location_id) if common["kind"] == t.READY_FOR_PICKUP else None
    return t.EmailContext(
        **common,
        lines=tuple(
            t.EmailLine(name=r["name"], sku=r["sku"], quantity=r["quantity"]) for r in items
        ),
        partial=int(shipments or 0) > 1,
        carrier=display_name(carrier) if carrier else None,
        tracking_number=pick("trackingNumber", "tracking_number"),
        tracking_url=pick("trackingUrl", "tracking_url"),
        pickup_code=pick("pickupCode", "pickup_code"),
        store_name=store[0] if store else None,
        store_address=store[1] if store else (),
    )


async def _return_context(
    conn: Any,
    order_id: int,
    currency: str,
    payload: dict[str, Any],
    common: dict[str, Any],
    links: Links,
    now: dt.datetime,
) -> t.EmailContext:
    """The return case as it is now (its row), the payload filling what a missing row
    leaves out; a refund email shows that refund (payload `refund.id`)."""
    kind = common["kind"]
    return_id = _int(payload.get("returnId"))
    r = None
    if return_id is not None:
        r = await conn.fetchrow(
            "SELECT id, number, receiving_location_id, rejection_reason FROM returns"
            " WHERE id = $1 AND order_id = $2",
            return_id,
            order_id,
        )
    number = (r["number"] if r is not None else None) or payload.get("returnNumber")
    fields: dict[str, Any] = {"return_number": str(number) if number else None}
    if kind == t.RETURN_REFUNDED:
        fields.update(await _refund_fields(conn, r, payload, currency))
    elif r is not None:
        lines = await conn.fetch(
            "SELECT rl.sku, COALESCE(p.name, rl.sku) AS name, rl.quantity FROM return_lines rl"
            " LEFT JOIN products p ON p.sku = rl.sku WHERE rl.return_id = $1 ORDER BY rl.id",
            r["id"],
        )
        fields["lines"] = tuple(
            t.EmailLine(name=x["name"], sku=x["sku"], quantity=x["quantity"]) for x in lines
        )
    if kind == t.RETURN_APPROVED:
        location_id = r["receiving_location_id"] if r is not None else None
        if location_id is None:
            location_id = _int(payload.get("locationId"))
        place = await _location(conn, location_id)
        if place is not None:
            fields["return_to_name"], fields["return_to_address"] = place
        if r is not None:
            fields["label_url"] = links.return_label(r["id"], now)
    elif kind == t.RETURN_REJECTED:
        reason = (r["rejection_reason"] if r is not None else None) or payload.get("reason")
        fields["rejection_reason"] = str(reason) if reason else None
    return t.EmailContext(**common, **fields)


async def _refund_fields(
    conn: Any, r: Any, payload: dict[str, Any], currency: str
) -> dict[str, Any]:
    """The refund's amount (shipping included) and what it paid back, line by line."""
    refund = payload.get("refund")
    refund_id = _int(refund.get("id")) if isinstance(refund, dict) else None
    if r is None or refund_id is None:
        return {}
    row = await conn.fetchrow(
        "SELECT amount_minor, shipping_minor, currency, lines::text AS lines FROM refunds"
        " WHERE id = $1 AND return_id = $2",
        refund_id,
        r["id"],
    )
    if row is None:
        return {}
    currency = row["currency"] or currency
    parts: list[dict[str, Any]] = orjson.loads(row["lines"] or "[]")
    names = {
        x["id"]: x
        for x in await conn.fetch(
            "SELECT l.id, l.sku, COALESCE(p.name, l.sku) AS name, l.line_number FROM order_lines l"
            " LEFT JOIN products p ON p.sku = l.sku WHERE l.id = ANY($1::bigint[])",
            [int(p["orderLineId"]) for p in parts if _int(p.get("orderLineId")) is not None],
        )
    }
    lines = []
    for part in parts:
        line = names.get(_int(part.get("orderLineId")))
        if line is None or not part.get("units"):
            continue
        lines.append(
            (
                line["line_number"],
                t.EmailLine(
                    name=line["name"],
                    sku=line["sku"],
                    quantity=int(part["units"]),
                    amount=_money(int(part.get("amount") or 0), currency),
                ),
            )
        )
    lines.sort(key=lambda x: x[0])
    return {
        "lines": tuple(x[1] for x in lines),
        "shipping": _money(row["shipping_minor"], currency) if row["shipping_minor"] else None,
        "total": _money(row["amount_minor"], currency),
    }
