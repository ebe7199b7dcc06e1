"""The limits every request meets before anything runs, in one place: sizes, depth,
aliases, cost, list lengths, and what a caller without a credential may do.

schema/guard.py applies them (schema/document_checks.py measures a document, linearly
in its size; schema/parsing.py parses and validates through caches).
"""

from __future__ import annotations

from domain.availability.options import MAX_BASKET_LINES
from domain.catalog.service import MAX_BATCH as MAX_PRODUCTS_PER_CALL
from domain.inventory.service import MAX_LINES as MAX_STOCK_LINES_PER_CALL
from domain.order.placement import MAX_LINES as MAX_ORDER_LINES

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 5_000
MAX_COST = 25_000
# Field selections once every fragment is expanded: what execution and the remaining
# validation rules would walk. A real client's largest document has a few hundred.
MAX_EXPANDED_FIELDS = 5_000
# Checking that fields can be merged is quadratic in the fields sharing a response
# name in one selection set, and in the fragments spread there: 1,150 `viewer { role }`
# side by side took graphql-core 1.7 s. Real documents have a handful of each.
MAX_SAME_RESPONSE_NAME = 10
MAX_SPREADS_PER_SELECTION = 30
MAX_FRAGMENTS = 100
# Characters of a document, checked before the lexer reads it: whitespace, comments
# and one long string are not tokens, and lexing megabytes of them takes seconds.
MAX_DOCUMENT_CHARS = 50_000
# Twice the longest list any operation accepts, and how many values variables may
# hold in all: checked on the JSON before anything else reads it (api/graphql_request.py),
# so a list of 100,000 products costs a length check, not a minute of coercion. Lists
# under it meet the precise caps of LIST_CAPS below.
MAX_LIST_ITEMS = 2 * max(MAX_PRODUCTS_PER_CALL, MAX_STOCK_LINES_PER_CALL, MAX_ORDER_LINES)
MAX_VARIABLE_VALUES = 250_000
# What each list of input objects may hold, by the element's type: the domain's own
# caps, checked on the variables before GraphQL coerces them, so a list one item over
# its cap is refused for the price of a length check (coercing 10,000 products takes
# about a second). Lists of other input types get the last figure.
LIST_CAPS: dict[str, int] = {
    "ProductInput": MAX_PRODUCTS_PER_CALL,
    "LocationInput": MAX_PRODUCTS_PER_CALL,
    "StockLevelLineInput": MAX_STOCK_LINES_PER_CALL,
    "AdjustStockLineInput": MAX_STOCK_LINES_PER_CALL,
    "OrderLineInput": MAX_ORDER_LINES,
    "CancelLineInput": MAX_ORDER_LINES,
    "ReturnLineInput": MAX_ORDER_LINES,
    "ReceiveReturnLineInput": MAX_ORDER_LINES,
    "InboundSupplyLineInput": MAX_ORDER_LINES,
    "BasketItemInput": MAX_BASKET_LINES,
}
DEFAULT_LIST_CAP = 1_000
# Every request is charged at least this much of its credential's budget, so a flood
# of trivial requests (`{ __typename }`) is limited too.
MIN_CHARGE = 10

# Without a credential: GraphiQL's introspection query is ~2,100 characters and 200
# tokens.
ANONYMOUS_MAX_DOCUMENT_CHARS = 4_000
ANONYMOUS_MAX_TOKENS = 500
ANONYMOUS_ROOT_FIELDS = frozenset({"viewer", "__typename", "__schema", "__type"})


class PublicError(Exception):
    """An error whose message may be shown to the client as it is."""
