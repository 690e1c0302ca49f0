"""Who added each document, and DOI/PMCID clashes for a curator to settle.

``documents.added_by``: the source a document came from (a user's key, ``inbox:uid<N>`` for the inbox watcher,
``cli:<os user>``); abbreviation expansion counts one vote per source, so one uploader cannot outvote the library.
Existing documents keep NULL: each counts as a source of its own, as before.

``documents.clash_with``: set when a document was kept although another one already claimed its DOI or PMCID with a
different title (which of the two is genuine is for a curator to decide).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    if "added_by" not in columns:
        op.add_column("documents", sa.Column("added_by", sa.String(256), nullable=True))
    if "clash_with" not in columns:
        op.add_column("documents", sa.Column("clash_with", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("clash_with")
        batch.drop_column("added_by")
