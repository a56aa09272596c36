"""The domain's error catalogue: every refusal a person can meet, with a message they understand.

Messages are written in English and marked with ``N_`` so that Babel extracts them (a message
whose words follow a number, "1 place" / "2 places", is a pair marked with ``N_plural`` and
names the parameter it counts); the web layers translate them into the visitor's language when
they show them. ``kind`` says what sort
of refusal it is, and the HTTP layer maps it to a status code (the domain knows no HTTP).
"""

from __future__ import annotations

import enum
from typing import Any


def N_(message: str) -> str:
    """Mark a message for translation without translating it here."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with a singular and a plural form (extracted as a plural entry: see the
    ``-k N_plural:1,2`` of dev.py's extraction); its ``counted`` parameter chooses the form."""
    return singular, plural


class ErrorKind(enum.StrEnum):
    INVALID = "invalid"  # the request itself is wrong
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # valid, but the state of things refuses it (full, closed, cancelled)
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"  # a service we depend on (Stripe) cannot be reached for now


class DomainError(Exception):
    kind: ErrorKind = ErrorKind.INVALID
    code: str = "invalid"
    title: str = N_("The request could not be carried out")
    message: str | tuple[str, str] = N_("Something in the request is not right.")
    #: For a message with plural forms, the parameter whose number chooses the form.
    counted: str | None = None

    def __init__(self, field: str | None = None, **params: Any) -> None:
        self.field = field
        self.params = params
        super().__init__(self.text)

    @property
    def count(self) -> int:
        """The number that chooses a plural message's form."""
        return int(self.params.get(self.counted or "", 0))

    @property
    def text(self) -> str:
        """The message in English (logs, exceptions); people read ``i18n.error_text``."""
        message = self.message
        if isinstance(message, tuple):
            message = message[0] if self.count == 1 else message[1]
        return message.format(**self.params)


class InvalidParty(DomainError):
    code = "invalid_party"
    title = N_("Invalid number of people")
    message = N_("A booking needs at least one person, and no negative numbers.")


class PartyTooLarge(DomainError):
    code = "party_too_large"
    title = N_("Group too large")
    message = N_(
        "One booking can hold at most {maximum} people. "
        "For a larger group, please call the tourist office."
    )


class SlotNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "slot_not_found"
    title = N_("Unknown visit")
    message = N_("There is no visit with this number.")


class BookingNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "booking_not_found"
    title = N_("Unknown booking")
    message = N_("No booking matches this link. Please check that it was copied in full.")


class NotEnoughPlaces(DomainError):
    kind = ErrorKind.CONFLICT
    code = "not_enough_places"
    title = N_("Not enough places left")
    message = N_plural(
        "Only {remaining} place left for this visit; you asked for {requested}.",
        "Only {remaining} places left for this visit; you asked for {requested}.",
    )
    counted = "remaining"


class SlotFull(NotEnoughPlaces):
    message = N_("This visit is full: there is no place left.")
    counted = None


class DailyCapReached(NotEnoughPlaces):
    """The slot has room, but the farm takes at most so many people that day."""

    code = "daily_cap_reached"
    message = N_plural(
        "The farm welcomes a limited number of visitors each day: {remaining} place left that "
        "day; you asked for {requested}.",
        "The farm welcomes a limited number of visitors each day: {remaining} places left that "
        "day; you asked for {requested}.",
    )


class CannotGrow(DomainError):
    kind = ErrorKind.CONFLICT
    code = "cannot_grow"
    title = N_("Not enough places left")
    message = N_plural(
        "Only {remaining} more place left for this visit: your booking can hold at most "
        "{maximum} people.",
        "Only {remaining} more places left for this visit: your booking can hold at most "
        "{maximum} people.",
    )
    counted = "remaining"


class ChangesClosed(DomainError):
    kind = ErrorKind.CONFLICT
    code = "changes_closed"
    title = N_("Too late to change online")
    message = N_("Online changes closed at {cutoff}. Please call the tourist office or the farm.")


