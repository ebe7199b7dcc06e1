"""The return label a customer prints: RMA number (and its QR), where to send the parcel,
and what goes in it."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from reportlab.graphics import renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.db import driver_connection
from domain.returns.models import REASON_LABELS


@dataclass(frozen=True, slots=True)
class ReturnLabel:
    number: str
    status: str
    order_number: str
    sender: tuple[str, ...]
    recipient: tuple[str, ...]
    lines: tuple[tuple[str, str, int, str], ...]  # sku, product name, quantity, reason (words)


async def load_return_label(
    session: AsyncSession, principal: Principal, return_id: int
) -> ReturnLabel | None:
    conn = await driver_connection(session)
    row = await conn.fetchrow(
        """
        SELECT r.number, r.status, r.receiving_location_id, o.number AS order_number, o.channel_id, o.customer_id,
               o.ship_name, o.ship_line1, o.ship_line2, o.ship_postal_code, o.ship_city, o.ship_country_code,
               l.name AS loc_name, l.address_line1, l.address_line2, l.postal_code, l.city, l.country_code
        FROM returns r JOIN orders o ON o.id = r.order_id JOIN locations l ON l.id = r.receiving_location_id
        WHERE r.id = $1
        """,
        return_id,
    )
    if row is None:
        return None
    if principal.role is Role.PARTNER:
        if not principal.can_act_at_location(row["receiving_location_id"]):
            return None
    elif not principal.can_see_customer(row["channel_id"], row["customer_id"]):
        return None
    lines = await conn.fetch(
        "SELECT rl.sku, COALESCE(p.name, rl.sku) AS name, rl.quantity, rl.reason_code"
        " FROM return_lines rl LEFT JOIN products p ON p.sku = rl.sku WHERE rl.return_id = $1 ORDER BY rl.id",
        return_id,
    )

    def address(*parts: Any) -> tuple[str, ...]:
        return tuple(str(p) for p in parts if p)

    return ReturnLabel(
        number=row["number"],
        status=row["status"],
        order_number=row["order_number"],
        sender=address(
            row["ship_name"],
            row["ship_line1"],
            row["ship_line2"],
            f"{row['ship_postal_code'] or ''} {row['ship_city'] or ''}".strip(),
            row["ship_country_code"],
        ),
        recipient=address(
            f"Returns — {row['loc_name']}",
            row["address_line1"],
            row["address_line2"],
            f"{row['postal_code']} {row['city']}",
            row["country_code"],
        ),
        lines=tuple(
            (r["sku"], r["name"], r["quantity"], REASON_LABELS.get(r["reason_code"], "Other"))
            for r in lines
        ),
    )


def _qr_svg(text: str, size: float = 120) -> str:
    widget = QrCodeWidget(text, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    svg = renderSVG.drawToString(drawing)
    return svg[svg.index("<svg") :]


def render_label_html(label: ReturnLabel) -> str:
    e = html.escape
    lines = "".join(
        f"<tr><td>{e(name)}</td><td>{e(sku)}</td><td>{qty}</td><td>{e(reason)}</td></tr>"
        for sku, name, qty, reason in label.lines
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Return {e(label.number)}</title>
<style>@page {{ size: A4; margin: 15mm; }} body {{ font: 12pt Arial, sans-serif; }}
.box {{ border: 2px dashed #000; padding: 8mm; display: flex; justify-content: space-between; }}
h1 {{ font-size: 28pt; margin: 0; }} address {{ font-style: normal; white-space: pre-line; }}
table {{ border-collapse: collapse; margin-top: 8mm; }} td, th {{ border-bottom: 1px solid #999; padding: 2mm 6mm 2mm 0; text-align: left; }}</style>
</head><body>
<div class="box"><div><p>RETURN — RMA</p><h1>{e(label.number)}</h1><p>Order {e(label.order_number)}</p>
<h2>To</h2><address>{e(chr(10).join(label.recipient))}</address>
<h2>From</h2><address>{e(chr(10).join(label.sender))}</address></div>
<div>{_qr_svg(label.number)}</div></div>
<p>Cut along the dashed line and stick it on the parcel. Put a copy of this page inside.</p>
<table><thead><tr><th>Item</th><th>SKU</th><th>Units</th><th>Reason</th></tr></thead><tbody>{lines}</tbody></table>
</body></html>"""
