"""FIX sequence numbers: the SenderCompID / TargetCompID and MsgSeqNum range of each FIX export

``whatif export --format fix`` continues MsgSeqNum (34) after the last export to the
same (sender, target) pair; the range is stored on the export's ``export_history``
row. Rows written before this revision (and CSV exports) have NULL columns.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN of nullable columns: no table rebuild on SQLite
    op.add_column(
        "export_history", sa.Column("sender_comp_id", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "export_history", sa.Column("target_comp_id", sa.String(length=64), nullable=True)
    )
    op.add_column("export_history", sa.Column("first_seq_num", sa.Integer(), nullable=True))
    op.add_column("export_history", sa.Column("last_seq_num", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("export_history", schema=None) as batch_op:
        batch_op.drop_column("last_seq_num")
        batch_op.drop_column("first_seq_num")
        batch_op.drop_column("target_comp_id")
        batch_op.drop_column("sender_comp_id")
