"""notifications: when each is due (retries and leases kept in the row, not in Redis)

Revision ID: a3f1c9e2b7d4
Revises: e5f3c9a2b614
Create Date: 2026-12-03 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a3f1c9e2b7d4'
down_revision: str | None = 'e5f3c9a2b614'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default (now() is stable in a statement): no table rewrite.
    op.add_column('notifications', sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
    op.create_index('ix_notifications_due', 'notifications', ['next_attempt_at'], unique=False, postgresql_where="status = 'PENDING'")


def downgrade() -> None:
    op.drop_index('ix_notifications_due', table_name='notifications', postgresql_where="status = 'PENDING'")
    op.drop_column('notifications', 'next_attempt_at')
