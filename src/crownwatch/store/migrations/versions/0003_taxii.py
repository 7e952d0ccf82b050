"""TAXII 2.1: server collections, tokens and statuses; client poll state.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "taxii_collections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("can_read", sa.Boolean, nullable=False),
        sa.Column("can_write", sa.Boolean, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("types", sa.JSON, nullable=False),
        sa.Column("allow_amber_strict", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "taxii_tokens",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("read", sa.JSON, nullable=False),
        sa.Column("write", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "taxii_status",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("collection_id", sa.String(36), nullable=False),
        sa.Column("token_name", sa.String(100), nullable=False),
        sa.Column("request_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_count", sa.Integer, nullable=False),
        sa.Column("success_count", sa.Integer, nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("pending_count", sa.Integer, nullable=False),
        sa.Column("successes", sa.JSON, nullable=False),
        sa.Column("failures", sa.JSON, nullable=False),
        sa.Column("pendings", sa.JSON, nullable=False),
    )
    op.create_index("ix_taxii_status_collection_id", "taxii_status", ["collection_id"])
    op.create_table(
        "taxii_polls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("api_root", sa.Text, nullable=False),
        sa.Column("collection_id", sa.Text, nullable=False),
        sa.Column("added_after", sa.String(40)),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("taxii_polls")
    op.drop_table("taxii_status")
    op.drop_table("taxii_tokens")
    op.drop_table("taxii_collections")
