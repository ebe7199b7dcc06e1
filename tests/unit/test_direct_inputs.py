"""Inputs built by `direct_input` equal what strawberry's own conversion builds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from graphql import GraphQLInputType
from graphql.utilities import coerce_input_value
from strawberry.types.arguments import convert_argument

from schema.base import AddressInput, MoneyInput
from schema.inventory.types import AdjustStockBatchInput, InboundSupplyInput, SetStockLevelsInput
from schema.order.inputs import PlaceOrderInput
from schema.root import build_schema
from tests.fixtures import variables

SCHEMA = build_schema()
PLACE = variables("PlaceOrder")["input"]
FULL_ORDER = {
    **copy.deepcopy(PLACE),
    "b2b": {"company": "Acme", "purchaseOrderNumber": "PO-1", "salesRep": None},
    "lines": [
        {
            "sku": "TEE-BLUE-M",
            "quantity": 2,
            "unitPrice": {"amount": "24.90", "currency": "EUR"},
            "discount": {"amount": "1.00", "currency": "EUR"},
            "tax": None,
        }
    ],
}
CASES: list[tuple[str, type, dict[str, Any]]] = [
    ("PlaceOrderInput", PlaceOrderInput, PLACE),
    ("PlaceOrderInput", PlaceOrderInput, FULL_ORDER),
    (
        "PlaceOrderInput",
        PlaceOrderInput,
        {k: v for k, v in PLACE.items() if k not in ("shippingAddress", "b2b", "splitPreference")},
    ),
    ("SetStockLevelsInput", SetStockLevelsInput, variables("SetStockLevels")["input"]),
    (
        "SetStockLevelsInput",
        SetStockLevelsInput,
        {
            "location": "WH-LYON",
            "asOf": "2026-11-23T08:00:00+00:00",
            "levels": [{"sku": "A", "onHand": 3}, {"sku": "B", "onHand": 0, "safetyStock": 2}],
        },
    ),
    (
        "AdjustStockBatchInput",
        AdjustStockBatchInput,
        {"location": "WH-LYON", "lines": [{"sku": "A", "delta": -1, "reason": "DAMAGED"}]},
    ),
    (
        "InboundSupplyInput",
        InboundSupplyInput,
        {
            "reference": "PO-9",
            "kind": "TRANSFER",
            "location": "WH-LYON",
            "expectedAt": "2026-11-30T08:00:00+00:00",
            "lines": [{"sku": "A", "quantity": 5}],
        },
    ),
    ("MoneyInput", MoneyInput, {"amount": "0.10", "currency": "JPY"}),
    (
        "AddressInput",
        AddressInput,
        {"line1": "1 rue", "city": "Lyon", "postalCode": "69001", "countryCode": "FR"},
    ),
]


def build(cls: type, value: dict[str, Any], name: str, direct: bool) -> Any:
    graphql_type: GraphQLInputType = SCHEMA._schema.type_map[name]  # type: ignore[assignment]
    coerced = coerce_input_value(copy.deepcopy(value), graphql_type)
    saved: dict[Any, Any] = {}
    if not direct:
        # Strawberry's generic conversion: no input type has its own builder.
        for t in SCHEMA.schema_converter.type_map.values():
            definition: Any = t.definition
            builder = getattr(definition, "from_input", None)
            if builder is not None:
                saved[definition] = builder
                definition.from_input = None
        assert cls.__strawberry_definition__ in saved  # type: ignore[attr-defined]
    try:
        return convert_argument(
            coerced, cls, SCHEMA.schema_converter.scalar_registry, SCHEMA.config
        )
    finally:
        for definition, builder in saved.items():
            definition.from_input = builder


@pytest.mark.parametrize(("name", "cls", "value"), CASES)
def test_direct_input_builds_what_strawberry_builds(name: str, cls: type, value: Any) -> None:
    direct = build(cls, value, name, direct=True)
    generic = build(cls, value, name, direct=False)
    assert direct == generic
    assert type(direct) is cls
