"""What an explanation may show to whom.

Explanations (fulfilment options, sourcing previews, an order's sourcing decision) are
built whole, with the network's true stock per location, for operations staff. Anyone
else (a channel's key, a customer) sees what that channel may know: its own sellable
quantities after its allocation share and buffer, and the plan made for it; never the
network's availability, another location's on-hand, reserved, safety stock or damaged
units, nor the merchant's location priorities and costs.
"""

from __future__ import annotations

from typing import Any

from domain.access.principal import Principal

ADMIN_VIEW = "ADMIN"
CHANNEL_VIEW = "CHANNEL"
# What a channel's view keeps of each candidate location the planner ranked.
_CANDIDATE_KEYS = ("location", "distanceKm", "deliverBy")
CHANNEL_RULES = [
    "sellable: what this channel's allocation lets it sell of its network's available units",
    "ship-by: cut-off hour in the location's time zone, then handling days (Mon-Fri)",
    "deliver-by: transit days by distance and service level (Mon-Fri), by 20:00",
]


def sees_everything(principal: Principal) -> bool:
    return principal.is_admin


def plan_for(principal: Principal, explanation: dict[str, Any]) -> dict[str, Any]:
    """A sourcing plan's explanation (Plan.explanation(), or an order's stored decision)
    as `principal` may see it."""
    if sees_everything(principal):
        return {**explanation, "view": ADMIN_VIEW}
    steps = []
    for step in explanation.get("steps", []):
        if step.get("step") == "candidates":
            step = {
                **step,
                "locations": [
                    {k: c[k] for k in _CANDIDATE_KEYS if k in c} for c in step["locations"]
                ],
            }
        steps.append(step)
    shown = {**explanation, "steps": steps, "view": CHANNEL_VIEW}
    if "backordered" in shown:
        # Which location's inbound supply serves a backorder is the merchant's business.
        shown["backordered"] = {
            sku: {"quantity": b["quantity"]} for sku, b in shown["backordered"].items()
        }
    return shown


def options_for(principal: Principal, explanation: dict[str, Any]) -> dict[str, Any]:
    """A fulfilment options explanation as `principal` may see it."""
    if sees_everything(principal):
        return {
            **explanation,
            "shipping": [plan_for(principal, p) for p in explanation["shipping"]],
            "view": ADMIN_VIEW,
        }
    return {
        **explanation,
        "skus": {
            sku: {"unknown": True, "requested": s["requested"], "sellable": 0}
            if s.get("unknown")
            else {
                "requested": s["requested"],
                "sellable": s["sellable"],
                "excluded": s["excluded"],
            }
            for sku, s in explanation["skus"].items()
        },
        "shipping": [plan_for(principal, p) for p in explanation["shipping"]],
        "rules": CHANNEL_RULES,
        "view": CHANNEL_VIEW,
    }
