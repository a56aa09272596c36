"""The printable programme's content: a sector's fortnight, by day, every text ready to print in
French (the office prints it in French whatever the language of the screen), for the HTML print
view (``programme``) and the PDF (``programme_pdf``) alike."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby

from babel.dates import format_date

from reservations import i18n
from reservations.base.models import ActivityKind, SlotStatus
from reservations.base.reads.public_programme import ProgrammeEntry
from reservations.notices.words import price_text
from reservations.settings import Settings
from reservations.web.links import visit_url

#: Days in a printed programme.
DAYS = 14

#: The programme's own texts, in French (see the module's docstring).
TITLE = "Visites de fermes et animations"
KINDS = {ActivityKind.FARM_VISIT: "Visite de ferme", ActivityKind.ANIMATION: "Animation"}
BOOKING = "Réservation obligatoire auprès de l’office de tourisme\u00a0: {phone}, ou en ligne\u00a0: {url}"
MEETING = "Rendez-vous\u00a0: {place}"
MINIMUM = "maintenue à partir de {minimum} participants"
BOOK = "Réserver\u00a0:"
#: What replaces the booking link of a visit that takes no more bookings.
FULL = "Complet"
CANCELLED = "Annulée"
NOTHING = "Aucune visite ni animation n’est prévue dans ce secteur pendant cette quinzaine."


@dataclass(frozen=True)
class SheetEntry:
    time: str
    title: str
    #: "Visite de ferme · Ferme du Mas, Vialas"
    what: str
    #: "Rendez-vous : parking du temple", or None when the activity has no meeting point.
    meeting: str | None
    #: "Adultes 5,00 €, enfants 3,00 € · maintenue à partir de 4 participants"
    terms: str
    #: None when there is nothing to book: the visit is full or cancelled (``state`` says so).
    booking_url: str | None
    #: "Complet" or "Annulée", printed instead of the booking link; None for a visit to book.
    state: str | None = None
    book: str = BOOK

    @property
    def cancelled(self) -> bool:
        return self.state == CANCELLED


@dataclass(frozen=True)
class SheetDay:
    day: date
    heading: str
    entries: list[SheetEntry]


@dataclass(frozen=True)
class Sheet:
    """The programme of a sector and a fortnight, every text ready to print, in French."""

    title: str
    sector: str
    first_day: date
    last_day: date
    period: str
    booking: str
    days: list[SheetDay]
    empty_text: str = NOTHING

    @property
    def filename(self) -> str:
        ascii_name = unicodedata.normalize("NFKD", self.sector).encode("ascii", "ignore").decode()
        slug = "-".join("".join(c if c.isalnum() else " " for c in ascii_name.lower()).split())
        return f"programme-{slug}-{self.first_day.isoformat()}.pdf"


def french_day(day: date, *, year: bool = False) -> str:
    """ "jeudi 1er juillet", "vendredi 2 juillet 2027": the first of the month is "1er"."""
    text = format_date(day, "EEEE d MMMM" + (" y" if year else ""), locale="fr")
    if day.day == 1:
        text = text.replace(" 1 ", " 1er ", 1)
    return text


def french_period(first: date, last: date) -> str:
    """ "du jeudi 1er au mercredi 14 juillet 2027", with the months and years needed."""
    end = french_day(last, year=True)
    if first.year != last.year:
        start = french_day(first, year=True)
    elif first.month != last.month:
        start = french_day(first)
    else:
        start = french_day(first).rsplit(" ", 1)[0]
    return f"du {start} au {end}"


def build_sheet(
    entries: list[ProgrammeEntry], sector: str, first_day: date, settings: Settings
) -> Sheet:
    """The printable programme of ``entries`` (one sector, in start order), in French."""
    last_day = first_day + timedelta(days=DAYS - 1)
    with i18n.use_locale("fr"):
        days = [
            SheetDay(day, french_day(day).capitalize(), [_entry(e, settings) for e in group])
            for day, group in groupby(entries, key=lambda e: e.starts_on)
        ]
    return Sheet(
        title=TITLE,
        sector=sector,
        first_day=first_day,
        last_day=last_day,
        period=french_period(first_day, last_day).capitalize(),
        booking=BOOKING.format(phone=settings.office_phone, url=settings.public_url),
        days=days,
    )


def _entry(entry: ProgrammeEntry, settings: Settings) -> SheetEntry:
    terms = [price_text(entry.price_adult_cents, entry.price_child_cents)]
    if entry.min_participants > 1:
        terms.append(MINIMUM.format(minimum=entry.min_participants))
    state = CANCELLED if entry.status == SlotStatus.CANCELLED else FULL if entry.full else None
    return SheetEntry(
        time=f"{i18n.clock_time(entry.starts_at)} – {i18n.clock_time(entry.ends_at)}",
        title=entry.title_in("fr"),
        what=f"{KINDS[entry.kind]} · {entry.provider}, {entry.village}",
        meeting=MEETING.format(place=entry.meeting_point) if entry.meeting_point else None,
        terms=" · ".join(terms),
        booking_url=None if state else visit_url(settings.public_url, entry.id),
        state=state,
    )
