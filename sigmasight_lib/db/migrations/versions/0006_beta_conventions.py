"""beta conventions and net liquidation value

Portfolio betas say what they are divided by (dollar beta, beta to gross, beta to
net); a capped position beta keeps its OLS estimate; snapshots and exposure results
report the net liquidation value beside the gross market value. Renamed columns keep
their stored values, which already meant what the new name says (the old
``market_value_usd`` was Σ |market value|, the old ``beta`` / ``market_beta`` the
beta to gross exposure, the old portfolio ``exposure_usd`` the dollar beta); the
added columns are NULL for rows written before this revision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("position_factor_exposures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("beta_uncapped", sa.Float(), nullable=True))

    with op.batch_alter_table("portfolio_factor_exposures", schema=None) as batch_op:
        batch_op.alter_column("beta", new_column_name="beta_to_gross")
        batch_op.alter_column("exposure_usd", new_column_name="dollar_beta_usd")
        batch_op.add_column(sa.Column("beta_to_net", sa.Float(), nullable=True))

    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.alter_column("market_value_usd", new_column_name="gross_market_value_usd")
        batch_op.alter_column("market_beta", new_column_name="market_beta_to_gross")
        batch_op.add_column(sa.Column("net_liquidation_value_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("market_dollar_beta_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("market_beta_to_net", sa.Float(), nullable=True))

    with op.batch_alter_table("exposure_results", schema=None) as batch_op:
        batch_op.alter_column("market_value_usd", new_column_name="gross_market_value_usd")
        batch_op.add_column(sa.Column("net_liquidation_value_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exposure_results", schema=None) as batch_op:
        batch_op.drop_column("net_liquidation_value_usd")
        batch_op.alter_column("gross_market_value_usd", new_column_name="market_value_usd")

    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_column("market_beta_to_net")
        batch_op.drop_column("market_dollar_beta_usd")
        batch_op.drop_column("net_liquidation_value_usd")
        batch_op.alter_column("market_beta_to_gross", new_column_name="market_beta")
        batch_op.alter_column("gross_market_value_usd", new_column_name="market_value_usd")

    with op.batch_alter_table("portfolio_factor_exposures", schema=None) as batch_op:
        batch_op.drop_column("beta_to_net")
        batch_op.alter_column("dollar_beta_usd", new_column_name="exposure_usd")
        batch_op.alter_column("beta_to_gross", new_column_name="beta")

    with op.batch_alter_table("position_factor_exposures", schema=None) as batch_op:
        batch_op.drop_column("beta_uncapped")
