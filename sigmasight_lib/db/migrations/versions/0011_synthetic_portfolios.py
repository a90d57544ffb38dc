"""synthetic portfolios: ``portfolios.synthetic`` and position-id indexes on result tables

- ``portfolios.synthetic``: true for the generated portfolios of ``sigmasight demo
  synthetic`` (benchmarks), false for every other portfolio, existing ones included.
- An index on ``position_id`` of each per-position result table and on
  ``position_tags.tag_id``, so that deleting positions or tags (``demo synthetic
  --remove``, a CSV ``--sync``) finds the rows that reference them by index instead
  of scanning the table once per deleted row.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION_RESULT_TABLES = (
    "position_valuations",
    "position_greeks",
    "position_factor_exposures",
    "position_interest_rate_betas",
    "position_risk_contributions",
)


def upgrade() -> None:
    # plain ADD COLUMN with a default (no table rebuild, so no cascade on SQLite)
    op.add_column(
        "portfolios",
        sa.Column("synthetic", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    for table in POSITION_RESULT_TABLES:
        op.create_index(f"ix_{table}_position_id", table, ["position_id"], unique=False)
    op.create_index("ix_position_tags_tag_id", "position_tags", ["tag_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_position_tags_tag_id", table_name="position_tags")
    for table in POSITION_RESULT_TABLES:
        op.drop_index(f"ix_{table}_position_id", table_name=table)
    # native DROP COLUMN (SQLite >= 3.35): a batch rebuild of this parent table would
    # cascade-delete its children on SQLite
    op.execute("ALTER TABLE portfolios DROP COLUMN synthetic")
