"""Printable documents over plain HTTP: a packing slip per shipment, as HTML or PDF.

Browsers and label printers fetch these directly, so they are plain GET URLs rather than
GraphQL fields; they take the same bearer credentials as the GraphQL API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import InvalidCredential
from domain.access.principal import SYSTEM, Role
from domain.fulfillment.packing_slip import load_packing_slip, render_html, render_pdf
from domain.returns.label import load_return_label, render_label_html
from domain.returns.label_links import token_opens
from schema.base import pk_of, to_global_id

if TYPE_CHECKING:
    from api.app import Runtime

_FORMATS = {"html", "pdf"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    # The same error shape the GraphQL endpoint uses for transport-level refusals.
    headers = {"WWW-Authenticate": 'Bearer realm="oms"'} if status == 401 else None
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


def _not_found() -> JSONResponse:
    return _error(404, "NOT_FOUND", "no such document")


async def packing_slip(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        authenticated = await runtime.authenticator.authenticate(
            request.headers.get("authorization")
        )
    except InvalidCredential as exc:
        return _error(401, "UNAUTHENTICATED", str(exc))
    principal = authenticated.principal
    if principal.role is Role.ANONYMOUS:
        return _error(401, "UNAUTHENTICATED", "A valid credential is required")

    fmt = request.path_params["format"]
    pk = pk_of(request.path_params["shipment_id"], "Shipment")
    # A bad format, an id that is not a shipment's, a missing shipment and one the caller
    # may not see all answer the same 404: nothing tells them apart.
    if fmt not in _FORMATS or pk is None:
        return _not_found()
    # Print the canonical id, never the caller's spelling of it (it ends up in a header).
    reference = to_global_id("Shipment", pk)
    async with runtime.services.read_sessionmaker() as session:
        slip = await load_packing_slip(session, principal, pk, reference=reference)
    if slip is None:
        return _not_found()

    headers = {"Cache-Control": "private, no-store"}  # it carries a customer's address
    # Rendering (reportlab, the QR code) is pure Python and CPU-bound: a long slip takes
    # tens of milliseconds, which belong in a worker thread, not on the event loop.
    if fmt == "html":
        page = await run_in_threadpool(render_html, slip)
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)
    filename = f"packing-slip-{slip.order_number}-{reference}.pdf"
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    pdf = await run_in_threadpool(render_pdf, slip)
    return Response(pdf, media_type="application/pdf", headers=headers)


async def return_label(request: Request) -> Response:
    """The printable label of a return case (RMA), for its customer, channel, admin or
    the receiving location, or for whoever holds the signed link of the customer's
    email (`?token=`, domain/returns/label_links.py)."""
    runtime: Runtime = request.app.state.runtime
    pk = pk_of(request.path_params["return_id"], "Return")
    token = request.query_params.get("token")
    if token is not None:
        # The signed link of the customer's email: it opens this label, nothing else.
        services = runtime.services
        if pk is None or not token_opens(services.token_signing_key, pk, token, services.clock()):
            return _error(401, "UNAUTHENTICATED", "This label link is not valid or has expired")
        principal = SYSTEM
    else:
        try:
            authenticated = await runtime.authenticator.authenticate(
                request.headers.get("authorization")
            )
        except InvalidCredential as exc:
            return _error(401, "UNAUTHENTICATED", str(exc))
        principal = authenticated.principal
        if principal.role is Role.ANONYMOUS:
            return _error(401, "UNAUTHENTICATED", "A valid credential is required")
    if pk is None:
        return _not_found()
    async with runtime.services.read_sessionmaker() as session:
        label = await load_return_label(session, principal, pk)
    if label is None:
        return _not_found()
    page = await run_in_threadpool(render_label_html, label)
    return Response(
        page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "private, no-store"}
    )


ROUTES = [
    Route("/shipments/{shipment_id}/packing-slip.{format}", packing_slip),
    Route("/returns/{return_id}/label.html", return_label),
]
