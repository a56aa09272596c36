"""The data model: providers offer activities, activities have dated slots, visitors book slots.

Conventions: datetimes are time-zone aware and stored in UTC (``UTCDateTime``), money is in
integer cents, statuses are readable words. ``Slot.booked`` counts the people on confirmed
bookings and ``Slot.held`` the people on holds (unpaid online bookings) not yet released; a
CHECK keeps both within the capacity, and only the statements of ``rules.places`` and
``rules.holds`` change them, by conditional UPDATEs, so no concurrency can oversell a slot.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from reservations.base import clock


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on PostgreSQL and on SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: every datetime must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _words(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    """A string column limited to the enum's values by a CHECK constraint."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class ActivityKind(enum.StrEnum):
    FARM_VISIT = "farm_visit"
    ANIMATION = "animation"


class SlotStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # published, go/no-go not decided yet
    CONFIRMED = "confirmed"  # enough people: it goes ahead
    HELD = "held"  # it took place (attendance recorded)
    CANCELLED = "cancelled"


#: Slots that still take bookings (if before their cut-off and not full).
BOOKABLE_STATUSES = (SlotStatus.SCHEDULED, SlotStatus.CONFIRMED)


class Places:
    """A slot's places: its capacity, the people booked on it and those on holds not released
    yet. ``remaining`` is what the slot itself has left as read (a hold that lapsed since still
    counts); the read models of a slot (``reads.slot_facts``) say what can really be booked,
    lapsed holds and its farm's daily cap included (``rules.room.places_left``)."""

    capacity: int
    booked: int
    held: int = 0

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked - self.held, 0)


class CancelReason(enum.StrEnum):
    UNDER_MINIMUM = "under_minimum"
    PROVIDER = "provider"  # the farmer cannot (no reason given)
    ILLNESS = "illness"
    WEATHER = "weather"
    FIRE_RISK = "fire_risk"  # summer fire danger: prefectoral bans on access to the land
    STAFF = "staff"
    OTHER = "other"


class Channel(enum.StrEnum):
    WEB = "web"
    COUNTER = "counter"
    PHONE = "phone"
    RESELLER = "reseller"
    HISTORY = "history"  # imported from a past season's spreadsheet


class BookingStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    PENDING_PAYMENT = "pending_payment"
    EXPIRED = "expired"
    #: A reseller's hold (OCTO ``ON_HOLD``): its places are held until the reseller confirms it.
    ON_HOLD = "on_hold"


#: Bookings that hold places only until their ``hold_expires_at``: past it they stop counting
#: by themselves (``rules.holds``): an online booking waiting for its payment, a reseller's hold.
HOLD_STATUSES = (BookingStatus.PENDING_PAYMENT, BookingStatus.ON_HOLD)


