"""Alerts, and which lake files detection has read.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(300), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("techniques", sa.Text, nullable=False),
        sa.Column("entities", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("retro", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alerts_key_last", "alerts", ["key", "last_seen"])
    op.create_index("ix_alerts_last_seen", "alerts", ["last_seen"])
    op.create_table(
        "detected_parts",
        sa.Column("path", sa.String(600), primary_key=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("detected_parts")
    op.drop_index("ix_alerts_last_seen", "alerts")
    op.drop_index("ix_alerts_key_last", "alerts")
    op.drop_table("alerts")
