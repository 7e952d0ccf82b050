"""Incidents (rebuilt from the alerts) and the asset inventory.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("ip", sa.String(100)),
        sa.Column("crown_jewel", sa.Boolean, nullable=False),
        sa.Column("criticality", sa.Integer, nullable=False),
        sa.Column("value_usd", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_assets_name", "assets", ["name"])


def downgrade() -> None:
    op.drop_index("ix_assets_name", "assets")
    op.drop_table("assets")
    op.drop_table("incidents")
