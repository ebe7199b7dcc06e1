"""Packing slips: the printable sheet that travels with a shipment (HTML and PDF).

The slip carries a QR code of the shipment's API id, so a scanner at the packing bench
can go straight from the paper to `node(id:)`. The domain does not know how ids are
encoded for the API: the caller passes that reference in.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reportlab.graphics import renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.db import driver_connection


@dataclass(frozen=True, slots=True)
class PackingSlip:
    shipment_id: str  # the reference the QR encodes (the API's global id)
    status: str
    method: str  # SHIP or PICKUP
    service_level: str | None
    order_number: str
    placed_at: dt.datetime
    customer_name: str | None
    customer_email: str
    ship_to: tuple[str, ...]  # address lines; empty for a pickup
    pickup_store: tuple[str, ...]  # store name and address lines; empty for a shipment
    ship_from_name: str
    ship_from: tuple[str, ...]
    timezone: str  # of the ship-from location: the bench reads its own local time
    lines: tuple[tuple[str, str, int], ...]  # (sku, product name, quantity net of cancellations)
    ship_by: dt.datetime | None
    carrier: str | None
    tracking_number: str | None

    @property
    def units(self) -> int:
        return sum(q for _, _, q in self.lines)


# Each address comes out under one prefix (to_, from_, pickup_) so one helper reads all three.
_HEADER_SQL = """
SELECT s.location_id, s.method, s.status, s.service_level, s.ship_by, s.carrier, s.tracking_number,
       o.channel_id, o.number, o.placed_at, c.name AS customer_name, c.email AS customer_email,
       COALESCE(o.ship_name, c.name) AS to_name, o.ship_line1 AS to_line1, o.ship_line2 AS to_line2,
       o.ship_city AS to_city, o.ship_postal_code AS to_postal, o.ship_country_code AS to_country,
       l.name AS location_name, l.timezone, l.address_name AS from_name, l.address_line1 AS from_line1,
       l.address_line2 AS from_line2, l.city AS from_city, l.postal_code AS from_postal,
       l.country_code AS from_country, p.name AS pickup_name, p.address_line1 AS pickup_line1,
       p.address_line2 AS pickup_line2, p.city AS pickup_city, p.postal_code AS pickup_postal,
       p.country_code AS pickup_country
FROM shipments s
JOIN orders o ON o.id = s.order_id
JOIN customers c ON c.id = o.customer_id
JOIN locations l ON l.id = s.location_id
LEFT JOIN locations p ON p.id = o.pickup_location_id
WHERE s.id = $1
"""

# Cancelled units are not packed, so they are not printed; fully cancelled lines drop out.
_LINES_SQL = """
SELECT sl.sku, COALESCE(pr.name, sl.sku) AS name, sl.quantity - sl.quantity_cancelled AS quantity
FROM shipment_lines sl
JOIN order_lines ol ON ol.id = sl.order_line_id
LEFT JOIN products pr ON pr.sku = sl.sku
WHERE sl.shipment_id = $1 AND sl.quantity > sl.quantity_cancelled
ORDER BY ol.line_number
"""


def _may_see(principal: Principal, location_id: int, channel_id: int) -> bool:
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.PARTNER:
        return principal.can_act_at_location(location_id)
    if principal.role is Role.CHANNEL:
        return principal.can_see_channel(channel_id)
    return False  # customers and anonymous callers do not print warehouse paperwork


def _address(row: Any, prefix: str) -> tuple[str, ...]:
    def f(name: str) -> str | None:
        value = row[f"{prefix}_{name}"]
        return str(value) if value else None

    town = " ".join(p for p in (f("postal"), f("city")) if p)
    return tuple(p for p in (f("name"), f("line1"), f("line2"), town, f("country")) if p)


async def load_packing_slip(
    session: AsyncSession, principal: Principal, shipment_id: int, *, reference: str | None = None
) -> PackingSlip | None:
    """The slip, or None when the shipment does not exist or the principal may not see
    it (the two are indistinguishable on purpose). `reference` is what the slip prints
    and encodes as the shipment's id (defaults to the primary key)."""
    if not 0 < shipment_id < 2**63:  # beyond bigint: cannot exist, and asyncpg would raise
        return None
    conn = await driver_connection(session)
    h = await conn.fetchrow(_HEADER_SQL, shipment_id)
    if h is None or not _may_see(principal, h["location_id"], h["channel_id"]):
        return None
    lines = await conn.fetch(_LINES_SQL, shipment_id)
    pickup = h["method"] == "PICKUP"
    return PackingSlip(
        shipment_id=reference or str(shipment_id),
        status=h["status"],
        method=h["method"],
        service_level=h["service_level"],
        order_number=h["number"],
        placed_at=h["placed_at"],
        customer_name=h["customer_name"],
        customer_email=h["customer_email"],
        ship_to=() if pickup else _address(h, "to"),
        pickup_store=_address(h, "pickup") if pickup else (),
        ship_from_name=h["location_name"],
        ship_from=_address(h, "from"),
        timezone=h["timezone"],
        lines=tuple((r["sku"], r["name"], r["quantity"]) for r in lines),
        ship_by=h["ship_by"],
        carrier=h["carrier"],
        tracking_number=h["tracking_number"],
    )


