"""run lineage and scenario sets: manual runs, position change stamps, named scenario sets

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:40:00

- ``batch_runs.kind``: ``batch`` or ``manual`` (a CLI ``engine`` run records its own run).
- ``portfolios.positions_changed_at``: when a position was last added, changed or removed
  (reports flag results computed before it as stale).
- ``stress_scenarios.scenario_set``: ``library`` or a custom file's name; unique on
  (scenario_set, key) instead of key, so a custom file never overwrites the library.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keep_stress_results(body) -> None:  # noqa: ANN001 (a callable)
    """Run ``body`` (which recreates ``stress_scenarios`` on SQLite) without losing
    ``stress_results``: SQLite's batch mode drops the old table, and with foreign keys
    on that cascades to the results, so they are copied aside and put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE _keep_stress_results AS SELECT * FROM stress_results")
    body()
    if sqlite:
        op.execute("DELETE FROM stress_results")
        op.execute("INSERT INTO stress_results SELECT * FROM _keep_stress_results")
        op.execute("DROP TABLE _keep_stress_results")


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild, so no cascade on SQLite)
    op.add_column(
        "batch_runs",
        sa.Column("kind", sa.String(length=20), server_default="batch", nullable=False),
    )
    op.add_column(
        "portfolios", sa.Column("positions_changed_at", sa.DateTime(timezone=True), nullable=True)
    )

    def rebuild() -> None:
        with op.batch_alter_table("stress_scenarios", schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "scenario_set", sa.String(length=80), server_default="library", nullable=False
                )
            )
            batch_op.drop_constraint("uq_stress_scenarios_key", type_="unique")
            batch_op.create_unique_constraint(
                "uq_stress_scenarios_scenario_set_key", ["scenario_set", "key"]
            )

    _keep_stress_results(rebuild)


def downgrade() -> None:
    # custom sets cannot live under a unique key: keep the library's definitions only
    op.execute("DELETE FROM stress_scenarios WHERE scenario_set <> 'library'")

    def rebuild() -> None:
        with op.batch_alter_table("stress_scenarios", schema=None) as batch_op:
            batch_op.drop_constraint("uq_stress_scenarios_scenario_set_key", type_="unique")
            batch_op.create_unique_constraint("uq_stress_scenarios_key", ["key"])
            batch_op.drop_column("scenario_set")

    _keep_stress_results(rebuild)
    # native DROP COLUMN (SQLite >= 3.35): a batch rebuild of these parent tables would
    # cascade-delete their children on SQLite
    op.execute("ALTER TABLE portfolios DROP COLUMN positions_changed_at")
    op.execute("ALTER TABLE batch_runs DROP COLUMN kind")
