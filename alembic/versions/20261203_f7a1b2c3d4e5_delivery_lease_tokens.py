"""webhook deliveries and notifications: who holds the lease (lease_token)

A job whose claim committed but whose answer was lost (the database restarting) takes
its lease back when it runs again, instead of waiting for the lease to run out.

Revision ID: f7a1b2c3d4e5
Revises: a3f1c9e2b7d4
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f7a1b2c3d4e5'
down_revision: str | None = 'a3f1c9e2b7d4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding the columns rewrites nothing.
    op.add_column('webhook_deliveries', sa.Column('lease_token', sa.String(200), nullable=True))
    op.add_column('notifications', sa.Column('lease_token', sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column('notifications', 'lease_token')
    op.drop_column('webhook_deliveries', 'lease_token')
