"""Activities, sessions, households, children and registrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = "status IN ('held', 'confirmed', 'offered', 'waitlisted')"
ALL_STATES = "status IN ('held', 'confirmed', 'waitlisted', 'offered', 'cancelled', 'expired')"


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("location", sa.String(200), server_default="", nullable=False),
        sa.Column("born_from_year", sa.Integer(), nullable=False),
        sa.Column("born_to_year", sa.Integer(), nullable=False),
        sa.Column("opens_at", sa.DateTime(), nullable=True),
        sa.Column("residents_open_at", sa.DateTime(), nullable=True),
        sa.Column("closes_at", sa.DateTime(), nullable=True),
        sa.Column("social_discount_percent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("waitlist", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('camp', 'swim')", name="ck_activities_kind"),
        sa.CheckConstraint("born_from_year <= born_to_year", name="ck_activities_age_range"),
        sa.CheckConstraint(
            "social_discount_percent >= 0 AND social_discount_percent <= 100",
            name="ck_activities_discount",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_activities"),
        sa.UniqueConstraint("name", name="uq_activities_name"),
    )
    op.create_table(
        "activity_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(100), server_default="", nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("price_resident_cents", sa.Integer(), nullable=False),
        sa.Column("price_non_resident_cents", sa.Integer(), nullable=False),
        sa.CheckConstraint("capacity >= 0", name="ck_activity_sessions_capacity"),
        sa.CheckConstraint("booked >= 0", name="ck_activity_sessions_booked_not_negative"),
        sa.CheckConstraint(
            "booked <= capacity", name="ck_activity_sessions_booked_within_capacity"
        ),
        sa.CheckConstraint("ends_at >= starts_at", name="ck_activity_sessions_period"),
        sa.CheckConstraint(
            "price_resident_cents >= 0 AND price_non_resident_cents >= 0",
            name="ck_activity_sessions_prices",
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name="fk_activity_sessions_activity_id_activities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_activity_sessions"),
        sa.UniqueConstraint(
            "activity_id", "starts_at", name="uq_activity_sessions_activity_id_starts_at"
        ),
    )
    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("postcode", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_households"),
        sa.UniqueConstraint("email", name="uq_households_email"),
    )
    op.create_table(
        "children",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(80), nullable=False),
        sa.Column("last_name", sa.String(80), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("name_key", sa.String(170), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name="fk_children_household_id_households",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_children"),
        sa.UniqueConstraint(
            "household_id",
            "name_key",
            "birth_date",
            name="uq_children_household_id_name_key_birth_date",
        ),
    )
    op.create_table(
        "registrations",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("basket", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resident", sa.Boolean(), nullable=False),
        sa.Column("social_tariff", sa.Boolean(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(ALL_STATES, name="ck_registrations_status"),
        sa.ForeignKeyConstraint(
            ["child_id"], ["children.id"], name="fk_registrations_child_id_children"
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name="fk_registrations_household_id_households"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["activity_sessions.id"],
            name="fk_registrations_session_id_activity_sessions",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_registrations"),
        sa.UniqueConstraint("id", name="uq_registrations_id"),
    )
    op.create_index("ix_registrations_basket", "registrations", ["basket"])
    op.create_index(
        "ix_registrations_session_status",
        "registrations",
        ["session_id", "status", "seq"],
    )
    op.create_index("ix_registrations_status_expires", "registrations", ["status", "expires_at"])
    op.create_index(
        "uq_registrations_child_once",
        "registrations",
        ["session_id", "child_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_table("registrations")
    op.drop_table("children")
    op.drop_table("households")
    op.drop_table("activity_sessions")
    op.drop_table("activities")
