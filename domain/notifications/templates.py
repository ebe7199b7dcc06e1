"""Customer emails: a subject, a plain-text body and a simple HTML body per kind.

Pure functions of an `EmailContext` (already formatted strings: amounts are decimal
strings with their currency), so they are tested without a database. Every value that
comes from outside (names, addresses, carrier data, rejection reasons) is HTML-escaped,
and a tracking or label link is only made clickable when it is an http(s) URL.

Order and shipment kinds are in `KINDS`; return cases (approved, refunded, rejected) in
`RETURN_KINDS`; `ALL_KINDS` is both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

ORDER_CONFIRMED = "ORDER_CONFIRMED"
SHIPPED = "SHIPPED"
READY_FOR_PICKUP = "READY_FOR_PICKUP"
DELIVERED = "DELIVERED"
DELIVERY_FAILED = "DELIVERY_FAILED"
KINDS = (ORDER_CONFIRMED, SHIPPED, READY_FOR_PICKUP, DELIVERED, DELIVERY_FAILED)
RETURN_APPROVED = "RETURN_APPROVED"
RETURN_REFUNDED = "RETURN_REFUNDED"
RETURN_REJECTED = "RETURN_REJECTED"
RETURN_KINDS = (RETURN_APPROVED, RETURN_REFUNDED, RETURN_REJECTED)
ALL_KINDS = KINDS + RETURN_KINDS


@dataclass(frozen=True, slots=True)
class EmailLine:
    name: str
    sku: str
    quantity: int
    amount: str | None = None  # the line's total, e.g. "49.80 EUR"; None in shipment emails
    # (in a refund email: what the line's units were refunded)


@dataclass(frozen=True, slots=True)
class EmailContext:
    kind: str
    order_number: str
    customer_name: str | None = None
    lines: tuple[EmailLine, ...] = ()
    # Order confirmation (shipping and total also in a refund email: what was refunded)
    subtotal: str | None = None
    discount: str | None = None  # only when there is one
    shipping: str | None = None
    tax: str | None = None  # included in the prices; only when there is some
    total: str | None = None
    backordered: bool = False
    delivery_method: str = "SHIP"  # SHIP or PICKUP
    ship_to: tuple[str, ...] = ()  # address lines
    # Shipments
    partial: bool = False  # this parcel is part of the order only
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    store_name: str | None = None
    store_address: tuple[str, ...] = ()
    pickup_code: str | None = None
    # Returns
    return_number: str | None = None  # the RMA number, e.g. "RMA-100045-4-1"
    return_to_name: str | None = None  # the location that receives the parcel
    return_to_address: tuple[str, ...] = ()
    label_url: str | None = None  # the printable return label (a path or an http(s) URL)
    rejection_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    text: str
    html: str


def _return_ref(ctx: EmailContext) -> str:
    """How a return is named: its RMA number (always there in real emails)."""
    return ctx.return_number or f"of order {ctx.order_number}"


def subject(ctx: EmailContext) -> str:
    n = ctx.order_number
    r = _return_ref(ctx)
    return {
        ORDER_CONFIRMED: f"Your order {n} is confirmed",
        SHIPPED: f"Your order {n} is on its way",
        READY_FOR_PICKUP: f"Your order {n} is ready for pickup",
        DELIVERED: f"Your order {n} has been delivered",
        DELIVERY_FAILED: f"We couldn't deliver your order {n}",
        RETURN_APPROVED: f"Your return {r} is approved",
        RETURN_REFUNDED: f"Your refund for return {r} is on its way",
        RETURN_REJECTED: f"We couldn't accept your return {r}",
    }[ctx.kind]


def render_email(ctx: EmailContext) -> Email:
    """The email for one notification; raises KeyError for an unknown kind."""
    paragraphs, extra = _BODIES[ctx.kind](ctx)
    greeting = f"Hello {ctx.customer_name}," if ctx.customer_name else "Hello,"
    text = "\n\n".join([greeting, *(p.text for p in paragraphs), _SIGN_OFF]) + "\n"
    html = _html_page(subject(ctx), [_Block.para(greeting), *paragraphs], extra)
    return Email(subject=subject(ctx), text=text, html=html)


_SIGN_OFF = "Thank you for shopping with us."


@dataclass(frozen=True, slots=True)
class _Block:
    """One paragraph of the body, in both forms."""

    text: str
    html: str

    @classmethod
    def para(cls, text: str) -> _Block:
        return cls(text, f"<p>{escape(text)}</p>")


def _is_web_url(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _lines_block(ctx: EmailContext, title: str) -> _Block:
    text_rows = []
    html_rows = []
    for line in ctx.lines:
        label = f"{line.quantity} x {line.name} ({line.sku})"
        text_rows.append(f"  {label}" + (f"  {line.amount}" if line.amount else ""))
        html_rows.append(
            f'<tr><td style="padding:4px 12px 4px 0">{line.quantity} &times; {escape(line.name)}'
            f' <span style="color:#777">({escape(line.sku)})</span></td>'
            f'<td style="padding:4px 0;text-align:right">{escape(line.amount or "")}</td></tr>'
        )
    totals = [
        ("Subtotal", ctx.subtotal),
        ("Discount", f"-{ctx.discount}" if ctx.discount else None),
        ("Shipping", ctx.shipping),
        ("Total", ctx.total),
        ("Including tax", ctx.tax),
    ]
    for label, value in totals:
        if value is None:
            continue
        text_rows.append(f"  {label}: {value}")
        weight = "bold" if label == "Total" else "normal"
        html_rows.append(
            f'<tr><td style="padding:4px 12px 4px 0;font-weight:{weight}">{label}</td>'
            f'<td style="padding:4px 0;text-align:right;font-weight:{weight}">{escape(value)}</td></tr>'
        )
    text = f"{title}:\n" + "\n".join(text_rows)
    html = (
        f"<p><strong>{escape(title)}</strong></p>"
        f'<table style="border-collapse:collapse">{"".join(html_rows)}</table>'
    )
    return _Block(text, html)


def _address_block(title: str, lines: tuple[str, ...]) -> _Block:
    text = f"{title}:\n" + "\n".join(f"  {x}" for x in lines)
    html = (
        f"<p><strong>{escape(title)}</strong><br>" + "<br>".join(escape(x) for x in lines) + "</p>"
    )
    return _Block(text, html)


def _tracking_block(ctx: EmailContext) -> _Block | None:
    if not (ctx.tracking_url or ctx.tracking_number or ctx.carrier):
        return None
    parts = []
    if ctx.carrier:
        parts.append(f"Carrier: {ctx.carrier}")
    if ctx.tracking_number:
        parts.append(f"Tracking number: {ctx.tracking_number}")
    text_parts = list(parts)
    html_parts = [escape(p) for p in parts]
    if ctx.tracking_url:
        text_parts.append(f"Track your parcel: {ctx.tracking_url}")
        if _is_web_url(ctx.tracking_url):
            url = escape(ctx.tracking_url, quote=True)
            html_parts.append(f'<a href="{url}">Track your parcel</a>')
        else:
            html_parts.append(escape(f"Tracking: {ctx.tracking_url}"))
    return _Block("\n".join(text_parts), "<p>" + "<br>".join(html_parts) + "</p>")


def _button(ctx: EmailContext) -> str:
    if not _is_web_url(ctx.tracking_url):
        return ""
    url = escape(ctx.tracking_url or "", quote=True)
    return (
        f'<p><a href="{url}" style="display:inline-block;padding:10px 18px;background:#1a1a1a;'
        'color:#ffffff;text-decoration:none;border-radius:4px">Track your parcel</a></p>'
    )


Body = Callable[[EmailContext], tuple[list[_Block], str]]


def _confirmed(ctx: EmailContext) -> tuple[list[_Block], str]:
    blocks = [_Block.para(f"Thank you for your order {ctx.order_number}. We have received it.")]
    if ctx.backordered:
        blocks.append(
            _Block.para(
                "Some items are not in stock right now: we have reserved them from our next"
                " delivery and will send them as soon as they arrive."
            )
        )
    blocks.append(_lines_block(ctx, "Your order"))
    if ctx.delivery_method == "PICKUP":
        if ctx.store_name:
            blocks.append(_address_block(f"Pickup at {ctx.store_name}", ctx.store_address))
        blocks.append(_Block.para("We will email you as soon as your order is ready for pickup."))
    else:
        if ctx.ship_to:
            blocks.append(_address_block("Delivery address", ctx.ship_to))
        blocks.append(_Block.para("We will email you again when your order ships."))
    return blocks, ""


def _shipment_items(ctx: EmailContext, title: str) -> list[_Block]:
    return [_lines_block(ctx, title)] if ctx.lines else []


def _shipped(ctx: EmailContext) -> tuple[list[_Block], str]:
    what = "Part of your order" if ctx.partial else "Your order"
    blocks = [_Block.para(f"Good news: {what.lower()} {ctx.order_number} has shipped.")]
    blocks.extend(_shipment_items(ctx, "In this parcel"))
    tracking = _tracking_block(ctx)
    if tracking:
        blocks.append(tracking)
    return blocks, _button(ctx)


def _ready(ctx: EmailContext) -> tuple[list[_Block], str]:
    what = "Part of your order" if ctx.partial else "Your order"
    where = f" at {ctx.store_name}" if ctx.store_name else ""
    blocks = [_Block.para(f"{what} {ctx.order_number} is ready for pickup{where}.")]
    if ctx.store_address:
        blocks.append(_address_block(ctx.store_name or "Store", ctx.store_address))
    if ctx.pickup_code:
        code = ctx.pickup_code
        blocks.append(
            _Block(
                f"Your pickup code: {code}\nShow this code at the store to collect your order.",
                f'<p>Your pickup code: <strong style="font-size:20px;letter-spacing:2px">{escape(code)}'
                "</strong><br>Show this code at the store to collect your order.</p>",
            )
        )
    blocks.extend(_shipment_items(ctx, "Ready for you"))
    return blocks, ""


def _delivered(ctx: EmailContext) -> tuple[list[_Block], str]:
    what = "Part of your order" if ctx.partial else "Your order"
    blocks = [_Block.para(f"{what} {ctx.order_number} has been delivered. We hope you enjoy it!")]
    blocks.extend(_shipment_items(ctx, "Delivered"))
    blocks.append(
        _Block.para("If something is wrong with your order, reply to this email and we will help.")
    )
    return blocks, ""


def _failed(ctx: EmailContext) -> tuple[list[_Block], str]:
    carrier = ctx.carrier or "The carrier"
    blocks = [
        _Block.para(
            f"{carrier} tried to deliver your order {ctx.order_number} but could not. They will"
            " usually try again or leave a notice telling you where to collect your parcel."
        )
    ]
    tracking = _tracking_block(ctx)
    if tracking:
        blocks.append(tracking)
    blocks.append(_Block.para("If you need help, reply to this email and we will sort it out."))
    return blocks, _button(ctx)


def _return_of(ctx: EmailContext) -> str:
    """The return and its order, as said in a sentence."""
    if ctx.return_number:
        return f"return {ctx.return_number} for order {ctx.order_number}"
    return f"return of order {ctx.order_number}"


def _label_block(ctx: EmailContext) -> _Block | None:
    if not ctx.label_url:
        return None
    text = f"Print your return label: {ctx.label_url}"
    if _is_web_url(ctx.label_url):
        url = escape(ctx.label_url, quote=True)
        html = f'<p><a href="{url}">Print your return label</a></p>'
    else:
        html = f"<p>Print your return label: {escape(ctx.label_url)}</p>"
    return _Block(text, html)


def _return_approved(ctx: EmailContext) -> tuple[list[_Block], str]:
    blocks = [_Block.para(f"Your {_return_of(ctx)} is approved.")]
    if ctx.return_number:
        number = ctx.return_number
        blocks.append(
            _Block(
                f"Your RMA number: {number}\nWrite it on the parcel, or stick the return label"
                " on it.",
                f'<p>Your RMA number: <strong style="font-size:20px;letter-spacing:2px">'
                f"{escape(number)}</strong><br>Write it on the parcel, or stick the return label"
                " on it.</p>",
            )
        )
    if ctx.lines:
        blocks.append(_lines_block(ctx, "What to send back"))
    if ctx.return_to_name or ctx.return_to_address:
        where = tuple(x for x in (ctx.return_to_name, *ctx.return_to_address) if x)
        blocks.append(_address_block("Send your parcel to", where))
    label = _label_block(ctx)
    if label:
        blocks.append(label)
    blocks.append(
        _Block.para(
            "Please put a copy of the label inside the parcel. We will email you again once"
            " we have processed your return."
        )
    )
    return blocks, ""


def _return_refunded(ctx: EmailContext) -> tuple[list[_Block], str]:
    amount = f" of {ctx.total}" if ctx.total else ""
    blocks = [
        _Block.para(f"We have received your {_return_of(ctx)} and sent you a refund{amount}.")
    ]
    if ctx.lines or ctx.total:
        blocks.append(_lines_block(ctx, "Refunded"))
    blocks.append(
        _Block.para(
            "The money goes back to your original payment method. Depending on your bank, it"
            " can take a few days to appear on your statement."
        )
    )
    return blocks, ""


def _return_rejected(ctx: EmailContext) -> tuple[list[_Block], str]:
    blocks = [_Block.para(f"We have reviewed your {_return_of(ctx)} and cannot accept it.")]
    if ctx.rejection_reason:
        blocks.append(_Block.para(f"Reason: {ctx.rejection_reason}"))
    if ctx.lines:
        blocks.append(_lines_block(ctx, "Your return request"))
    blocks.append(
        _Block.para("If you have a question about this, reply to this email and we will help.")
    )
    return blocks, ""


_BODIES: dict[str, Body] = {
    ORDER_CONFIRMED: _confirmed,
    SHIPPED: _shipped,
    READY_FOR_PICKUP: _ready,
    DELIVERED: _delivered,
    DELIVERY_FAILED: _failed,
    RETURN_APPROVED: _return_approved,
    RETURN_REFUNDED: _return_refunded,
    RETURN_REJECTED: _return_rejected,
}


def _html_page(title: str, blocks: list[_Block], extra: str) -> str:
    body = "".join(b.html for b in blocks) + extra + f"<p>{escape(_SIGN_OFF)}</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;color:#1a1a1a;'
        'line-height:1.5;max-width:600px;margin:0 auto;padding:16px">'
        f"{body}</body></html>\n"
    )
