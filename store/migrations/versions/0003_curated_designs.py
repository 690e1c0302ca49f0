"""A curator's correction of a document's study design, kept beside the detected one: who set it, when, and why.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("curated_type", "curated_by", "curated_at", "curated_note")


def upgrade() -> None:
    with op.batch_alter_table("study_designs") as batch:  # batch: SQLite cannot alter tables in place
        batch.add_column(sa.Column("curated_type", sa.String(32), nullable=True))
        batch.add_column(sa.Column("curated_by", sa.String(256), nullable=True))
        batch.add_column(sa.Column("curated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("curated_note", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("study_designs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
