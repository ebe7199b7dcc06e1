"""The schema: every area's queries, mutations and subscriptions merged into one."""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from schema.access.resolvers import AccessMutation, AccessQuery
from schema.availability.resolvers import AvailabilityQuery
from schema.base import InfoT, Node
from schema.catalog.resolvers import CatalogMutation, CatalogQuery
from schema.channel.resolvers import ChannelMutation, ChannelQuery
from schema.errors import MaskUnexpectedErrors
from schema.fulfillment.resolvers import FulfillmentMutation, FulfillmentQuery
from schema.guard import OperationGuard, ProductionOperationGuard
from schema.inventory.resolvers import InventoryMutation, InventoryQuery
from schema.node import resolve_node
from schema.order.resolvers import OrderMutation, OrderQuery
from schema.parsing import CachedParser, code_request_errors
from schema.publishing import PublishingQuery
from schema.realtime import RealtimeSubscription
from schema.reporting import ReportingQuery
from schema.returns.resolvers import ReturnsMutation, ReturnsQuery
from schema.scalars import SCALAR_OVERRIDES
from schema.webhooks.resolvers import WebhookMutation, WebhookQuery


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id; null if it does not exist or is not yours."
    )
    async def node(self, info: InfoT, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id)


Query = merge_types(
    "Query",
    (
        NodeQuery,
        AccessQuery,
        CatalogQuery,
        ChannelQuery,
        InventoryQuery,
        AvailabilityQuery,
        OrderQuery,
        FulfillmentQuery,
        WebhookQuery,
        ReturnsQuery,
        ReportingQuery,
        PublishingQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AccessMutation,
        CatalogMutation,
        ChannelMutation,
        InventoryMutation,
        OrderMutation,
        FulfillmentMutation,
        WebhookMutation,
        ReturnsMutation,
    ),
)


class OmsSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None):
        # Expected errors (validation, auth, limits) are the client's business, and
        # faults are logged with the request id where they are masked. A document that
        # could not be run says why in its code, over HTTP and WebSocket alike.
        code_request_errors(errors)


def build_schema(*, production: bool = False) -> strawberry.Schema:
    guard = ProductionOperationGuard if production else OperationGuard
    return OmsSchema(
        query=Query,
        mutation=Mutation,
        subscription=RealtimeSubscription,
        scalar_overrides=SCALAR_OVERRIDES,
        extensions=[
            # The guard first: it refuses an oversized document before it is parsed,
            # and sets the token limit the parser applies.
            guard,
            CachedParser,
            MaskUnexpectedErrors,
        ],
    )
