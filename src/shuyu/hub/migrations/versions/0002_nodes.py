"""Nodes, enrolment tokens, and what a job's compute parties need and report.

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
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("parties", sa.JSON, nullable=False, server_default="[]"))
        jobs.add_column(sa.Column("document", sa.JSON, nullable=False, server_default="{}"))
        jobs.add_column(sa.Column("reports", sa.JSON, nullable=False, server_default="{}"))
        jobs.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mpc_host", sa.String(255), nullable=False),
        sa.Column("mpc_port", sa.Integer, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=True),
    )
    op.create_table(
        "enroll_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("enroll_tokens")
    op.drop_table("nodes")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("attempt")
        jobs.drop_column("reports")
        jobs.drop_column("document")
        jobs.drop_column("parties")
