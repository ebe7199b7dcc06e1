"""Packing slips: printable per shipment, for whoever may see the shipment, over plain GET."""

from __future__ import annotations

import base64
import io

import pypdf

from tests.api.test_orders import stocked
from tests.fixtures import World, variables
from tests.support import Api


async def placed(api: Api, world: World) -> tuple[str, str]:
    """(order number, id of its one shipment, from WH-LYON)."""
    await stocked(api, world)
    data = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    assert data["userErrors"] == []
    order = data["order"]
    [shipment] = order["shipments"]
    assert shipment["location"]["code"] == "WH-LYON"
    return order["number"], shipment["id"]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_html_slip_for_the_shipping_location(api: Api, world: World) -> None:
    number, shipment_id = await placed(api, world)
    r = await api.http.get(
        f"/shipments/{shipment_id}/packing-slip.html", headers=auth(world.partner)
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.text
    assert number in page
    assert shipment_id in page
    for sku, qty in (("TEE-BLUE-M", 2), ("MUG-STONE", 1)):
        assert sku in page
        assert f"<td>{sku}</td>" in page
        assert (
            f'<td class="qty">{qty}</td>' in page.split(f"<td>{sku}</td>", 1)[1].split("</tr>")[0]
        )
    assert page.index("TEE-BLUE-M") < page.index("MUG-STONE")  # order line order
    for part in ("Camille Martin", "3 rue Saint-Maur", "75011 Paris", "FR"):
        assert part in page
    assert '<td class="qty">3</td>' in page  # total units
    assert "<svg" in page and "<?xml" not in page  # inline QR, no XML prologue mid-page


async def test_pdf_slip_carries_the_order_number(api: Api, world: World) -> None:
    number, shipment_id = await placed(api, world)
    r = await api.http.get(
        f"/shipments/{shipment_id}/packing-slip.pdf", headers=auth(world.partner)
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == (
        f'inline; filename="packing-slip-{number}-{shipment_id}.pdf"'
    )
    assert r.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    assert number in text
    assert "TEE-BLUE-M" in text and "3 rue Saint-Maur" in text


async def test_the_channel_and_admin_may_print_it_too(api: Api, world: World) -> None:
    _, shipment_id = await placed(api, world)
    for key in (world.channel, world.admin):
        r = await api.http.get(f"/shipments/{shipment_id}/packing-slip.html", headers=auth(key))
        assert r.status_code == 200
    r = await api.http.get(
        f"/shipments/{shipment_id}/packing-slip.html", headers=auth(world.other_channel)
    )
    assert r.status_code == 404


async def test_another_location_sees_nothing(api: Api, world: World) -> None:
    _, shipment_id = await placed(api, world)
    for fmt in ("html", "pdf"):
        r = await api.http.get(
            f"/shipments/{shipment_id}/packing-slip.{fmt}", headers=auth(world.other_partner)
        )
        assert r.status_code == 404
        missing = await api.http.get(
            "/shipments/U2hpcG1lbnQ6OTk5OTk/packing-slip.html", headers=auth(world.partner)
        )
        assert r.json() == missing.json()  # indistinguishable from a shipment that is not there


async def test_credentials_are_required(api: Api, world: World) -> None:
    _, shipment_id = await placed(api, world)
    url = f"/shipments/{shipment_id}/packing-slip.pdf"
    r = await api.http.get(url)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = await api.http.get(url, headers=auth("oms_not_a_real_key"))
    assert r.status_code == 401
    r = await api.http.get(url, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401
    customer = await world.customer_token(api)  # not warehouse paperwork
    assert (await api.http.get(url, headers=auth(customer))).status_code == 404


async def test_unknown_ids_and_formats_are_not_found(api: Api, world: World) -> None:
    _, shipment_id = await placed(api, world)
    order_line = base64.urlsafe_b64encode(b"OrderLine:1").decode().rstrip("=")
    huge = base64.urlsafe_b64encode(f"Shipment:{2**70}".encode()).decode().rstrip("=")
    for path in (
        "/shipments/U2hpcG1lbnQ6OTk5OTk/packing-slip.html",  # Shipment:99999
        "/shipments/not-an-id/packing-slip.html",
        f"/shipments/{order_line}/packing-slip.html",
        f"/shipments/{huge}/packing-slip.pdf",
        f"/shipments/{shipment_id}/packing-slip.docx",
        f"/shipments/{shipment_id}/packing-slip.HTML",
    ):
        r = await api.http.get(path, headers=auth(world.admin))
        assert r.status_code == 404, path


async def test_the_shipment_gives_the_url(api: Api, world: World) -> None:
    number, shipment_id = await placed(api, world)
    data = await api.run(
        "query ($id: ID!) { node(id: $id) { ... on Shipment { packingSlipUrl } } }",
        {"id": shipment_id},
        key=world.partner,
    )
    url = data["node"]["packingSlipUrl"]
    r = await api.http.get(url, headers=auth(world.partner))
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF")
    html_url = url.removesuffix(".pdf") + ".html"
    assert number in (await api.http.get(html_url, headers=auth(world.partner))).text
