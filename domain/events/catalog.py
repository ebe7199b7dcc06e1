"""Order events as the world reads them: which locations an event concerns, and its
payload as clients see it (webhook bodies, subscriptions, an order's history).

The outbox stores payloads with row ids, because the service's own consumers join on
them (notifications, webhook fan-out). Clients get the API's global ids instead, the
ids `node(id:)` refetches, produced here and only here; events written before this
rule are shown the same way, so a replayed delivery reads like a new one.

Every event that concerns a location says so: `locationId` (one shipment's or
return's location) or `locationIds` (an order event: the locations of the shipments
it touches). A partner receives an event when one of them is its own, and sees of it
only what concerns its locations (`public_payload(..., locations=...)`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from domain.global_ids import global_id

ORDER_PLACED = "ORDER_PLACED"
ORDER_CANCELLED = "ORDER_CANCELLED"
ORDER_LINES_CANCELLED = "ORDER_LINES_CANCELLED"
SHIPMENT_STATUS_CHANGED = "SHIPMENT_STATUS_CHANGED"
TRACKING_EVENT_RECORDED = "TRACKING_EVENT_RECORDED"
RETURN_STATUS_CHANGED = "RETURN_STATUS_CHANGED"
RETURN_INCOMING = "RETURN_INCOMING"

ORDER_EVENTS = frozenset({ORDER_PLACED, ORDER_CANCELLED, ORDER_LINES_CANCELLED})

# Keys that hold one row id, or a list of them, wherever they appear in a payload.
_ID_KEYS = {
    "shipmentId": "Shipment",
    "locationId": "Location",
    "returnId": "Return",
    "orderLineId": "OrderLine",
}
_ID_LIST_KEYS = {"locationIds": "Location", "cancelledShipments": "Shipment"}

# What a partner sees of an order event: the order's state and the parts at its
# locations, not the customer's basket, the money, or other locations' shipments.
_PARTNER_ORDER_KEYS = ("status", "reason", "locationIds", "shipments", "cancelledShipments")
# Never shown to a partner: the pickup code is the customer's proof of identity at the
# store's counter.
_PARTNER_HIDDEN = frozenset({"pickupCode"})


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def location_ids(payload: dict[str, Any]) -> frozenset[int]:
    """The locations an event concerns (as stored: row ids)."""
    found: set[int] = set()
    single = _int(payload.get("locationId"))
    if single is not None:
        found.add(single)
    many = payload.get("locationIds")
    if isinstance(many, list):
        found.update(i for i in (_int(v) for v in many) if i is not None)
    return frozenset(found)


def concerns(payload: dict[str, Any], locations: Collection[int]) -> bool:
    """Whether an event concerns one of these locations (a partner's)."""
    return not location_ids(payload).isdisjoint(locations)


def _encode(value: Any) -> Any:
    """Row ids under the id keys become global ids, at any depth."""
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key in _ID_KEYS and _int(v) is not None:
            out[key] = global_id(_ID_KEYS[key], _int(v))  # type: ignore[arg-type]
        elif key in _ID_LIST_KEYS and isinstance(v, list):
            out[key] = [
                global_id(_ID_LIST_KEYS[key], i) if (i := _int(x)) is not None else x for x in v
            ]
        else:
            out[key] = _encode(v)
    return out


def _for_partner(type: str, payload: dict[str, Any], locations: Collection[int]) -> dict[str, Any]:
    mine = set(locations)
    if type not in ORDER_EVENTS:
        return {k: v for k, v in payload.items() if k not in _PARTNER_HIDDEN}
    view = {k: payload[k] for k in _PARTNER_ORDER_KEYS if k in payload}
    if "locationIds" in view:
        view["locationIds"] = [i for i in view["locationIds"] if _int(i) in mine]
    shipments = [s for s in view.get("shipments") or [] if _int(s.get("locationId")) in mine]
    if "shipments" in view:
        view["shipments"] = shipments
    if "cancelledShipments" in view:
        own = {_int(s.get("shipmentId")) for s in shipments}
        view["cancelledShipments"] = [i for i in view["cancelledShipments"] if _int(i) in own]
    return view


def public_payload(
    type: str, payload: dict[str, Any], *, locations: Collection[int] | None = None
) -> dict[str, Any]:
    """The payload as a client reads it: global ids, and for a partner (`locations`:
    its locations) only what concerns them."""
    if type in (ORDER_CANCELLED, ORDER_LINES_CANCELLED) and isinstance(payload.get("lines"), dict):
        # Units cancelled per order line, keyed by the line's id.
        payload = {
            **payload,
            "lines": {
                global_id("OrderLine", k) if _int(k) is not None else k: v
                for k, v in payload["lines"].items()
            },
        }
    if type == RETURN_STATUS_CHANGED and isinstance(payload.get("refund"), dict):
        refund = payload["refund"]
        if _int(refund.get("id")) is not None:
            payload = {**payload, "refund": {**refund, "id": global_id("Refund", refund["id"])}}
    if locations is not None:
        payload = _for_partner(type, payload, locations)
    return dict(_encode(payload))


def shipments_part(shipments: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`locationIds` and `shipments` of an order event, from the shipments it touches
    (`shipmentId`, `locationId`, `method`, `status`, and what else they carry): each
    location once, in order."""
    entries = [dict(s) for s in shipments]
    return {
        "locationIds": list(dict.fromkeys(s["locationId"] for s in entries)),
        "shipments": entries,
    }


def shipment_status(
    *,
    shipment_id: int,
    location_id: int,
    method: str,
    previous: str,
    status: str,
    order_status: str,
    **extra: Any,
) -> dict[str, Any]:
    """The payload of SHIPMENT_STATUS_CHANGED, whatever moved the shipment."""
    return {
        "shipmentId": shipment_id,
        "locationId": location_id,
        "method": method,
        "from": previous,
        "status": status,
        "orderStatus": order_status,
        **extra,
    }
