"""Every operation our real clients send validates against the schema, unchanged.

An operation of a capability not built yet sits in PENDING; it leaves PENDING only when
an API test runs it with the variables of ../shared/clients/variables.json and checks
the answer (see `EXERCISED`: each such test module registers the operations it runs).
"""

from __future__ import annotations

import pytest
from graphql import parse, validate

from schema.root import build_schema
from tests.support import client_operations, client_variables

# Every client operation now runs in an API test: nothing is pending.
PENDING: frozenset[str] = frozenset(
    [
        # every client operation now runs in an API test
    ]
)

SCHEMA = build_schema()._schema
OPERATIONS = client_operations()


def test_client_files_were_found() -> None:
    files = {f for f, _ in OPERATIONS.values()}
    assert files == {"admin.graphql", "mobile.graphql", "partner.graphql", "storefront.graphql"}
    assert set(OPERATIONS) <= set(client_variables()) | {"_about"}


@pytest.mark.parametrize("name", sorted(set(OPERATIONS) - PENDING))
def test_operation_validates_against_the_schema(name: str) -> None:
    _, document = OPERATIONS[name]
    errors = validate(SCHEMA, parse(document))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


@pytest.mark.parametrize("name", sorted(set(OPERATIONS) - PENDING))
def test_operation_is_exercised_by_an_api_test(name: str) -> None:
    from tests.api.exercised import EXERCISED

    assert name in EXERCISED, (
        f"{name} validates, but no API test runs it with the clients' variables"
    )


def test_pending_names_are_real_operations() -> None:
    assert set(OPERATIONS) >= PENDING
