"""The schema as SQLAlchemy Core tables; the migrations create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from backends.internal.states import ACTIVE, Status, sql_list

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database.

    SQLite has no time zones and compares timestamps as text, so every value is
    stored in one zone and one format on both databases.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is needed")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


activities = Table(
    "activities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("location", String(200), nullable=False, server_default=""),
    Column("born_from_year", Integer, nullable=False),
    Column("born_to_year", Integer, nullable=False),
    Column("opens_at", UTCDateTime, nullable=True),
    Column("residents_open_at", UTCDateTime, nullable=True),
    Column("closes_at", UTCDateTime, nullable=True),
    Column("social_discount_percent", Integer, nullable=False, server_default="0"),
    Column("waitlist", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('camp', 'swim')", name="kind"),
    CheckConstraint("born_from_year <= born_to_year", name="age_range"),
    CheckConstraint(
        "social_discount_percent >= 0 AND social_discount_percent <= 100", name="discount"
    ),
)

sessions = Table(
    "activity_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "activity_id",
        Integer,
        ForeignKey("activities.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("label", String(100), nullable=False, server_default=""),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("capacity", Integer, nullable=False),
    # Places taken by held, confirmed and offered registrations. Only ever
    # changed by conditional UPDATEs; the CHECK is the last line of defence.
    Column("booked", Integer, nullable=False, server_default="0"),
    Column("price_resident_cents", Integer, nullable=False),
    Column("price_non_resident_cents", Integer, nullable=False),
    UniqueConstraint("activity_id", "starts_at"),
    CheckConstraint("capacity >= 0", name="capacity"),
    CheckConstraint("booked >= 0", name="booked_not_negative"),
    CheckConstraint("booked <= capacity", name="booked_within_capacity"),
    CheckConstraint("ends_at >= starts_at", name="period"),
    CheckConstraint("price_resident_cents >= 0 AND price_non_resident_cents >= 0", name="prices"),
)

households = Table(
    "households",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("postcode", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

children = Table(
    "children",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "household_id",
        Integer,
        ForeignKey("households.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("first_name", String(80), nullable=False),
    Column("last_name", String(80), nullable=False),
    Column("birth_date", Date, nullable=False),
    # Case- and accent-insensitive identity of the child within the household.
    Column("name_key", String(170), nullable=False),
    UniqueConstraint("household_id", "name_key", "birth_date"),
)

registrations = Table(
    "registrations",
    metadata,
    # Arrival order: the waiting list is first come, first served by this number.
    Column("seq", Integer, primary_key=True),
    Column("id", String(24), nullable=False, unique=True),
    Column("session_id", Integer, ForeignKey("activity_sessions.id"), nullable=False),
    Column("child_id", Integer, ForeignKey("children.id"), nullable=False),
    Column("household_id", Integer, ForeignKey("households.id"), nullable=False),
    Column("basket", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("resident", Boolean, nullable=False),
    Column("social_tariff", Boolean, nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("cancelled_at", UTCDateTime, nullable=True),
    CheckConstraint(f"status IN {sql_list(tuple(Status))}", name="status"),
    Index("ix_registrations_basket", "basket"),
    Index("ix_registrations_session_status", "session_id", "status", "seq"),
    Index("ix_registrations_status_expires", "status", "expires_at"),
    # One child at most once per session, whatever the concurrency.
    Index(
        "uq_registrations_child_once",
        "session_id",
        "child_id",
        unique=True,
        postgresql_where=text(f"status IN {sql_list(ACTIVE)}"),
        sqlite_where=text(f"status IN {sql_list(ACTIVE)}"),
    ),
)
