"""Who is calling, and what they may see and change.

Role checks live here so every entry point (GraphQL, CLI, jobs) asks the same
questions. What a principal may not see is answered as if it did not exist: callers
turn `can_see_*` failures into "not found", never into "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ANONYMOUS = "ANONYMOUS"
    ADMIN = "ADMIN"
    CHANNEL = "CHANNEL"
    PARTNER = "PARTNER"
    CARRIER = "CARRIER"
    CUSTOMER = "CUSTOMER"


class AccessDenied(Exception):
    """The caller is not allowed to run this operation at all (not a business refusal)."""

    code = "FORBIDDEN"

    def __init__(self, message: str = "This operation is not allowed for this credential") -> None:
        super().__init__(message)


class Unauthenticated(AccessDenied):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "A valid credential is required") -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str = "anonymous"
    api_key_id: int | None = None
    channel_id: int | None = None
    location_ids: frozenset[int] = field(default_factory=frozenset)
    customer_id: int | None = None
    customer_email: str | None = None
    # The carrier code (e.g. COLISSIMO) a CARRIER key records tracking events for.
    carrier: str | None = None
    # A customer token's: the API key that minted it (revoking the key ends the token).
    issuing_key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def credential_key_id(self) -> int | None:
        """The API key this credential stands on: the key itself, or the key that minted
        the customer token. While it is revoked, the credential is worth nothing."""
        return self.api_key_id if self.api_key_id is not None else self.issuing_key_id

    @property
    def actor(self) -> str:
        """How this principal is named in ledgers and event histories."""
        if self.role is Role.CUSTOMER:
            return f"customer:{self.customer_id}"
        if self.api_key_id is not None:
            return f"{self.role.value.lower()}:{self.name}"
        return self.role.value.lower()

    @property
    def scope(self) -> str:
        """A stable identity for idempotency keys: the same key from another credential
        is another request."""
        if self.role is Role.CUSTOMER:
            return f"customer:{self.customer_id}"
        if self.api_key_id is not None:
            return f"key:{self.api_key_id}"
        return self.role.value.lower()

    def require(self, *roles: Role) -> None:
        if self.role is Role.ANONYMOUS:
            raise Unauthenticated()
        if self.role not in roles:
            raise AccessDenied()

    def can_see_channel(self, channel_id: int) -> bool:
        if self.role is Role.ADMIN:
            return True
        if self.role in (Role.CHANNEL, Role.CUSTOMER):
            return self.channel_id == channel_id
        return False

    def can_act_at_location(self, location_id: int) -> bool:
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.PARTNER:
            return location_id in self.location_ids
        return False

    def can_track(self, location_id: int, carrier: str | None) -> bool:
        """Whether it may record carrier events of (and read) a shipment at this location
        travelling with this carrier: a carrier only the parcels handed to it."""
        if self.role is Role.CARRIER:
            return carrier is not None and carrier == self.carrier
        return self.can_act_at_location(location_id)

    def can_see_customer(self, channel_id: int, customer_id: int) -> bool:
        if self.role is Role.CUSTOMER:
            return self.customer_id == customer_id and self.channel_id == channel_id
        return self.can_see_channel(channel_id)


ANONYMOUS = Principal(role=Role.ANONYMOUS)
SYSTEM = Principal(role=Role.ADMIN, name="system")
