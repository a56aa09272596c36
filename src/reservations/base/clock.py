"""Time: stored in UTC, shown and reasoned about in the office's zone (Europe/Paris)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Europe/Paris")

#: Where a rule reads the time from. A rule that depends on a deadline (a cut-off, an offer's
#: end) reads it inside its writing transaction, after its locks, so that a request begun before
#: the deadline and committing after it is refused.
Clock = Callable[[], datetime]
#: What a rule is given as its time: None (the real clock), a clock (tests, a request that
#: carries its own), or an instant it acts at (a batch, a test pinning the time).
At = datetime | Clock | None


def now() -> datetime:
    return datetime.now(UTC)


def reader(at: At) -> Clock:
    """The clock a rule reads ``at`` from: the real one, the one given, or a pinned instant."""
    if at is None:
        return now
    if isinstance(at, datetime):
        return lambda: at
    return at


def local_datetime(day: date, at: time) -> datetime:
    """The UTC instant of a wall-clock time in the office's zone (DST handled by zoneinfo)."""
    return datetime.combine(day, at, tzinfo=OFFICE_TZ).astimezone(UTC)


def local_date(instant: datetime) -> date:
    return instant.astimezone(OFFICE_TZ).date()


def today() -> date:
    return local_date(now())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where a local day starts and the next one starts."""
    return local_datetime(day, time(0)), local_datetime(day + timedelta(days=1), time(0))


def display(instant: datetime) -> str:
    """A plain, language-neutral rendering for messages: ``2026-07-12 18:00 (Paris time)``."""
    return instant.astimezone(OFFICE_TZ).strftime("%Y-%m-%d %H:%M") + " (Paris time)"


def utc_stamp(instant: datetime) -> str:
    """An instant as machines exchange it: UTC to the second, ``2026-07-12T16:00:00Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_stamp(instant: datetime) -> str:
    """An instant in the office's zone with its offset, ``2026-07-12T18:00:00+02:00``."""
    return instant.astimezone(OFFICE_TZ).replace(microsecond=0).isoformat()
