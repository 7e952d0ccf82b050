"""The knowledge base: STIX objects by version, indicator values, imports and rejects.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stix_objects",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("modified", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(250), nullable=False),
        sa.Column("spec_version", sa.String(8), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("name", sa.String(500)),
        sa.Column("name_key", sa.String(200)),
        sa.Column("external_id", sa.String(64)),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("deprecated", sa.Boolean, nullable=False),
        sa.Column("confidence", sa.Integer),
        sa.Column("tlp", sa.String(16)),
        sa.Column("relationship_type", sa.String(100)),
        sa.Column("source_ref", sa.String(300)),
        sa.Column("target_ref", sa.String(300)),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object", sa.Text, nullable=False),
    )
    for column in ("type", "added_at"):
        op.create_index(f"ix_stix_objects_{column}", "stix_objects", [column])
    # most objects (indicators) have none of these: partial indexes keep bulk imports fast
    for column in ("name_key", "external_id", "source_ref", "target_ref"):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_stix_objects_{column}",
            "stix_objects",
            [column],
            sqlite_where=where,
            postgresql_where=where,
        )
    op.create_table(
        "indicator_values",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(2048), primary_key=True),
        sa.Column("indicator_id", sa.String(300), primary_key=True),
        sqlite_with_rowid=False,  # small rows kept in the key's own B-tree: one less to write
    )
    op.create_index("ix_indicator_values_indicator_id", "indicator_values", ["indicator_id"])
    op.create_table(
        "intel_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
    )
    op.create_table(
        "intel_rejected",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "import_id",
            sa.String(32),
            sa.ForeignKey("intel_imports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
    )
    op.create_index("ix_intel_rejected_import_id", "intel_rejected", ["import_id"])


def downgrade() -> None:
    op.drop_table("intel_rejected")
    op.drop_table("intel_imports")
    op.drop_table("indicator_values")
    op.drop_table("stix_objects")
