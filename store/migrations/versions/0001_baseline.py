"""The schema as stores had it before migrations: documents and chunks with their study designs and
abbreviations, saved evaluation runs, accounts, sign-in sessions and throttling, the audit log, reading lists and
recent searches.

Stores made before migrations hold some of these tables already (each was created lazily by the module that used
it), so every table and index is created only when missing.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _table(name: str, *columns: sa.Column | sa.Constraint, indexes: tuple[str, ...] = ()) -> None:
    """Create ``name`` (and its ``ix_<name>_<column>`` indexes) unless a store made before migrations has it."""
    if sa.inspect(op.get_bind()).has_table(name):
        return
    op.create_table(name, *columns)
    for column in indexes:
        op.create_index(f"ix_{name}_{column}", name, [column])


def upgrade() -> None:
    _table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("collection", sa.String(128), nullable=False),
        sa.Column("external_id", sa.String(256)),
        sa.Column("title", sa.Text),
        sa.Column("authors", sa.Text),
        sa.Column("journal", sa.String(512)),
        sa.Column("year", sa.Integer),
        sa.Column("doi", sa.String(256)),
        sa.Column("pmcid", sa.String(32)),
        sa.Column("file_path", sa.Text),
        sa.Column("n_pages", sa.Integer),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("added_at", TZ, nullable=False),
        indexes=("collection", "external_id"),
    )
    _table(
        "chunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("page", sa.Integer),
        sa.Column("char_start", sa.Integer),
        sa.Column("char_end", sa.Integer),
        sa.Column("text", sa.Text, nullable=False),
        indexes=("document_id",),
    )
    _table(
        "study_designs",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("study_type", sa.String(32), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        indexes=("study_type",),
    )
    _table(
        "abbreviations",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("short", sa.String(16), primary_key=True),
        sa.Column("long", sa.String(256), nullable=False),
    )
    _table(
        "eval_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset", sa.String(256), nullable=False),
        sa.Column("split", sa.String(32), nullable=False),
        sa.Column("retriever", sa.String(256), nullable=False),
        sa.Column("n_queries", sa.Integer, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("created_at", TZ, nullable=False),
    )
    _table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        indexes=("at", "actor", "action"),
    )
    _table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("password_changed_at", TZ, nullable=False),
        sa.Column("last_login_at", TZ),
    )
    _table(
        "login_throttle",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", TZ),
        sa.Column("blocked_until", TZ),
    )
    _table(
        "user_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        indexes=("username",),
    )
    _table(
        "reading_list",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.UniqueConstraint("owner", "document_id"),
        indexes=("owner", "document_id"),
    )
    _table(
        "recent_searches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("at", TZ, nullable=False),
        indexes=("owner",),
    )


def downgrade() -> None:
    for name in ("recent_searches", "reading_list", "user_sessions", "login_throttle", "users", "audit_log",
                 "eval_runs", "abbreviations", "study_designs", "chunks", "documents"):
        op.drop_table(name)