class SlotCancelled(DomainError):
    kind = ErrorKind.CONFLICT
    code = "slot_cancelled"
    title = N_("Visit cancelled")
    message = N_("This visit has been cancelled and no longer takes bookings.")


class BookingClosed(DomainError):
    kind = ErrorKind.CONFLICT
    code = "booking_closed"
    title = N_("Bookings closed")
    message = N_("Bookings for this visit closed at {cutoff}. Please choose another date.")


class CancellationClosed(DomainError):
    kind = ErrorKind.CONFLICT
    code = "cancellation_closed"
    title = N_("Too late to cancel online")
    message = N_(
        "Online cancellation closed at {cutoff}. Please call the tourist office or the farm."
    )


class AlreadyCancelled(DomainError):
    kind = ErrorKind.CONFLICT
    code = "already_cancelled"
    title = N_("Already cancelled")
    message = N_("This booking is already cancelled.")


class PaymentUnavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    code = "payment_unavailable"
    title = N_("Online payment unavailable")
    message = N_(
        "Online payment cannot be reached right now, so nothing was booked. Please try "
        "again in a few minutes, or call the tourist office."
    )


class InvalidAmount(DomainError):
    code = "invalid_amount"
    title = N_("Invalid amount")
    message = N_("Write an amount in euros, for example 12,50.")


class RefundTooLarge(DomainError):
    code = "refund_too_large"
    title = N_("Refund too large")
    message = N_("At most {maximum} can be refunded online for this booking.")


class NothingToPay(DomainError):
    kind = ErrorKind.CONFLICT
    code = "nothing_to_pay"
    title = N_("Nothing to pay")
    message = N_("This booking has nothing left to pay.")


class PaymentMethodRefused(DomainError):
    code = "payment_method_refused"
    title = N_("Payment method not allowed here")
    message = N_("Online card payments are recorded by Stripe itself, not by hand.")


class AwaitingPayment(DomainError):
    kind = ErrorKind.CONFLICT
    code = "awaiting_payment"
    title = N_("Waiting for its payment")
    message = N_(
        "This booking is waiting for its payment. Once it is paid it can be changed; "
        "or cancel it and book again."
    )


class IdempotencyKeyReused(DomainError):
    kind = ErrorKind.CONFLICT
    code = "idempotency_key_reused"
    title = N_("Idempotency key already used")
    message = N_(
        "This Idempotency-Key was already used for a different booking request. "
        "Use a new key for a new booking."
    )


class SlotAlreadyHeld(DomainError):
    kind = ErrorKind.CONFLICT
    code = "slot_already_held"
    title = N_("The visit took place")
    message = N_("This visit has already taken place; it can no longer be cancelled.")


class SlotNotOver(DomainError):
    kind = ErrorKind.CONFLICT
    code = "slot_not_over"
    title = N_("The visit has not started yet")
    message = N_("Attendance can be recorded once the visit has started.")


class AttendanceNotAllowed(DomainError):
    kind = ErrorKind.CONFLICT
    code = "attendance_not_allowed"
    title = N_("Attendance cannot be recorded")
    message = N_("Attendance cannot be recorded for a cancelled visit.")


class InvalidAttendance(DomainError):
    code = "invalid_attendance"
    title = N_("Invalid attendance")
    message = N_("Attendance numbers cannot be negative.")


class MoreThanBooked(DomainError):
    code = "more_than_booked"
    title = N_("More people than booked")
    message = N_(
        "At most {people} for the booking of {name}. Extra visitors: please ask the tourist "
        "office to book them."
    )


class BookingOfAnotherSlot(DomainError):
    code = "booking_of_another_slot"
    title = N_("Booking of another visit")
    message = N_("Booking {reference} does not belong to this visit.")


class AttendanceLocked(DomainError):
    kind = ErrorKind.FORBIDDEN
    code = "attendance_locked"
    title = N_("Attendance locked")
    message = N_(
        "Attendance can be changed for {days} days after the visit. Please ask the tourist "
        "office to correct it."
    )


class ProviderNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "provider_not_found"
    title = N_("Unknown provider")
    message = N_("There is no provider named “{name}”.")


