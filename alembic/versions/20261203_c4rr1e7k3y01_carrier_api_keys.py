"""carrier API keys: role CARRIER, bound to one carrier code

Revision ID: c4rr1e7k3y01
Revises: d7b3e9f0a112
Create Date: 2026-12-03 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4rr1e7k3y01'
down_revision: str | None = 'd7b3e9f0a112'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('api_keys', sa.Column('carrier', sa.String(length=64), nullable=True))
    op.drop_constraint(op.f('ck_api_keys_role'), 'api_keys', type_='check')
    op.create_check_constraint(
        op.f('ck_api_keys_role'), 'api_keys', "role IN ('ADMIN', 'CHANNEL', 'PARTNER', 'CARRIER')"
    )
    op.create_check_constraint(
        op.f('ck_api_keys_carrier_binding'), 'api_keys', "(role = 'CARRIER') = (carrier IS NOT NULL)"
    )


def downgrade() -> None:
    # CARRIER keys cannot exist under the old rules: they are deleted.
    op.execute("DELETE FROM api_keys WHERE role = 'CARRIER'")
    op.drop_constraint(op.f('ck_api_keys_carrier_binding'), 'api_keys', type_='check')
    op.drop_constraint(op.f('ck_api_keys_role'), 'api_keys', type_='check')
    op.create_check_constraint(
        op.f('ck_api_keys_role'), 'api_keys', "role IN ('ADMIN', 'CHANNEL', 'PARTNER')"
    )
    op.drop_column('api_keys', 'carrier')