def _when(moment: dt.datetime | None, timezone: str) -> str:
    if moment is None:
        return "-"
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _facts(slip: PackingSlip) -> list[tuple[str, str]]:
    """The header facts, shared by both renderings so they never disagree."""
    facts = [
        ("Order", slip.order_number),
        ("Placed", _when(slip.placed_at, slip.timezone)),
        ("Shipment", slip.shipment_id),
        ("Status", slip.status),
        ("Method", " ".join(p for p in (slip.method, slip.service_level) if p)),
        ("Ship by", _when(slip.ship_by, slip.timezone)),
        ("Customer", " ".join(p for p in (slip.customer_name, f"<{slip.customer_email}>") if p)),
    ]
    if slip.carrier or slip.tracking_number:
        facts.append(("Carrier", " ".join(p for p in (slip.carrier, slip.tracking_number) if p)))
    return facts


def _destination(slip: PackingSlip) -> tuple[str, tuple[str, ...]]:
    if slip.method == "PICKUP":
        return "Pickup at store", slip.pickup_store
    return "Ship to", slip.ship_to


def _qr(slip: PackingSlip, size: float) -> Drawing:
    widget = QrCodeWidget(slip.shipment_id, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def qr_svg(slip: PackingSlip, size: float = 110) -> str:
    """The QR as an inline <svg> element (without the XML prologue renderSVG writes)."""
    svg = renderSVG.drawToString(_qr(slip, size))
    return svg[svg.index("<svg") :]


_CSS = """
@page { size: A4; margin: 15mm; }
body { font: 11pt/1.4 "Helvetica Neue", Arial, sans-serif; color: #000; margin: 0; }
header { display: flex; justify-content: space-between; align-items: flex-start; }
h1 { font-size: 20pt; margin: 0 0 4mm; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 1mm 4mm; margin: 0; }
dt { font-weight: bold; } dd { margin: 0; }
.parties { display: flex; gap: 10mm; margin: 8mm 0; } .parties section { flex: 1; }
h2 { font-size: 11pt; text-transform: uppercase; margin: 0 0 2mm; }
table { width: 100%; border-collapse: collapse; }
th, td { border-bottom: 1px solid #999; padding: 2mm; text-align: left; }
td.qty, th.qty { text-align: right; width: 20mm; } tr { page-break-inside: avoid; }
tfoot td { font-weight: bold; border-bottom: none; }
"""


def render_html(slip: PackingSlip) -> str:
    e = html.escape
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _facts(slip))
    dest_title, dest = _destination(slip)
    rows = "".join(
        f'<tr><td>{e(sku)}</td><td>{e(name)}</td><td class="qty">{q}</td></tr>'
        for sku, name, q in slip.lines
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Packing slip {e(slip.order_number)}</title><style>{_CSS}</style></head>
<body>
<header><div><h1>Packing slip</h1><dl>{facts}</dl></div>
<figure aria-label="Shipment id {e(slip.shipment_id)}">{qr_svg(slip)}</figure></header>
<div class="parties">
<section><h2>Ship from</h2><strong>{e(slip.ship_from_name)}</strong><br>{"<br>".join(map(e, slip.ship_from))}</section>
<section><h2>{e(dest_title)}</h2>{"<br>".join(map(e, dest))}</section>
</div>
<table><thead><tr><th>SKU</th><th>Product</th><th class="qty">Qty</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr><td></td><td>Total units</td><td class="qty">{slip.units}</td></tr></tfoot></table>
</body></html>
"""


def render_pdf(slip: PackingSlip) -> bytes:
    """A4 PDF. Platypus flows the line table onto further pages (header row repeated).
    The built-in Helvetica covers Latin-1 only; other scripts would need a TTF font."""
    styles = getSampleStyleSheet()
    body, h1 = styles["BodyText"], styles["Heading1"]

    def para(text: str, bold: bool = False) -> Paragraph:
        # Paragraph parses a markup subset: escape so data is never read as markup.
        escaped = html.escape(text)
        return Paragraph(f"<b>{escaped}</b>" if bold else escaped, body)

    def block(title: str, lines: tuple[str, ...]) -> list[Paragraph]:
        return [para(title.upper(), bold=True), *(para(x) for x in lines)]

    facts = Table(
        [[para(k, bold=True), para(v)] for k, v in _facts(slip)], colWidths=[28 * mm, None]
    )
    header = Table(
        [[[Paragraph("Packing slip", h1), facts], _qr(slip, 38 * mm)]], colWidths=[None, 42 * mm]
    )
    top = TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")])
    header.setStyle(top)
    dest_title, dest = _destination(slip)
    parties = Table(
        [[block("Ship from", (slip.ship_from_name, *slip.ship_from)), block(dest_title, dest)]]
    )
    parties.setStyle(top)
    rows: list[list[object]] = [[para("SKU", True), para("Product", True), "Qty"]]
    rows += [[para(sku), para(name), str(q)] for sku, name, q in slip.lines]
    rows.append(["", para("Total units", True), str(slip.units)])
    lines = Table(rows, colWidths=[45 * mm, None, 20 * mm], repeatRows=1)
    lines.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -2), 0.5, colors.grey),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (2, 0), (2, 0), "Helvetica-Bold"),
                ("FONTNAME", (2, -1), (2, -1), "Helvetica-Bold"),
            ]
        )
    )
    out = io.BytesIO()
    margins = {f"{side}Margin": 15 * mm for side in ("left", "right", "top", "bottom")}
    title = f"Packing slip {slip.order_number}"
    # invariant: the same slip gives the same bytes (no creation date, no random file id).
    doc = SimpleDocTemplate(out, pagesize=A4, title=title, invariant=1, **margins)
    doc.build([header, Spacer(1, 6 * mm), parties, Spacer(1, 6 * mm), lines])
    return out.getvalue()
