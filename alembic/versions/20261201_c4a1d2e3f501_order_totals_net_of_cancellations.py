"""order totals net of cancellations, the amounts as placed kept in original_*

Revision ID: c4a1d2e3f501
Revises: 5e1c7a0b9d21
Create Date: 2026-12-01 09:00:00.000000

Until now a partial cancellation left an order's amounts as placed. From here on they
are those of the units still ordered (domain/order/totals.py), the amounts as placed
kept in `original_*` (NULL: unchanged since placement). Orders with cancelled units
are brought in line here, with the same arithmetic as the code: per line, the paid
amount and the tax spread over its units by largest remainder, cancelled units being
the last ones; shipping kept while a unit is still ordered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4a1d2e3f501'
down_revision: str | None = '5e1c7a0b9d21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('subtotal', 'discount', 'tax', 'shipping', 'total')


# share_of_first_units(total, q, kept) = (total / q) * kept + least(kept, total % q);
# amounts are never negative here, so integer division and modulo are floor's.
# (tests/integration/test_order_totals_migration.py checks it against the code's.)
RECOMPUTE = """
        UPDATE orders o SET
            original_subtotal_minor = o.subtotal_minor,
            original_discount_minor = o.discount_minor,
            original_tax_minor = o.tax_minor,
            original_shipping_minor = o.shipping_minor,
            original_total_minor = o.total_minor,
            subtotal_minor = t.subtotal,
            discount_minor = t.subtotal - t.paid,
            tax_minor = t.tax,
            shipping_minor = CASE WHEN t.kept > 0 THEN o.shipping_minor ELSE 0 END,
            total_minor = t.paid + CASE WHEN t.kept > 0 THEN o.shipping_minor ELSE 0 END
        FROM (
            SELECT order_id,
                   sum(unit_price_minor * (quantity - quantity_cancelled)) AS subtotal,
                   sum((unit_price_minor * quantity - discount_minor) / quantity * (quantity - quantity_cancelled)
                       + least(quantity - quantity_cancelled, (unit_price_minor * quantity - discount_minor) % quantity))
                       AS paid,
                   sum(tax_minor / quantity * (quantity - quantity_cancelled)
                       + least(quantity - quantity_cancelled, tax_minor % quantity)) AS tax,
                   sum(quantity - quantity_cancelled) AS kept
            FROM order_lines
            GROUP BY order_id
            HAVING sum(quantity_cancelled) > 0
        ) t
        WHERE o.id = t.order_id AND o.original_total_minor IS NULL
"""


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column('orders', sa.Column(f'original_{name}_minor', sa.BigInteger(), nullable=True))
    op.execute(RECOMPUTE)


def downgrade() -> None:
    op.execute(
        """
        UPDATE orders SET subtotal_minor = original_subtotal_minor, discount_minor = original_discount_minor,
            tax_minor = original_tax_minor, shipping_minor = original_shipping_minor,
            total_minor = original_total_minor
        WHERE original_total_minor IS NOT NULL
        """
    )
    for name in reversed(COLUMNS):
        op.drop_column('orders', f'original_{name}_minor')
