"""orders: shipping coordinates within WGS84 ranges, enforced by the database

Revision ID: d4e2b8f1a503
Revises: c3d1a7e2f410
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'd4e2b8f1a503'
down_revision: str | None = 'c3d1a7e2f410'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows placed before validation existed may hold impossible coordinates: forget them
    # (distance rules then use the postal code), so that the constraint can hold.
    op.execute(
        "UPDATE orders SET ship_latitude = NULL, ship_longitude = NULL"
        " WHERE NOT (ship_latitude BETWEEN -90 AND 90 AND ship_longitude BETWEEN -180 AND 180)"
    )
    op.create_check_constraint(
        op.f('ck_orders_ship_coords'),
        'orders',
        'ship_latitude BETWEEN -90 AND 90 AND ship_longitude BETWEEN -180 AND 180',
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_orders_ship_coords'), 'orders', type_='check')
