"""return numbers RMA-<order number>-<n>: room for them

Revision ID: d7b3e9f0a112
Revises: c4a1d2e3f501
Create Date: 2026-12-01 10:00:00.000000

New return cases are numbered RMA-<order number>-<n> (domain/returns/numbers.py), up
to 4 + 20 + 1 + 4 characters; cases opened before keep their R<sequence>-<check>
numbers. return_number_seq is no longer used by new cases; it stays, so that a
downgrade numbers cases as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd7b3e9f0a112'
down_revision: str | None = 'c4a1d2e3f501'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        'returns', 'number', existing_type=sa.String(length=20), type_=sa.String(length=32),
        existing_nullable=False,
    )


def downgrade() -> None:
    op.alter_column(
        'returns', 'number', existing_type=sa.String(length=32), type_=sa.String(length=20),
        existing_nullable=False,
    )
