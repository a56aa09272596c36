"""Write the demo seasons 2021 and 2022 of farm visits (src/reservations/demo_data/*.csv).

Deterministic (seeded): running it again writes the same files. The
totals are forced to the tourist office's published figures (2022: 18 farmers, 160 visits
planned, 76 held, 526 participants = 326 adults + 200 children; 2021: 24% fewer participants),
while the shape of the data follows what the office observed: a July-August peak, weak
Saturdays in high season (arrival and departure day), mostly cancellations for too few
bookings, some for the weather (the 2022 fire risk and storms) and a few by the farmer.

    .venv/bin/python bench/make_demo_seasons.py [--check]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from reservations.base.seeding.history import COLUMNS

OUT = Path(__file__).resolve().parents[1] / "src" / "reservations" / "demo_data"
HEADER = list(COLUMNS)  # the history import's own header: one definition of the format

ML, VF, VLC = "Mont Lozère", "Vallée Française", "Vallée Longue et Calbertois"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@dataclass(frozen=True)
class Farm:
    key: str
    name: str
    village: str
    sector: str
    activity: str
    capacity: int
    minimum: int
    weekdays: tuple[int, ...]
    start: str  # local HH:MM
    minutes: int
    popularity: float
    months: tuple[int, ...] = (4, 5, 6, 7, 8, 9, 10)
    #: Share of children among visitors (families with young children favour animals).
    children: float = 0.38


FARMS = [
    Farm(
        "barthe",
        "Chèvrerie du Mas de la Barthe",
        "Saint-Germain-de-Calberte",
        VLC,
        "Visite de la chèvrerie et dégustation de pélardon",
        15,
        4,
        (TUE, FRI),
        "10:00",
        120,
        1.35,
        children=0.42,
    ),
    Farm(
        "abeille",
        "Les ruchers de l'Abeille noire",
        "Saint-Andéol-de-Clerguemort",
        ML,
        "Au cœur de la ruche",
        10,
        3,
        (WED, SAT),
        "14:30",
        90,
        1.2,
        children=0.45,
    ),
    Farm(
        "grizac",
        "Ferme du Mas de Grizac",
        "Le Pont de Montvert",
        ML,
        "Brebis et transhumance au Mont Lozère",
        20,
        5,
        (THU,),
        "10:00",
        120,
        1.0,
    ),
    Farm(
        "fontmort",
        "Châtaigneraie de Fontmort",
        "Saint-Étienne-Vallée-Française",
        VF,
        "Châtaignes, clède et farine",
        18,
        4,
        (MON,),
        "16:00",
        90,
        0.85,
        children=0.33,
    ),
    Farm(
        "hermet",
        "Ferme de l'Hermet",
        "Vialas",
        ML,
        "Vaches Aubrac et foin de montagne",
        25,
        6,
        (TUE,),
        "10:00",
        120,
        0.75,
    ),
    Farm(
        "berthel",
        "Chèvrerie de la Croix de Berthel",
        "Saint-Maurice-de-Ventalon",
        ML,
        "Traite des chèvres et pélardon",
        12,
        4,
        (MON, THU),
        "17:30",
        90,
        1.0,
        children=0.40,
    ),
    Farm(
        "vergers",
        "Vergers de la Vallée Longue",
        "Saint-Privat-de-Vallongue",
        VLC,
        "Pommes reinettes et jus de pomme",
        20,
        5,
        (FRI,),
        "14:30",
        90,
        0.8,
        months=(5, 6, 7, 8, 9, 10),
        children=0.35,
    ),
    Farm(
        "baume",
        "Ferme du Mas de la Baume",
        "Sainte-Croix-Vallée-Française",
        VF,
        "Chèvres de la Vallée Française",
        15,
        4,
        (WED, SAT),
        "10:00",
        90,
        1.1,
        children=0.42,
    ),
    Farm(
        "bouges",
        "Les ruchers du Bougès",
        "Cassagnas",
        VLC,
        "Miel de châtaignier et abeilles",
        10,
        3,
        (THU,),
        "15:00",
        90,
        0.9,
        children=0.40,
    ),
    Farm(
        "fonts",
        "Bergerie des Fonts",
        "Fraissinet-de-Lozère",
        ML,
        "Moutons, laine et chiens de berger",
        16,
        4,
        (WED,),
        "10:00",
        120,
        0.95,
    ),
    Farm(
        "anes",
        "Ferme des Ânes de la Vallée",
        "Moissac-Vallée-Française",
        VF,
        "Balade avec les ânes",
        14,
        4,
        (WED, SAT),
        "10:00",
        120,
        1.45,
        children=0.48,
    ),
    Farm(
        "escargots",
        "L'escargotière de la Dèze",
        "Le Collet de Dèze",
        VLC,
        "Élevage d'escargots",
        20,
        5,
        (MON,),
        "10:30",
        90,
        0.7,
        months=(5, 6, 7, 8, 9),
        children=0.40,
    ),
    Farm(
        "safran",
        "Safran et simples de Lansuscle",
        "Saint-Martin-de-Lansuscle",
        VLC,
        "Safran et plantes aromatiques",
        10,
        3,
        (FRI,),
        "10:00",
        90,
        0.65,
        months=(6, 7, 8, 9, 10),
        children=0.25,
    ),
    Farm(
        "coste",
        "Ferme du Mas de la Coste",
        "Le Pompidou",
        VF,
        "Porcs de plein air et charcuterie",
        18,
        5,
        (TUE,),
        "16:00",
        90,
        0.7,
        children=0.30,
    ),
    Farm(
        "lavit",
        "Chèvrerie de Lavit",
        "Saint-Hilaire-de-Lavit",
        VLC,
        "Chevreaux et fromages fermiers",
        12,
        4,
        (THU,),
        "10:00",
        90,
        0.9,
        children=0.42,
    ),
    Farm(
        "bastides",
        "La Ferme des Bastides",
        "Saint-Michel-de-Dèze",
        VLC,
        "Poules, œufs et potager",
        15,
        3,
        (FRI,),
        "16:30",
        90,
        0.85,
        children=0.50,
    ),
    Farm(
        "sources",
        "Pisciculture des Sources du Tarn",
        "Le Pont de Montvert",
        ML,
        "Truites du Tarn",
        20,
        5,
        (MON,),
        "14:30",
        90,
        0.8,
        months=(5, 6, 7, 8, 9),
    ),
    Farm(
        "ventalon",
        "Les ruchers de Ventalon",
        "Saint-Frézal-de-Ventalon",
        ML,
        "Ruches et miel de bruyère",
        10,
        3,
        (TUE,),
        "15:00",
        90,
        0.75,
        months=(5, 6, 7, 8, 9),
        children=0.40,
    ),
    # Farms of 2021 that did not take part again in 2022.
    Farm(
        "aire",
        "Ferme du Mas de l'Aire",
        "Saint-Julien-des-Points",
        VLC,
        "Vaches et fromage frais",
        12,
        4,
        (TUE,),
        "10:00",
        90,
        0.7,
        children=0.36,
    ),
    Farm(
        "finiels",
        "Bergerie de Finiels",
        "Le Pont de Montvert",
        ML,
        "Bergers du Mont Lozère",
        20,
        6,
        (SAT,),
        "10:00",
        120,
        0.7,
        months=(6, 7, 8, 9),
    ),
    Farm(
        "viala",
        "Les jardins du Viala",
        "Vialas",
        ML,
        "Potager en terrasses",
        12,
        3,
        (WED,),
        "17:00",
        90,
        0.6,
        months=(6, 7, 8, 9),
    ),
]


@dataclass(frozen=True)
class Season:
    year: int
    seed: int
    farms: tuple[str, ...]
    #: Visits planned per month; the sum is the season's planned visits.
    per_month: dict[int, int]
    held: int
    adults: int
    children: int
    first_day: date
    #: Days when visits were called off for the weather (fire risk, storms, heat).
    weather_days: tuple[date, ...]
    provider_cancellations: int


SEASONS = [
    Season(
        2021,
        2021,
        (
            "barthe",
            "abeille",
            "grizac",
            "fontmort",
            "hermet",
            "berthel",
            "vergers",
            "baume",
            "bouges",
            "fonts",
            "anes",
            "escargots",
            "aire",
            "finiels",
            "viala",
        ),
        {5: 6, 6: 16, 7: 40, 8: 42, 9: 16, 10: 12},
        held=60,
        adults=263,
        children=161,
        first_day=date(2021, 5, 19),  # cafés and sites reopened after the lockdown
        weather_days=(date(2021, 7, 15), date(2021, 8, 9), date(2021, 9, 14)),
        provider_cancellations=3,
    ),
    Season(
        2022,
        2022,
        (
            "barthe",
            "abeille",
            "grizac",
            "fontmort",
            "hermet",
            "berthel",
            "vergers",
            "baume",
            "bouges",
            "fonts",
            "anes",
            "escargots",
            "safran",
            "coste",
            "lavit",
            "bastides",
            "sources",
            "ventalon",
        ),
        {4: 10, 5: 14, 6: 18, 7: 44, 8: 46, 9: 16, 10: 12},
        held=76,
        adults=326,
        children=200,
        first_day=date(2022, 4, 11),
        # Heat wave and very high fire risk (forest access closed), then the mid-August storms.
        weather_days=(
            date(2022, 6, 17),
            date(2022, 7, 18),
            date(2022, 7, 19),
            date(2022, 8, 4),
            date(2022, 8, 16),
            date(2022, 8, 17),
        ),
        provider_cancellations=4,
    ),
]

MONTH_DEMAND = {4: 0.6, 5: 0.6, 6: 0.7, 7: 1.35, 8: 1.45, 9: 0.7, 10: 0.55}
WEEKDAY_DEMAND = {MON: 1.0, TUE: 1.1, WED: 1.2, THU: 1.05, FRI: 0.9, SAT: 0.8, SUN: 0.7}
HIGH_SEASON_SATURDAY = 0.3  # changeover day: people arrive or leave


@dataclass
class Visit:
    farm: Farm
    day: date
    score: float = 0.0
    outcome: str = ""
    booked: tuple[int, int] = (0, 0)
    attended: tuple[int, int] = (0, 0)


def _demand(farm: Farm, day: date, rng: random.Random) -> float:
    weekday = WEEKDAY_DEMAND[day.weekday()]
    if day.weekday() == SAT and day.month in (7, 8):
        weekday = HIGH_SEASON_SATURDAY
    month = MONTH_DEMAND[day.month]
    if day.month == 10 and day.day >= 22:
        month = 0.9  # the All Saints' holidays
    return farm.popularity * month * weekday * rng.lognormvariate(0, 0.35)


def _plan(season: Season, farms: list[Farm], rng: random.Random) -> list[Visit]:
    visits: list[Visit] = []
    for month, quota in sorted(season.per_month.items()):
        candidates = [
            Visit(farm, day)
            for farm in farms
            if month in farm.months
            for day in _days_of(season.year, month, season.first_day)
            if day.weekday() in farm.weekdays
        ]
        visits += rng.sample(candidates, quota)
    missing = {f.key for f in farms} - {v.farm.key for v in visits}
    assert not missing, f"{season.year}: farms without any visit: {missing}"
    return sorted(visits, key=lambda v: (v.day, v.farm.start, v.farm.name))


def _days_of(year: int, month: int, first_day: date) -> list[date]:
    day = max(date(year, month, 1), first_day)
    days = []
    while day.month == month:
        days.append(day)
        day += timedelta(days=1)
    return days


def _decide(season: Season, visits: list[Visit], rng: random.Random) -> None:
    """Weather and farmer cancellations first, then the best-booked visits are the held ones."""
    for visit in visits:
        visit.score = _demand(visit.farm, visit.day, rng)
        if visit.day in season.weather_days:
            visit.outcome = "cancelled_weather"
    others = [v for v in visits if not v.outcome]
    for visit in rng.sample(others, season.provider_cancellations):
        visit.outcome = "cancelled_provider"
    left = sorted((v for v in visits if not v.outcome), key=lambda v: -v.score)
    for rank, visit in enumerate(left):
        visit.outcome = "held" if rank < season.held else "cancelled_under_minimum"


def _spread(total: int, weights: list[float], low: list[int], high: list[int]) -> list[int]:
    """Integers within [low, high] summing to ``total``, roughly proportional to ``weights``."""
    assert sum(low) <= total <= sum(high)
    scale = total / sum(weights)
    bounds = zip(weights, low, high, strict=True)
    shares = [min(max(round(w * scale), lo), hi) for w, lo, hi in bounds]
    order = sorted(range(len(weights)), key=lambda i: -weights[i])
    while (gap := total - sum(shares)) != 0:
        step = 1 if gap > 0 else -1
        for i in order if step > 0 else reversed(order):
            if low[i] <= shares[i] + step <= high[i]:
                shares[i] += step
                if (gap := gap - step) == 0:
                    break
    return shares


def _split(people: int, share: float, rng: random.Random) -> int:
    """Children among ``people``: at least one adult, a family-like share of children."""
    children = round(people * min(max(rng.gauss(share, 0.12), 0.0), 0.7))
    return min(children, people - 1)


def _fill_held(season: Season, held: list[Visit], rng: random.Random) -> None:
    caps = [v.farm.capacity for v in held]
    low = [max(v.farm.minimum - 1, 2) for v in held]
    people = _spread(season.adults + season.children, [v.score for v in held], low, caps)
    children = [_split(p, v.farm.children, rng) for p, v in zip(people, held, strict=True)]
    # Nudge children to the published total, never leaving a visit without an adult.
    while (gap := season.children - sum(children)) != 0:
        i = rng.randrange(len(held))
        if gap > 0 and children[i] < people[i] - 1:
            children[i] += 1
        elif gap < 0 and children[i] > 0:
            children[i] -= 1
    for visit, total, kids in zip(held, people, children, strict=True):
        visit.attended = (total - kids, kids)
        visit.booked = _booked_for(visit, total, kids, rng)


def _booked_for(visit: Visit, total: int, kids: int, rng: random.Random) -> tuple[int, int]:
    """Usually a no-show or two; now and then a walk-in; always at least the minimum."""
    roll = rng.random()
    delta = 0 if roll < 0.55 else (1 if roll < 0.78 else (2 if roll < 0.88 else -1))
    booked = min(max(total + delta, visit.farm.minimum), visit.farm.capacity)
    booked_kids = min(max(kids + (delta > 1), 0), booked - 1)
    return booked - booked_kids, booked_kids


def _fill_cancelled(visit: Visit, rng: random.Random) -> None:
    farm = visit.farm
    if visit.outcome == "cancelled_under_minimum":
        booked = min(int(visit.score * farm.minimum), farm.minimum - 1)
        booked = max(booked - (rng.random() < 0.3), 0)
    else:  # weather or the farmer: as booked as any visit of that day
        booked = min(max(round(visit.score * 6), 0), farm.capacity)
    kids = 0 if booked < 2 else _split(booked, farm.children, rng)
    visit.booked = (booked - kids, kids)


def build(season: Season) -> list[list[str]]:
    rng = random.Random(season.seed)
    farms = [next(f for f in FARMS if f.key == key) for key in season.farms]
    visits = _plan(season, farms, rng)
    _decide(season, visits, rng)
    _fill_held(season, [v for v in visits if v.outcome == "held"], rng)
    for visit in visits:
        if visit.outcome != "held":
            _fill_cancelled(visit, rng)
    return [_row(v) for v in visits]


def _row(visit: Visit) -> list[str]:
    farm = visit.farm
    hours, minutes = map(int, farm.start.split(":"))
    end = hours * 60 + minutes + farm.minutes
    return [
        visit.day.isoformat(),
        farm.start,
        f"{end // 60:02d}:{end % 60:02d}",
        farm.name,
        farm.village,
        farm.sector,
        farm.activity,
        "farm_visit",
        str(farm.capacity),
        str(farm.minimum),
        visit.outcome,
        *map(str, visit.booked),
        *map(str, visit.attended),
    ]


def render(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def summary(rows: list[list[str]]) -> str:
    held = [r for r in rows if r[10] == "held"]
    adults = sum(int(r[13]) for r in held)
    children = sum(int(r[14]) for r in held)
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r[10]] = outcomes.get(r[10], 0) + 1
    return (
        f"{len({r[3] for r in rows})} farms, {len(rows)} planned, {len(held)} held, "
        f"{adults} adults + {children} children = {adults + children}; {outcomes}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are not current")
    args = parser.parse_args()
    stale = False
    for season in SEASONS:
        rows = build(season)
        text = render(rows)
        path = OUT / f"season_{season.year}.csv"
        print(f"{path.name}: {summary(rows)}")
        if args.check:
            stale |= not path.exists() or path.read_text(encoding="utf-8") != text
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("the demo CSV files differ from what this script writes", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