class CancelledBy(enum.StrEnum):
    """Who ended a booking: a booking ended with its slot still counts as demand in reports."""

    VISITOR = "visitor"
    STAFF = "staff"
    SLOT = "slot"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Provider(Base):
    """A farm or an event organiser."""

    __tablename__ = "provider"
    __table_args__ = (
        CheckConstraint("daily_cap IS NULL OR daily_cap > 0", name="daily_cap_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    village: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(100), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    #: Language codes the provider speaks with visitors, e.g. ["fr", "en"].
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["fr"])
    #: At most this many people a day across all the provider's slots (None: no daily cap).
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    #: SHA-256 of the secret in the provider's private link (day sheet, feed); no password.
    access_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    access_link_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Raised at every change (published pages and feeds compare it).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    activities: Mapped[list[Activity]] = relationship(back_populates="provider", lazy="raise")


class ProviderDayOff(Base):
    """A day the provider does not receive visitors: season planning skips it."""

    __tablename__ = "provider_day_off"
    __table_args__ = (UniqueConstraint("provider_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    day: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))


class Activity(Base):
    """What a provider offers (a farm visit, an animation), with the defaults its slots take."""

    __tablename__ = "activity"
    __table_args__ = (
        UniqueConstraint("provider_id", "name"),
        CheckConstraint("default_capacity > 0", name="capacity_positive"),
        CheckConstraint("default_min_participants >= 0", name="minimum_not_negative"),
        CheckConstraint("price_adult_cents >= 0 AND price_child_cents >= 0", name="prices"),
        CheckConstraint(
            "late_refund_percent >= 0 AND late_refund_percent <= 100", name="late_refund_percent"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    kind: Mapped[ActivityKind] = mapped_column(_words(ActivityKind, "activity_kind"))
    #: The French title, used to match activities by name (history import, staff search).
    name: Mapped[str] = mapped_column(String(200))
    #: Per locale: {"fr": "...", "en": "...", "de": "...", "nl": "..."}; "fr" always present.
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=90)
    meeting_point: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    min_age: Mapped[int | None] = mapped_column(Integer)
    accessibility: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: Per locale: how to get to the meeting point (the office's shuttle lines, parking).
    directions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    default_capacity: Mapped[int] = mapped_column(Integer, default=20)
    default_min_participants: Mapped[int] = mapped_column(Integer, default=0)
    price_adult_cents: Mapped[int] = mapped_column(Integer, default=0)
    price_child_cents: Mapped[int] = mapped_column(Integer, default=0)
    #: Bookings close this many minutes before the start.
    cutoff_minutes: Mapped[int] = mapped_column(Integer, default=120)
    #: Share of the price refunded when a paid booking is cancelled at the visitor's request
    #: after the cut-off (before it: all of it; a cancelled slot: all of it).
    late_refund_percent: Mapped[int] = mapped_column(Integer, default=0)
    #: Go/no-go is decided this many days before the start day, at this local time.
    decision_days_before: Mapped[int] = mapped_column(Integer, default=1)
    decision_time: Mapped[time] = mapped_column(Time, default=time(18, 0))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Raised at every change (published pages and feeds compare it).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    provider: Mapped[Provider] = relationship(back_populates="activities", lazy="raise")
    slots: Mapped[list[Slot]] = relationship(back_populates="activity", lazy="raise")

    def title_in(self, locale: str) -> str:
        return self.title.get(locale) or self.title.get("fr") or self.name


class Slot(Base, Places):
    """One dated occurrence of an activity."""

    __tablename__ = "slot"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("held >= 0 AND booked + held <= capacity", name="held_within_capacity"),
        CheckConstraint("min_participants >= 0", name="minimum_not_negative"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        UniqueConstraint("activity_id", "starts_at"),
        Index("ix_slot_starts_on_status", "starts_on", "status"),
        Index("ix_slot_decision_due", "status", "decision_at"),
        Index("ix_slot_holds_expire_at", "holds_expire_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The local (Europe/Paris) date of the start: days, weekdays and months group on it.
    starts_on: Mapped[date] = mapped_column(Date)
    capacity: Mapped[int] = mapped_column(Integer)
    min_participants: Mapped[int] = mapped_column(Integer, default=0)
    #: People (adults + children) on confirmed bookings; see the module docstring.
    booked: Mapped[int] = mapped_column(Integer, default=0)
    #: People on holds not released yet, lapsed or not (``rules.holds``).
    held: Mapped[int] = mapped_column(Integer, default=0)
    #: The earliest end of the holds counted in ``held`` (NULL: none): from then on, the next
    #: taker of places releases the lapsed ones first.
    holds_expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booking_cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[SlotStatus] = mapped_column(
        _words(SlotStatus, "slot_status"), default=SlotStatus.SCHEDULED
    )
    cancel_reason: Mapped[CancelReason | None] = mapped_column(
        _words(CancelReason, "cancel_reason")
    )
    cancel_message: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Raised at every change a calendar should see (iCal SEQUENCE).
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    activity: Mapped[Activity] = relationship(back_populates="slots", lazy="raise")
    bookings: Mapped[list[Booking]] = relationship(back_populates="slot", lazy="raise")


class Reseller(Base):
    """A partner selling our visits through the OCTO API (``/octo``) with its own key."""

    __tablename__ = "reseller"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: SHA-256 of the API key; the key itself is shown once, when it is made.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: A test key reads and books the sandbox (the demo data), never the real places.
    test_mode: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Booking(Base):
    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint("adults >= 0 AND children >= 0", name="party_not_negative"),
        CheckConstraint("adults + children >= 1", name="party_not_empty"),
        Index("ix_booking_slot_id_status", "slot_id", "status"),
        Index("ix_booking_reseller_id_reseller_reference", "reseller_id", "reseller_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Short code read out on the phone and printed on confirmations, e.g. "K7QM-42ZD".
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"))
    adults: Mapped[int] = mapped_column(Integer)
    children: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    channel: Mapped[Channel] = mapped_column(_words(Channel, "booking_channel"))
    status: Mapped[BookingStatus] = mapped_column(
        _words(BookingStatus, "booking_status"), default=BookingStatus.CONFIRMED
    )
    notes: Mapped[str | None] = mapped_column(Text)
    #: A hold (``HOLD_STATUSES``) holds its places until then; kept afterwards as a record.
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: SHA-256 of the secret manage token; the token itself is never stored. None: a past
    #: booking imported from a spreadsheet, which nobody manages (no token finds it).
    manage_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: SHA-256 of the client's Idempotency-Key, and of the request it came with.
    idempotency_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[CancelledBy | None] = mapped_column(_words(CancelledBy, "cancelled_by"))
    #: Booked from a link another visitor shared ("help this visit happen"): the report counts
    #: the visits these bookings saved.
    via_share_link: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: The reseller that sold it (channel ``reseller``), its reference for it, and what the
    #: OCTO API keeps of its request: ``{"uuid", "unitItems": [{"uuid", "unitId",
    #: "resellerReference"}], "confirmedAt", "updatedAt", "cancellationReason"}``.
    reseller_id: Mapped[int | None] = mapped_column(ForeignKey("reseller.id"))
    reseller_reference: Mapped[str | None] = mapped_column(String(100))
    reseller_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    slot: Mapped[Slot] = relationship(back_populates="bookings", lazy="raise")
    attendance: Mapped[Attendance | None] = relationship(back_populates="booking", lazy="raise")

    @property
    def people(self) -> int:
        return self.adults + self.children


class PaymentMethod(enum.StrEnum):
    STRIPE = "stripe"  # online, Stripe Checkout
    CASH = "cash"
    CHEQUE = "cheque"
    CARD_TERMINAL = "card_terminal"
    ON_SITE = "on_site"  # to be paid to the farmer on the day


class PaymentStatus(enum.StrEnum):
    OPEN = "open"  # a checkout waiting for the visitor, or money due on site
    PAID = "paid"
    FAILED = "failed"  # the payment was declined (asynchronous methods)
    EXPIRED = "expired"  # the checkout ran out unpaid


class Payment(Base):
    """Money for a booking: a Stripe Checkout Session, or what staff recorded at the counter."""

    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount_cents >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), index=True)
    method: Mapped[PaymentMethod] = mapped_column(_words(PaymentMethod, "payment_method"))
    status: Mapped[PaymentStatus] = mapped_column(_words(PaymentStatus, "payment_status"))
    #: What is to be paid (a checkout's total) or was paid, in euro cents.
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="eur")
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_payment_intent: Mapped[str | None] = mapped_column(String(255), index=True)
    #: Where the visitor pays (Stripe's hosted page), while the checkout is open.
    checkout_url: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "visitor", "staff:<email>"...
    recorded_by: Mapped[str] = mapped_column(String(200))


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # to be sent to Stripe (again, while it is unreachable)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # refused by Stripe: staff must look


class RefundReason(enum.StrEnum):
    VISITOR_CANCELLED = "visitor_cancelled"
    SLOT_CANCELLED = "slot_cancelled"
    STAFF = "staff"  # a refund staff decided (partial or not)
    NO_PLACES = "no_places"  # paid after the hold ran out, and the places were gone


class Refund(Base):
    """Money given back for a payment, sent to Stripe with its own idempotency key."""

    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[RefundStatus] = mapped_column(_words(RefundStatus, "refund_status"))
    reason: Mapped[RefundReason] = mapped_column(_words(RefundReason, "refund_reason"))
    #: Sent with every attempt, so that a retry never refunds twice.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Picture(Base):
    """A photo of an activity, or a farm's portrait (exactly one of the two owners), as staff
    uploaded it: the first by ``position`` is the cover. Its encoded sizes are
    ``PictureRendition`` rows (``rules.pictures`` says why they live in the database)."""

    __tablename__ = "picture"
    __table_args__ = (
        CheckConstraint(
            "(activity_id IS NULL AND provider_id IS NOT NULL)"
            " OR (activity_id IS NOT NULL AND provider_id IS NULL)",
            name="one_owner",
        ),
        CheckConstraint("width > 0 AND height > 0", name="dimensions_positive"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        Index("ix_picture_activity_id_position", "activity_id", "position"),
        Index("ix_picture_provider_id_position", "provider_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activity.id"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"))
    #: 0 is the cover, then the order staff chose.
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: Per locale, what the picture shows for those who cannot see it: {"fr": "...", ...}.
    alt: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: The original's size, upright (its EXIF orientation applied).
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the file uploaded: part of the renditions' addresses, which never change.
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str] = mapped_column(String(200))


class PictureRendition(Base):
    """One encoded size of a picture (WebP or JPEG), metadata stripped, served as it is."""

    __tablename__ = "picture_rendition"

    picture_id: Mapped[int] = mapped_column(
        ForeignKey("picture.id", ondelete="CASCADE"), primary_key=True
    )
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: "webp" or "jpg", as in the address.
    format: Mapped[str] = mapped_column(String(8), primary_key=True)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SchedulerLease(Base):
    """Who runs the due work now: one server process at a time holds the lease until it ends,
    so two workers never send the same mail or decide the same slot together."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeEvent(Base):
    """A webhook event already processed: a replay of its id is answered without effect."""

    __tablename__ = "stripe_event"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"))


class Attendance(Base):
    """Who actually came for a booking; zero adults and zero children is a no-show."""

    __tablename__ = "attendance"
    __table_args__ = (
        CheckConstraint("adults >= 0 AND children >= 0", name="present_not_negative"),
    )

    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), primary_key=True)
    adults: Mapped[int] = mapped_column(Integer)
    children: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    recorded_by: Mapped[str] = mapped_column(String(200))

    booking: Mapped[Booking] = relationship(back_populates="attendance", lazy="raise")

    @property
    def no_show(self) -> bool:
        return self.adults + self.children == 0


class AuditEntry(Base):
    """One change to a slot or a booking: who, what, when, and the values before and after."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: "visitor", "system", "cli", "staff:<email>", "provider:<id>", "api" ...
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slot.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxMessage(Base):
    """An email waiting to be sent, or sent: written in the same transaction as the change it
    tells about, so a booking never waits for (or is lost with) the mail server."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "sent_at", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One message per event and person, e.g. "booking-confirmed:42": enqueuing twice is harmless.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    #: [{"filename": ..., "content_type": "text/calendar", "content": "<text>"}]
    attachments: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: The secrets of the message's links, sealed (``infra.secret_links``): the texts and
    #: attachments hold placeholders. Deleted once the message is sent or abandoned.
    link_secrets: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # places freed up: a claim link was sent, valid until offer_expires_at
    CLAIMED = "claimed"  # the offer became a booking
    EXPIRED = "expired"  # the offer ran out; the places went to the next ones
    WITHDRAWN = "withdrawn"


class WaitlistEntry(Base):
    """A party waiting for places on a full slot, served in order when places free up."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        CheckConstraint("adults >= 0 AND children >= 0", name="party_not_negative"),
        CheckConstraint("adults + children >= 1", name="party_not_empty"),
        Index("ix_waitlist_entry_slot_id_status", "slot_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"))
    adults: Mapped[int] = mapped_column(Integer)
    children: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    status: Mapped[WaitlistStatus] = mapped_column(
        _words(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: SHA-256 of the secret in the claim link (a new one at each offer).
    claim_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"))

    @property
    def people(self) -> int:
        return self.adults + self.children


class MoveInvitation(Base):
    """An invitation to move a booking from an under-minimum slot to another of the same
    activity, so that one of the two reaches its minimum (consolidation, from the at-risk
    board). Its visitor accepts with one tap of the link in their email until ``expires_at``."""

    __tablename__ = "move_invitation"
    __table_args__ = (
        Index("ix_move_invitation_target_slot_id", "target_slot_id"),
        #: A booking is invited once from one date to another.
        UniqueConstraint("booking_id", "source_slot_id", "target_slot_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), index=True)
    source_slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"), index=True)
    target_slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"))
    #: SHA-256 of the secret in the link; the secret itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffRole(enum.StrEnum):
    ADMIN = "admin"  # also manages staff accounts, providers and their links
    STAFF = "staff"


class StaffUser(Base):
    """An office account for the back office. The password is kept as an argon2 hash only."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-cased: the login is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(_words(StaffRole, "staff_role"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: A disabled account cannot log in, and its open sessions end.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A logged-in back-office session, so that logging out (or disabling the account) ends it
    on the server: the cookie carries only a random token, the table only its SHA-256."""

    __tablename__ = "staff_session"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginThrottle(Base):
    """Login attempts per (email, client address), counted before the password is checked.

    Keyed by an HMAC of both, so the table holds no email of strangers, and a guesser elsewhere
    cannot lock out a clerk at the counter; an unknown email is counted like a real one.
    ``attempts`` counts the attempts since ``expires_at`` was last set; the attempt that reaches
    the limit sets it again, to the end of the lock."""

    __tablename__ = "login_throttle"

    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
