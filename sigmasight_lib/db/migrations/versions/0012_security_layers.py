"""security layers: ``security_layers`` and the per-security tables of a stored layer

- ``security_layers``: one row per key (as-of, provider, parameter hash), with the code
  version, the number of securities and the factor fit's mode, factors and window.
- ``security_analytics``: closes at the as-of and the previous session, realized vol.
- ``security_factor_betas``: each underlying's factor fit, one row per factor.
- ``contract_greeks``: each option contract's Greeks per share and its BSM inputs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _layer_id(table: str) -> sa.Column:
    return sa.Column(
        "layer_id",
        sa.Integer(),
        sa.ForeignKey(
            "security_layers.id",
            name=f"fk_{table}_layer_id_security_layers",
            ondelete="CASCADE",
        ),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "security_layers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("securities", sa.Integer(), nullable=False),
        sa.Column("factor_mode", sa.String(length=20), nullable=True),
        sa.Column("factors", sa.JSON(), nullable=True),
        sa.Column("factor_window_start", sa.Date(), nullable=True),
        sa.Column("factor_window_end", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_security_layers"),
        sa.UniqueConstraint(
            "as_of", "provider", "params_hash", name="uq_security_layers_as_of_provider_params_hash"
        ),
    )
    op.create_table(
        "security_analytics",
        sa.Column("id", sa.Integer(), nullable=False),
        _layer_id("security_analytics"),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("previous_price", sa.Float(), nullable=True),
        sa.Column("realized_vol", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_security_analytics"),
        sa.UniqueConstraint("layer_id", "symbol", name="uq_security_analytics_layer_id_symbol"),
    )
    op.create_table(
        "security_factor_betas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        _layer_id("security_factor_betas"),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column(
            "factor_id",
            sa.Integer(),
            sa.ForeignKey(
                "factor_definitions.id",
                name="fk_security_factor_betas_factor_id_factor_definitions",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("beta", sa.Float(), nullable=True),
        sa.Column("beta_uncapped", sa.Float(), nullable=True),
        sa.Column("t_stat", sa.Float(), nullable=True),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=True),
        sa.Column("alpha_t_stat", sa.Float(), nullable=True),
        sa.Column("r_squared", sa.Float(), nullable=True),
        sa.Column("residual_variance", sa.Float(), nullable=True),
        sa.Column("condition_number", sa.Float(), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_security_factor_betas"),
        sa.UniqueConstraint(
            "layer_id",
            "symbol",
            "factor_id",
            name="uq_security_factor_betas_layer_id_symbol_factor_id",
        ),
    )
    op.create_table(
        "contract_greeks",
        sa.Column("id", sa.Integer(), nullable=False),
        _layer_id("contract_greeks"),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        *(
            sa.Column(c, sa.Float(), nullable=True)
            for c in (
                "delta",
                "gamma",
                "theta",
                "vega",
                "rho",
                "model_price",
                "implied_vol",
            )
        ),  # fmt: skip
        sa.Column("vol_source", sa.String(length=20), nullable=True),
        sa.Column("years_to_expiry", sa.Float(), nullable=True),
        sa.Column("risk_free_rate", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contract_greeks"),
        sa.UniqueConstraint("layer_id", "symbol", name="uq_contract_greeks_layer_id_symbol"),
    )
    for table in ("security_analytics", "security_factor_betas", "contract_greeks"):
        op.create_index(f"ix_{table}_layer_id", table, ["layer_id"], unique=False)


def downgrade() -> None:
    for table in ("contract_greeks", "security_factor_betas", "security_analytics"):
        op.drop_index(f"ix_{table}_layer_id", table_name=table)
        op.drop_table(table)
    op.drop_table("security_layers")
