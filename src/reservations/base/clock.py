"""Time: stored in UTC, shown and reasoned about in the office's zone (Europe/Paris)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Europe/Paris")


def now() -> datetime:
    return datetime.now(UTC)


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
