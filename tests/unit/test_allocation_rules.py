"""Allocation rules: what a channel may sell of its network's available stock.

Hand-computed expectations for domain/availability/rules.py (DOMAIN.md, ATP).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.availability.rules import (
    DEFAULT_LOW_STOCK_THRESHOLD,
    Allocation,
    SkuRule,
    available_at_location,
    status_of,
)

# --- available at one location -------------------------------------------------------


def test_available_is_on_hand_less_reserved_safety_and_damaged() -> None:
    assert available_at_location(on_hand=20, reserved=3, safety_stock=2, damaged=1) == 14


def test_available_with_nothing_held_back_is_on_hand() -> None:
    assert available_at_location(on_hand=7, reserved=0, safety_stock=0, damaged=0) == 7


def test_available_is_zero_when_everything_is_reserved() -> None:
    assert available_at_location(on_hand=5, reserved=5, safety_stock=0, damaged=0) == 0


def test_available_is_floored_at_zero_when_safety_and_damaged_exceed_on_hand() -> None:
    # 4 - 0 - 3 - 3 = -2 -> 0
    assert available_at_location(on_hand=4, reserved=0, safety_stock=3, damaged=3) == 0


def test_available_is_floored_at_zero_when_safety_stock_alone_exceeds_on_hand() -> None:
    assert available_at_location(on_hand=2, reserved=1, safety_stock=10, damaged=0) == 0


def test_available_of_an_empty_location_is_zero() -> None:
    assert available_at_location(on_hand=0, reserved=0, safety_stock=5, damaged=0) == 0


@given(
    on_hand=st.integers(0, 10_000),
    reserved=st.integers(0, 10_000),
    safety=st.integers(0, 10_000),
    damaged=st.integers(0, 10_000),
)
def test_available_is_never_negative_and_never_above_on_hand(
    on_hand: int, reserved: int, safety: int, damaged: int
) -> None:
    available = available_at_location(on_hand, reserved, safety, damaged)
    assert 0 <= available <= on_hand
    assert available == max(0, on_hand - reserved - safety - damaged)


# --- share and buffer ------------------------------------------------------------------


def test_default_allocation_sells_the_whole_network() -> None:
    assert Allocation().sellable("SKU-1", 13) == 13


def test_share_is_rounded_down_then_buffer_subtracted() -> None:
    # 60% of 7 = 4.2 -> 4, minus buffer 2 -> 2
    allocation = Allocation(share_percent=60, buffer=2)
    assert allocation.sellable("SKU-1", 7) == 2


def test_share_alone_is_rounded_down() -> None:
    # 60% of 7 = 4.2 -> 4; 99% of 1 = 0.99 -> 0
    assert Allocation(share_percent=60).sellable("SKU-1", 7) == 4
    assert Allocation(share_percent=99).sellable("SKU-1", 1) == 0


def test_buffer_alone_is_subtracted() -> None:
    assert Allocation(buffer=3).sellable("SKU-1", 10) == 7


def test_buffer_larger_than_share_gives_zero_not_negative() -> None:
    # 50% of 6 = 3, buffer 5 -> 3 - 5 = -2 -> 0
    assert Allocation(share_percent=50, buffer=5).sellable("SKU-1", 6) == 0


def test_buffer_equal_to_share_gives_zero() -> None:
    assert Allocation(share_percent=50, buffer=3).sellable("SKU-1", 6) == 0


def test_zero_share_sells_nothing() -> None:
    assert Allocation(share_percent=0).sellable("SKU-1", 1_000) == 0


def test_nothing_available_sells_nothing() -> None:
    assert Allocation(share_percent=100, buffer=0).sellable("SKU-1", 0) == 0


# --- exclusions ------------------------------------------------------------------------


def test_excluded_sku_sells_nothing_whatever_the_stock() -> None:
    allocation = Allocation(excluded_skus=frozenset({"SKU-X"}))
    for network_available in (0, 1, 50, 1_000_000):
        assert allocation.sellable("SKU-X", network_available) == 0


def test_exclusion_affects_only_the_excluded_sku() -> None:
    allocation = Allocation(share_percent=50, excluded_skus=frozenset({"SKU-X"}))
    assert allocation.sellable("SKU-X", 10) == 0
    assert allocation.sellable("SKU-Y", 10) == 5


# --- per-SKU rules ---------------------------------------------------------------------


def test_per_sku_rule_overrides_share_and_buffer() -> None:
    allocation = Allocation(
        share_percent=50,
        buffer=1,
        sku_rules=(("SKU-A", SkuRule(share_percent=100, buffer=0, excluded=False)),),
    )
    assert allocation.sellable("SKU-A", 10) == 10  # the rule: 100% - 0
    assert allocation.sellable("SKU-B", 10) == 4  # the default: 50% of 10 = 5, minus 1


def test_per_sku_rule_can_exclude_a_sku() -> None:
    allocation = Allocation(
        sku_rules=(("SKU-A", SkuRule(share_percent=100, buffer=0, excluded=True)),),
    )
    assert allocation.sellable("SKU-A", 10) == 0
    assert allocation.sellable("SKU-B", 10) == 10


def test_global_exclusion_wins_over_a_non_excluding_per_sku_rule() -> None:
    allocation = Allocation(
        excluded_skus=frozenset({"SKU-A"}),
        sku_rules=(("SKU-A", SkuRule(share_percent=100, buffer=0, excluded=False)),),
    )
    assert allocation.rule_for("SKU-A").excluded is True
    assert allocation.sellable("SKU-A", 10) == 0


def test_rule_for_a_sku_without_override_is_the_default() -> None:
    allocation = Allocation(share_percent=70, buffer=2)
    assert allocation.rule_for("SKU-Z") == SkuRule(share_percent=70, buffer=2, excluded=False)


# --- configuration as stored by domain/channel/service.py ------------------------------


def test_from_config_reads_the_stored_json() -> None:
    config = {
        "sharePercent": 80,
        "buffer": 1,
        "excludedSkus": ["SKU-GONE"],
        "skuRules": {
            "SKU-HOT": {"sharePercent": 50, "buffer": 3, "excluded": False},
            "SKU-HIDDEN": {"sharePercent": None, "buffer": None, "excluded": True},
        },
    }
    allocation = Allocation.from_config(config)
    assert allocation.share_percent == 80
    assert allocation.buffer == 1
    assert allocation.excluded_skus == frozenset({"SKU-GONE"})
    assert allocation.low_stock_threshold == DEFAULT_LOW_STOCK_THRESHOLD
    # default: 80% of 10 = 8, minus 1 -> 7
    assert allocation.sellable("SKU-PLAIN", 10) == 7
    # per-SKU: 50% of 10 = 5, minus 3 -> 2
    assert allocation.sellable("SKU-HOT", 10) == 2
    assert allocation.sellable("SKU-HIDDEN", 10) == 0
    assert allocation.sellable("SKU-GONE", 10) == 0


def test_from_config_per_sku_rule_inherits_unset_share_from_the_default() -> None:
    allocation = Allocation.from_config(
        {"sharePercent": 50, "buffer": 2, "skuRules": {"SKU-A": {"buffer": 0}}}
    )
    assert allocation.rule_for("SKU-A") == SkuRule(share_percent=50, buffer=0, excluded=False)
    assert allocation.sellable("SKU-A", 9) == 4  # 50% of 9 = 4, buffer 0


def test_from_config_per_sku_rule_inherits_unset_buffer_from_the_default() -> None:
    allocation = Allocation.from_config(
        {
            "sharePercent": 50,
            "buffer": 2,
            "skuRules": {"SKU-A": {"sharePercent": 100, "buffer": None, "excluded": False}},
        }
    )
    assert allocation.rule_for("SKU-A") == SkuRule(share_percent=100, buffer=2, excluded=False)
    assert allocation.sellable("SKU-A", 9) == 7  # 100% of 9, minus the default buffer 2


def test_from_config_explicit_zero_overrides_are_not_treated_as_unset() -> None:
    allocation = Allocation.from_config(
        {"sharePercent": 50, "buffer": 2, "skuRules": {"SKU-A": {"sharePercent": 0, "buffer": 0}}}
    )
    assert allocation.rule_for("SKU-A") == SkuRule(share_percent=0, buffer=0, excluded=False)
    assert allocation.sellable("SKU-A", 100) == 0


def test_from_config_excluded_via_a_per_sku_rule() -> None:
    allocation = Allocation.from_config({"skuRules": {"SKU-A": {"excluded": True}}})
    assert allocation.rule_for("SKU-A").excluded is True
    assert allocation.sellable("SKU-A", 100) == 0
    assert allocation.sellable("SKU-B", 100) == 100


def test_from_config_of_an_empty_config_sells_everything() -> None:
    allocation = Allocation.from_config({})
    assert allocation == Allocation()
    assert allocation.sellable("SKU-A", 42) == 42


def test_from_config_accepts_null_collections() -> None:
    allocation = Allocation.from_config({"excludedSkus": None, "skuRules": None})
    assert allocation.excluded_skus == frozenset()
    assert allocation.sku_rules == ()


def test_from_config_reads_a_low_stock_threshold() -> None:
    assert Allocation.from_config({"lowStockThreshold": 2}).low_stock_threshold == 2


# --- status ----------------------------------------------------------------------------


def test_status_above_threshold_is_in_stock() -> None:
    assert status_of(6, threshold=5, backorderable=False) == "IN_STOCK"
    assert status_of(100, threshold=5, backorderable=True) == "IN_STOCK"


def test_status_at_threshold_is_low_stock() -> None:
    assert status_of(5, threshold=5, backorderable=False) == "LOW_STOCK"


def test_status_at_one_is_low_stock() -> None:
    assert status_of(1, threshold=5, backorderable=False) == "LOW_STOCK"
    assert status_of(1, threshold=5, backorderable=True) == "LOW_STOCK"


def test_status_at_zero_is_out_of_stock() -> None:
    assert status_of(0, threshold=5, backorderable=False) == "OUT_OF_STOCK"


def test_status_at_zero_when_backorderable_is_backorderable() -> None:
    assert status_of(0, threshold=5, backorderable=True) == "BACKORDERABLE"


def test_status_with_zero_threshold_has_no_low_stock_band() -> None:
    assert status_of(1, threshold=0, backorderable=False) == "IN_STOCK"
    assert status_of(0, threshold=0, backorderable=False) == "OUT_OF_STOCK"


# --- explain ---------------------------------------------------------------------------


def test_explain_shows_each_step_of_the_computation() -> None:
    allocation = Allocation(share_percent=60, buffer=2)
    assert allocation.explain("SKU-1", 7) == {
        "networkAvailable": 7,
        "excluded": False,
        "sharePercent": 60,
        "afterShare": 4,
        "buffer": 2,
        "sellable": 2,
    }


def test_explain_an_excluded_sku_says_so_and_sells_nothing() -> None:
    allocation = Allocation(excluded_skus=frozenset({"SKU-X"}))
    explained = allocation.explain("SKU-X", 10)
    assert set(explained) == {
        "networkAvailable",
        "excluded",
        "sharePercent",
        "afterShare",
        "buffer",
        "sellable",
    }
    assert explained["excluded"] is True
    assert explained["sellable"] == 0


def test_explain_sellable_matches_sellable() -> None:
    allocation = Allocation.from_config(
        {"sharePercent": 75, "buffer": 1, "skuRules": {"SKU-A": {"buffer": 4}}}
    )
    for sku in ("SKU-A", "SKU-B"):
        for available in (0, 3, 17, 200):
            explained = allocation.explain(sku, available)
            assert explained["sellable"] == allocation.sellable(sku, available)


# --- properties ------------------------------------------------------------------------


@given(
    share=st.integers(0, 100),
    buffer=st.integers(0, 1_000_000),
    available=st.integers(0, 10_000_000),
)
def test_sellable_is_never_negative_and_never_exceeds_network_available(
    share: int, buffer: int, available: int
) -> None:
    sellable = Allocation(share_percent=share, buffer=buffer).sellable("SKU-1", available)
    assert 0 <= sellable <= available


@given(
    share=st.integers(0, 100),
    buffer=st.integers(0, 1_000),
    sku_share=st.integers(0, 100),
    sku_buffer=st.integers(0, 1_000),
    available=st.integers(0, 100_000),
)
def test_sellable_with_per_sku_rules_is_never_negative_nor_above_available(
    share: int, buffer: int, sku_share: int, sku_buffer: int, available: int
) -> None:
    allocation = Allocation.from_config(
        {
            "sharePercent": share,
            "buffer": buffer,
            "skuRules": {"SKU-A": {"sharePercent": sku_share, "buffer": sku_buffer}},
        }
    )
    for sku in ("SKU-A", "SKU-B"):
        assert 0 <= allocation.sellable(sku, available) <= available
