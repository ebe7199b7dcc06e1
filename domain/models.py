"""Every mapped table, imported in one place for alembic and the tests."""

from domain.access.models import ApiKey, ApiKeyLocation
from domain.catalog.models import Location, Product
from domain.channel.models import Channel, ChannelLocation
from domain.customer.models import Customer
from domain.db import Base
from domain.fulfillment.models import Shipment, ShipmentLine, TrackingEvent
from domain.idempotency import IdempotencyRecord
from domain.inventory.models import InboundSupply, InboundSupplyLine, InventoryMovement, StockLevel
from domain.notifications.models import Notification
from domain.order.models import Order, OrderEvent, OrderLine
from domain.publishing.models import (
    ChannelPublication,
    ChannelPublishState,
    ChannelStockPublished,
    InventoryAlert,
    LowStockFlag,
    PublishDirtySku,
)
from domain.returns.models import Refund, ReturnLine
from domain.returns.models import Return as ReturnCase
from domain.webhooks.models import WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiKey",
    "ApiKeyLocation",
    "Base",
    "Channel",
    "ChannelLocation",
    "ChannelPublication",
    "ChannelPublishState",
    "ChannelStockPublished",
    "Customer",
    "IdempotencyRecord",
    "InboundSupply",
    "InboundSupplyLine",
    "InventoryAlert",
    "InventoryMovement",
    "Location",
    "LowStockFlag",
    "Notification",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Product",
    "PublishDirtySku",
    "Refund",
    "ReturnCase",
    "ReturnLine",
    "Shipment",
    "ShipmentLine",
    "StockLevel",
    "TrackingEvent",
    "WebhookDelivery",
    "WebhookSubscription",
]
