"""engine_runs: stored engine runs of a batch, read by its notebooks

One row per (batch run, portfolio, engine, as-of): the run's summary and notes as
plain JSON and its tables and summary losslessly encoded (``payload``), so that the
batch's notebooks render stored results instead of recomputing them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engine_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_run_id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=60), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("portfolio", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_run_id"],
            ["batch_runs.id"],
            name=op.f("fk_engine_runs_batch_run_id_batch_runs"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            name=op.f("fk_engine_runs_portfolio_id_portfolios"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_runs")),
        sa.UniqueConstraint(
            "batch_run_id",
            "portfolio_id",
            "engine",
            "as_of",
            name=op.f("uq_engine_runs_batch_run_id_portfolio_id_engine_as_of"),
        ),  # fmt: skip
    )
    op.create_index(
        op.f("ix_engine_runs_portfolio_id"), "engine_runs", ["portfolio_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_engine_runs_portfolio_id"), table_name="engine_runs")
    op.drop_table("engine_runs")