class UnknownLink(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "unknown_link"
    title = N_("This link does not work")
    message = N_(
        "This private link is not valid, or it has been replaced by a new one. Please ask the "
        "tourist office for your current link."
    )


class LinkAlreadyIssued(DomainError):
    kind = ErrorKind.CONFLICT
    code = "link_already_issued"
    title = N_("Link already issued")
    message = N_(
        "{name} already has a private link; it cannot be shown again. Rotate it to issue a new "
        "one (the old link stops working)."
    )


class MissingName(DomainError):
    code = "missing_name"
    title = N_("Name missing")
    message = N_("Please give the name the booking is made for.")


class MissingContact(DomainError):
    code = "missing_contact"
    title = N_("Contact missing")
    message = N_("Please give an email address or a phone number, so we can reach you.")


class InvalidEmail(DomainError):
    code = "invalid_email"
    title = N_("Invalid email address")
    message = N_("“{email}” does not look like an email address.")


class InvalidPhone(DomainError):
    code = "invalid_phone"
    title = N_("Invalid phone number")
    message = N_("“{phone}” does not look like a phone number.")


class UnsupportedLocale(DomainError):
    code = "unsupported_locale"
    title = N_("Unsupported language")
    message = N_("The language “{locale}” is not offered; choose one of: {choices}.")


class InvalidPeriod(DomainError):
    code = "invalid_period"
    title = N_("Invalid period")
    message = N_("The period must start before it ends and span at most {maximum} days.")


class LoginFailed(DomainError):
    code = "login_failed"
    title = N_("Login failed")
    message = N_("Wrong email address or password.")


class AccountLocked(DomainError):
    kind = ErrorKind.FORBIDDEN
    code = "account_locked"
    title = N_("Account locked")
    message = N_(
        "Too many failed attempts: this account is locked until {until}. Try again then, or ask "
        "an administrator."
    )


class PasswordTooShort(DomainError):
    code = "password_too_short"
    title = N_("Password too short")
    message = N_("The password needs at least {minimum} characters.")


class StaffAlreadyExists(DomainError):
    kind = ErrorKind.CONFLICT
    code = "staff_already_exists"
    title = N_("Account already exists")
    message = N_("There is already an account for {email}.")


class AdminsOnly(DomainError):
    kind = ErrorKind.FORBIDDEN
    code = "admins_only"
    title = N_("For administrators")
    message = N_("Only an administrator of the back office can do this.")


# --- resellers (the OCTO distribution API) ------------------------------------------------------


class ResellerNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "reseller_not_found"
    title = N_("Unknown reseller")
    message = N_("There is no reseller named “{name}”.")


class ResellerAlreadyExists(DomainError):
    kind = ErrorKind.CONFLICT
    code = "reseller_already_exists"
    title = N_("Reseller already exists")
    message = N_(
        "The reseller “{name}” already has a key; it cannot be shown again. Revoke it first to "
        "issue a new one."
    )


class ResellerAlreadyRevoked(DomainError):
    kind = ErrorKind.CONFLICT
    code = "reseller_already_revoked"
    title = N_("Key already revoked")
    message = N_(
        "The key of “{name}” is already revoked; making a key for it again gives a new one."
    )


class ResellerBookingNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "reseller_booking_not_found"
    title = N_("Unknown booking")
    message = N_("This reseller has no booking with the UUID {uuid}.")


class HoldEnded(DomainError):
    kind = ErrorKind.CONFLICT
    code = "hold_ended"
    title = N_("The hold has ended")
    message = N_("This booking is no longer on hold: it is {status}.")


class ChildWithoutAdult(DomainError):
    code = "child_without_adult"
    title = N_("A child needs an adult")
    message = N_("Children visit with an adult: add at least one adult to the booking.")


class InvalidHoldLength(DomainError):
    code = "invalid_hold_length"
    title = N_("Invalid hold")
    message = N_("A hold lasts from 1 to {maximum} minutes.")


class NameTooLong(DomainError):
    code = "name_too_long"
    title = N_("Name too long")
    message = N_("The name is too long: at most {maximum} characters.")
