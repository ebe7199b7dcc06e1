"""locations: weekly opening hours (click-and-collect ready-by times fall within them)

Revision ID: e5f3c9a2b614
Revises: d4e2b8f1a503
Create Date: 2026-12-03 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'e5f3c9a2b614'
down_revision: str | None = 'd4e2b8f1a503'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for existing locations: hours not known, ready-by times not adjusted. The
    # channel's pickup radius lives in channels.sourcing (pickupRadiusKm, default 50).
    op.add_column(
        'locations',
        sa.Column('opening_hours', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column('locations', 'opening_hours')
