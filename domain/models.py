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
from domain.webhooks.models import WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiKey",
    "ApiKeyLocation",
    "Base",
    "Channel",
    "ChannelLocation",
    "Customer",
    "IdempotencyRecord",
    "InboundSupply",
    "InboundSupplyLine",
    "InventoryMovement",
    "Location",
    "Notification",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Product",
    "Shipment",
    "ShipmentLine",
    "StockLevel",
    "TrackingEvent",
    "WebhookDelivery",
    "WebhookSubscription",
]
