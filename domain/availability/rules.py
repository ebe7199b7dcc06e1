"""What a channel may sell: its allocation rules applied to its network's stock.

Pure functions, shared by the `availability` query, fulfilment options, sourcing and
channel publishing, so the number a storefront is shown and the number `placeOrder`
accepts come from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_LOW_STOCK_THRESHOLD = 5


@dataclass(frozen=True, slots=True)
class SkuRule:
    share_percent: int
    buffer: int
    excluded: bool


@dataclass(frozen=True, slots=True)
class Allocation:
    """A channel's allocation rules: a share of the network's available units (rounded
    down), minus a buffer, never below zero; some SKUs excluded; per-SKU overrides."""

    share_percent: int = 100
    buffer: int = 0
    excluded_skus: frozenset[str] = frozenset()
    sku_rules: tuple[tuple[str, SkuRule], ...] = ()
    low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Allocation:
        default_share = int(config.get("sharePercent", 100))
        default_buffer = int(config.get("buffer", 0))
        overrides = []
        for sku, rule in (config.get("skuRules") or {}).items():
            share = rule.get("sharePercent")
            buffer = rule.get("buffer")
            overrides.append(
                (
                    sku,
                    SkuRule(
                        share_percent=default_share if share is None else int(share),
                        buffer=default_buffer if buffer is None else int(buffer),
                        excluded=bool(rule.get("excluded")),
                    ),
                )
            )
        return cls(
            share_percent=default_share,
            buffer=default_buffer,
            excluded_skus=frozenset(config.get("excludedSkus") or ()),
            sku_rules=tuple(overrides),
            low_stock_threshold=int(config.get("lowStockThreshold", DEFAULT_LOW_STOCK_THRESHOLD)),
        )

    def rule_for(self, sku: str) -> SkuRule:
        for rule_sku, rule in self.sku_rules:
            if rule_sku == sku:
                return SkuRule(
                    rule.share_percent, rule.buffer, rule.excluded or sku in self.excluded_skus
                )
        return SkuRule(self.share_percent, self.buffer, sku in self.excluded_skus)

    def sellable(self, sku: str, network_available: int) -> int:
        rule = self.rule_for(sku)
        if rule.excluded:
            return 0
        return max(0, network_available * rule.share_percent // 100 - rule.buffer)

    def explain(self, sku: str, network_available: int) -> dict[str, Any]:
        rule = self.rule_for(sku)
        shared = network_available * rule.share_percent // 100
        return {
            "networkAvailable": network_available,
            "excluded": rule.excluded,
            "sharePercent": rule.share_percent,
            "afterShare": shared,
            "buffer": rule.buffer,
            "sellable": self.sellable(sku, network_available),
        }


def available_at_location(on_hand: int, reserved: int, safety_stock: int, damaged: int) -> int:
    """Units a location can promise: what it holds, less what is promised to orders,
    held back as safety stock or quarantined; never negative."""
    return max(0, on_hand - reserved - safety_stock - damaged)


def status_of(sellable: int, *, threshold: int, backorderable: bool) -> str:
    if sellable > threshold:
        return "IN_STOCK"
    if sellable > 0:
        return "LOW_STOCK"
    return "BACKORDERABLE" if backorderable else "OUT_OF_STOCK"
