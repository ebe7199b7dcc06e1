"""orders: request_hash, so that placeOrder is idempotent by externalId

Revision ID: c3d1a7e2f410
Revises: c4rr1e7k3y01
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c3d1a7e2f410'
down_revision: str | None = 'c4rr1e7k3y01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Orders placed before have none: a repeat of their externalId is refused as
    # DUPLICATE_EXTERNAL_ID (with the order), as before.
    op.add_column('orders', sa.Column('request_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('orders', 'request_hash')
