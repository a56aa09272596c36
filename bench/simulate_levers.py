"""What the levers may bring to the held rate: a simulation of the 2021 and 2022 demo seasons.

An estimate, not a promise. The two past seasons (``src/reservations/demo_data``) are imported
by the real import (``reservations.base.seeding.history``) into a temporary SQLite database, a
demand model is fitted to them, and each season is replayed many times with the same slots,
minimums and capacities as it was planned:

- **no levers**: the model alone; its held rate is printed beside the history's, which
  validates the model (the calibration);
- **advice**: each slot in a weak weekday x sector cell is moved to the better day the real
  ``advise_dates`` proposes (within three days, inside the season), with the cells of the OTHER
  season's history (2022 advised by 2021, as the office could have; 2021 by 2022, as if the
  seasons had come the other way round): the advice is never judged on the season it learnt
  from. The moved slot gets the demand of its new day;
- **consolidation**: at the decision time of a slot under its minimum, a later slot of the same
  activity at most ``--window`` days away, also under its minimum with the bookings it has by
  then, and with room for both slots' people, is merged with it: each party of the slot
  decided first accepts the move with probability p (0.6; 0.3 and 0.9 shown), the first slot
  is cancelled, the later one keeps taking bookings and is decided with the movers (a variant
  takes the partner among every farm of the sector);
- **help notice**: while a visit is under its minimum ("N more people and it takes place"),
  share links and the notice bring extra bookings: +15 % of the demand that arrives while the
  notice shows (5 % and 30 % shown).

The model (README, "What the levers may bring"):

  people booked by the decision on a slot ~ sum of the party sizes of N parties,
  N ~ Poisson(G * mu / E[S]), G ~ Gamma(shape b, scale 1/b) (the slot's own luck, mean 1),
  mu = B * Y[year] * W[weekday] * M[month] * S[sector] * A[activity] * C[weekday, sector, month]

Each factor is the maximum a posteriori of a Poisson model with a gamma prior of mode 1 and
strength k people: factor = (people seen + k) / (people expected without it + k), fitted by
coordinate ascent; k is the people of two average slots, so a cell seen on a couple of slots is
pulled halfway back to what its weekday, month, sector and activity say. b comes from the
variance the Poisson-of-parties does not explain (moments). The CSV holds totals per visit,
neither parties nor booking dates: the party-size distribution and the lead time (exponential,
mean 10 days before the decision) are assumptions, written down in PARTY_SIZES and LEAD_DAYS.
Visits called off for the weather or by the farmer stay called off in every replay.

    .venv/bin/python bench/simulate_levers.py [--runs 2000] [--seed 12] [--window 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.infra import db as db_module
from reservations.base.infra.db import Database
from reservations.base.models import Activity, Booking, CancelReason, Provider, Slot, SlotStatus
from reservations.base.reads.advice import Advice, advise_dates, planning_advice
from reservations.base.seeding.history import import_history

SEASONS = (2021, 2022)
#: Assumed: the CSV has totals per visit only. Families and couples, now and then a lone
#: walker or a group of friends (mean 2.71 people).
PARTY_SIZES = {1: 0.15, 2: 0.40, 3: 0.17, 4: 0.18, 5: 0.07, 6: 0.03}
#: Assumed: days between a booking and the visit's decision, exponential with this mean (the
#: import dates every booking at the decision: the CSV has no booking dates). It only matters
#: for consolidation (what the later slot holds when the first one is decided).
LEAD_DAYS = 10.0
LEAD_DAYS_MAX = 120.0
#: The prior strength of every factor, in slots of average demand.
PRIOR_SLOTS = 2.0
CONSOLIDATION_WINDOW_DAYS = 7
ACCEPT_P = 0.6
HELP_UPLIFT = 0.15
ACCEPT_SENSITIVITY = (0.3, 0.9)
HELP_SENSITIVITY = (0.05, 0.30)
#: Factors of the demand model, each a function of a slot.
FACTORS = ("year", "weekday", "month", "sector", "activity", "cell")


# --- The history, through the real import -----------------------------------------------------


@dataclass(frozen=True)
class PastSlot:
    """A slot of the history as the import stored it."""

    id: int
    activity: str  # provider / activity
    sector: str
    starts_at: datetime
    decision_at: datetime
    capacity: int
    minimum: int
    #: "held", "under_minimum", or another cancel reason (weather, farmer...): not demand's doing.
    outcome: str
    booked: int

    @property
    def day(self) -> date:
        return clock.local_date(self.starts_at)

    @property
    def year(self) -> int:
        return self.day.year

    @property
    def by_bookings(self) -> bool:
        """Decided by its bookings (held, or cancelled under its minimum)."""
        return self.outcome in ("held", CancelReason.UNDER_MINIMUM.value)

    def keys(self, day: date | None = None) -> dict[str, object]:
        """The level of each factor of the model, on ``day`` (default: its own)."""
        day = day or self.day
        weekday, month = day.isoweekday(), day.month
        return {
            "year": self.year,
            "weekday": weekday,
            "month": month,
            "sector": self.sector,
            "activity": self.activity,
            "cell": (weekday, self.sector, month),
        }


@dataclass(frozen=True)
class History:
    slots: dict[int, list[PastSlot]]  # by season
    #: The advice each season is replayed with: the real ``planning_advice`` of the other season.
    advice: dict[int, Advice]


def demo_files() -> dict[int, Path]:
    folder = resources.files("reservations.demo_data")
    return {year: Path(str(folder / f"season_{year}.csv")) for year in SEASONS}


async def load_into(db: Database) -> History:
    """Both demo seasons imported into ``db`` (migrated, empty) by the real import, read back
    with the real advice of each season's history."""
    files = demo_files()
    # 2022 first: the advice of its history alone is what 2021 is replayed with.
    await import_history(db, files[2022], actor="simulation")
    advice_2021 = await planning_advice(db, 2023)
    await import_history(db, files[2021], actor="simulation")
    advice_2022 = await planning_advice(db, 2022)
    people = (
        select(Booking.slot_id, func.sum(Booking.adults + Booking.children).label("people"))
        .group_by(Booking.slot_id)
        .subquery()
    )
    query = (
        select(
            Slot.id,
            Slot.starts_at,
            Slot.decision_at,
            Slot.capacity,
            Slot.min_participants,
            Slot.status,
            Slot.cancel_reason,
            Activity.name,
            Provider.name.label("provider"),
            Provider.sector,
            func.coalesce(people.c.people, 0).label("booked"),
        )
        .join(Activity, Activity.id == Slot.activity_id)
        .join(Provider, Provider.id == Activity.provider_id)
        .outerjoin(people, people.c.slot_id == Slot.id)
        .order_by(Slot.starts_at, Slot.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    slots: dict[int, list[PastSlot]] = {year: [] for year in SEASONS}
    for row in rows:
        held = SlotStatus(row.status) == SlotStatus.HELD
        slot = PastSlot(
            id=row.id,
            activity=f"{row.provider} / {row.name}",
            sector=row.sector,
            starts_at=row.starts_at,
            decision_at=row.decision_at,
            capacity=row.capacity,
            minimum=row.min_participants,
            outcome="held" if held else CancelReason(row.cancel_reason).value,
            booked=int(row.booked),
        )
        slots[slot.year].append(slot)
    return History(slots, {2021: advice_2021, 2022: advice_2022})


def load_history() -> History:
    """Both demo seasons, imported into a temporary SQLite database (gone afterwards)."""
    with tempfile.TemporaryDirectory(prefix="reservations-simulation-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'history.sqlite3'}"
        db_module.upgrade(url)
        return asyncio.run(_load(url))


async def _load(url: str) -> History:
    db = Database(url, null_pool=True)
    try:
        return await load_into(db)
    finally:
        await db.dispose()


# --- The demand model -------------------------------------------------------------------------


def party_moments(sizes: dict[int, float] = PARTY_SIZES) -> tuple[float, float]:
    """E[S] and E[S^2] of the party size."""
    total = sum(sizes.values())
    mean = sum(size * weight for size, weight in sizes.items()) / total
    square = sum(size * size * weight for size, weight in sizes.items()) / total
    return mean, square


@dataclass
class DemandModel:
    base: float
    factors: dict[str, dict[object, float]]
    #: Shape (and inverse variance) of the slot's own luck G; math.inf: none beyond Poisson.
    luck_shape: float
    prior_people: float
    slots_fitted: int
    #: People booked per visit in the data fitted.
    seen_mean: float
    #: The party-size distribution (assumed) the model's parties are drawn from.
    sizes: dict[int, float]

    def mean(self, slot: PastSlot, day: date | None = None) -> float:
        """Expected people booked by the decision on ``slot`` if it were on ``day``."""
        value = self.base
        for name, level in slot.keys(day).items():
            value *= self.factors[name].get(level, 1.0)
        return value

    @classmethod
    def fit(
        cls,
        slots: Sequence[PastSlot],
        *,
        prior_slots: float = PRIOR_SLOTS,
        sizes: dict[int, float] = PARTY_SIZES,
        rounds: int = 200,
    ) -> DemandModel:
        """Fitted on the slots decided by their bookings (the others were called off before
        their bookings were all in)."""
        data = [(slot.keys(), slot.booked) for slot in slots if slot.by_bookings]
        seen = sum(people for _, people in data)
        base = seen / len(data)
        k = prior_slots * base
        factors: dict[str, dict[object, float]] = {name: {} for name in FACTORS}
        for keys, _ in data:
            for name in FACTORS:
                factors[name][keys[name]] = 1.0
        for _ in range(rounds):
            largest_step = 0.0
            for name in FACTORS:
                observed: dict[object, float] = defaultdict(float)
                expected: dict[object, float] = defaultdict(float)
                for keys, people in data:
                    without = base
                    for other in FACTORS:
                        if other != name:
                            without *= factors[other][keys[other]]
                    observed[keys[name]] += people
                    expected[keys[name]] += without
                for level in factors[name]:
                    new = (observed[level] + k) / (expected[level] + k)
                    largest_step = max(largest_step, abs(new - factors[name][level]))
                    factors[name][level] = new
            fitted = sum(cls._product(base, factors, keys) for keys, _ in data)
            base *= seen / fitted
            if largest_step < 1e-9:
                break
        means = [cls._product(base, factors, keys) for keys, _ in data]
        size_mean, size_square = party_moments(sizes)
        dispersion = size_square / size_mean  # variance / mean of a Poisson sum of parties
        excess = sum(
            (people - mu) ** 2 - dispersion * mu
            for (_, people), mu in zip(data, means, strict=True)
        )
        excess /= sum(mu * mu for mu in means)
        luck_shape = 1.0 / excess if excess > 0 else math.inf
        return cls(base, factors, luck_shape, k, len(data), seen / len(data), dict(sizes))

    @staticmethod
    def _product(base: float, factors: dict[str, dict[object, float]], keys: dict) -> float:
        value = base
        for name in FACTORS:
            value *= factors[name][keys[name]]
        return value


# --- The replays ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    advice: bool = False
    accept_p: float | None = None  # None: no consolidation
    help_uplift: float = 0.0
    window_days: int = CONSOLIDATION_WINDOW_DAYS
    #: Consolidation partners: slots of the same "activity", or of any farm of the "sector".
    partners: str = "activity"
    sensitivity: bool = False


def scenarios(window_days: int = CONSOLIDATION_WINDOW_DAYS) -> list[Scenario]:
    window = {"window_days": window_days}
    return [
        Scenario("no levers"),
        Scenario("advice (better days)", advice=True),
        Scenario(f"consolidation, p = {ACCEPT_P}", accept_p=ACCEPT_P, **window),
        *(
            Scenario(f"sensitivity: p = {p}", accept_p=p, sensitivity=True, **window)
            for p in ACCEPT_SENSITIVITY
        ),
        Scenario(
            "variant: any farm of the sector",
            accept_p=ACCEPT_P,
            partners="sector",
            sensitivity=True,
            **window,
        ),
        Scenario(f"help notice, +{HELP_UPLIFT:.0%}", help_uplift=HELP_UPLIFT),
        *(
            Scenario(f"sensitivity: +{u:.0%}", help_uplift=u, sensitivity=True)
            for u in HELP_SENSITIVITY
        ),
        Scenario(
            "all three levers",
            advice=True,
            accept_p=ACCEPT_P,
            help_uplift=HELP_UPLIFT,
            **window,
        ),
    ]


@dataclass(frozen=True)
class Planned:
    """A slot as a replay plans it: on its own day, or on the better day the advice proposes."""

    past: PastSlot
    day: date
    decision: float  # days since 1970, the decision time (moved with the day)
    mean: float  # expected people by the decision
    called_off: bool  # for the weather or by the farmer, in the history


def _days(instant: datetime) -> float:
    return instant.timestamp() / 86400.0


def advised_days(slots: Sequence[PastSlot], advice: Advice) -> dict[int, date]:
    """Slot id -> the better day the real ``advise_dates`` proposes, for slots it moves.

    The plan of each activity is its dates of the season (all of them, so no better day falls
    on one of its own dates); the period is the season's first to last visit."""
    period = (min(s.day for s in slots), max(s.day for s in slots))
    by_activity: dict[str, list[PastSlot]] = defaultdict(list)
    for slot in slots:
        by_activity[slot.activity].append(slot)
    moved: dict[int, date] = {}
    for activity_slots in by_activity.values():
        sector = activity_slots[0].sector
        judged = advise_dates(advice, sector, [s.starts_at for s in activity_slots], period)
        for slot, advised in zip(activity_slots, judged, strict=True):
            if advised.better_day is not None:
                moved[slot.id] = advised.better_day
    return moved


def plan(
    slots: Sequence[PastSlot],
    model: DemandModel,
    moved: dict[int, date],
    *,
    scale: float = 1.0,
    keep_called_off: bool = True,
) -> list[Planned]:
    planned = []
    for slot in slots:
        day = moved.get(slot.id, slot.day)
        shift = timedelta(days=(day - slot.day).days)
        planned.append(
            Planned(
                past=slot,
                day=day,
                decision=_days(slot.decision_at + shift),
                mean=scale * model.mean(slot, day),
                called_off=keep_called_off and not slot.by_bookings,
            )
        )
    return planned


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean < 30:
        limit, count, product = math.exp(-mean), 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))  # normal approximation


#: A party that may book: (lead days before the decision, size, mark v, acceptance draw).
Party = tuple[float, int, float, float]


@dataclass(frozen=True)
class Pools:
    """One replication's would-be bookings of every slot, shared by every scenario (common
    random numbers): a marked Poisson process drawn at the highest rate any scenario needs,
    each scenario keeping the parties whose mark v falls under its own rate (thinning)."""

    parties: list[list[Party]]
    #: Per slot, the rate the pool was drawn at, as a multiple of the slot's own mean.
    top: list[float]


def draw(
    rng: random.Random,
    own: Sequence[Planned],
    advised: Sequence[Planned],
    model: DemandModel,
    max_uplift: float,
) -> Pools:
    sizes = model.sizes
    size_mean, _ = party_moments(sizes)
    values = list(sizes)
    cumulative = list(itertools.accumulate(sizes[v] for v in values))
    total = cumulative[-1]
    parties, top = [], []
    for slot, moved in zip(own, advised, strict=True):
        ratio = moved.mean / slot.mean if slot.mean > 0 else 1.0
        highest = max(1.0, ratio) * (1.0 + max_uplift)
        luck = (
            1.0
            if math.isinf(model.luck_shape)
            else rng.gammavariate(model.luck_shape, 1.0 / model.luck_shape)
        )
        count = _poisson(rng, luck * highest * slot.mean / size_mean)
        pool = [
            (
                min(rng.expovariate(1.0 / LEAD_DAYS), LEAD_DAYS_MAX),
                values[bisect.bisect_right(cumulative, rng.random() * total)],
                rng.random(),
                rng.random(),
            )
            for _ in range(count)
        ]
        pool.sort(reverse=True)  # earliest booking first
        parties.append(pool)
        top.append(highest)
    return Pools(parties, top)


@dataclass
class SlotResult:
    held: bool
    booked: int
    capacity: int
    merged_into: int | None = None  # index of the slot its visitors were invited to


def _fill(
    pool: list[Party],
    start: int,
    stop: int,
    base: float,
    ceiling: float,
    minimum: int,
    capacity: int,
    booked: int,
    taken: list[Party] | None = None,
) -> int:
    """Parties ``start:stop`` of the pool book in turn: those under the base rate always, those
    of the help notice's extra rate only while the slot is under its minimum; a party that
    does not fit is turned away."""
    for index in range(start, stop):
        party = pool[index]
        mark = party[2]
        if (mark < base or (mark < ceiling and booked < minimum)) and (
            booked + party[1] <= capacity
        ):
            booked += party[1]
            if taken is not None:
                taken.append(party)
    return booked


def neighbours(planned: Sequence[Planned], scenario: Scenario) -> list[list[int]]:
    """For each slot, the slots consolidation may merge it with: of the same activity (or
    sector), decided later, at most ``window_days`` away, not called off."""
    group = "activity" if scenario.partners == "activity" else "sector"
    found: list[list[int]] = []
    for here in planned:
        mine = getattr(here.past, group)
        found.append(
            [
                j
                for j, other in enumerate(planned)
                if not other.called_off
                and getattr(other.past, group) == mine
                and other.decision > here.decision
                and abs((other.day - here.day).days) <= scenario.window_days
            ]
        )
    return found


def replay(
    planned: Sequence[Planned],
    pools: Pools,
    scenario: Scenario,
    own: Sequence[Planned],
    near: list[list[int]] | None = None,
) -> list[SlotResult]:
    """One season's decisions under ``scenario``. ``planned``: the slots on the days of this
    scenario; ``own``: on their own days (the pools' reference means); ``near``: the
    ``neighbours`` of ``planned`` for this scenario (computed when not given)."""
    count = len(planned)
    rates = []
    for slot, reference, top in zip(planned, own, pools.top, strict=True):
        ratio = slot.mean / reference.mean if reference.mean > 0 else 1.0
        rates.append((ratio / top, ratio * (1.0 + scenario.help_uplift) / top))
    results: list[SlotResult | None] = [None] * count
    consolidating = scenario.accept_p is not None
    if consolidating and near is None:
        near = neighbours(planned, scenario)
    #: index -> (lead days from which the movers arrive, movers' people)
    incoming: dict[int, tuple[float, int]] = {}
    involved: set[int] = set()
    order = sorted(range(count), key=lambda i: (planned[i].decision, i))
    for i in order:
        slot = planned[i]
        past, pool = slot.past, pools.parties[i]
        if slot.called_off:
            results[i] = SlotResult(False, 0, past.capacity)
            continue
        base, ceiling = rates[i]
        taken: list[Party] | None = [] if consolidating else None
        if i in incoming:
            lead, movers = incoming[i]
            cut = _before(pool, lead)
            booked = _fill(pool, 0, cut, base, ceiling, past.minimum, past.capacity, 0)
            booked = _fill(
                pool, cut, len(pool), base, ceiling, past.minimum, past.capacity, booked + movers
            )
        else:
            booked = _fill(pool, 0, len(pool), base, ceiling, past.minimum, past.capacity, 0, taken)
        if booked >= past.minimum:
            results[i] = SlotResult(True, booked, past.capacity)
            continue
        results[i] = SlotResult(False, booked, past.capacity)
        if not consolidating or i in involved:
            continue
        assert near is not None
        partner = _partner(i, booked, planned, pools, rates, involved, near[i])
        if partner is None:
            continue
        j, lead = partner
        assert taken is not None and scenario.accept_p is not None
        movers = sum(party[1] for party in taken if party[3] < scenario.accept_p)
        incoming[j] = (lead, movers)
        involved.update((i, j))
        results[i].merged_into = j
    return [result for result in results if result is not None]


def _before(pool: list[Party], lead: float) -> int:
    """How many of the pool's parties (earliest first) book more than ``lead`` days before
    the decision."""
    index = 0
    while index < len(pool) and pool[index][0] > lead:
        index += 1
    return index


def _partner(
    i: int,
    booked: int,
    planned: Sequence[Planned],
    pools: Pools,
    rates: list[tuple[float, float]],
    involved: set[int],
    candidates: list[int],
) -> tuple[int, float] | None:
    """Of the ``candidates`` (``neighbours`` of slot ``i``) not merged yet, the one still
    under its minimum with what it holds at slot ``i``'s decision, that reaches its minimum with
    ``i``'s people and has room for them: the one holding most (nearest on a tie)."""
    here = planned[i]
    best: tuple[int, float, int] | None = None  # (people known, -days away, index)
    for j in candidates:
        if j in involved:
            continue
        other = planned[j]
        lead = other.decision - here.decision
        pool = pools.parties[j]
        base, ceiling = rates[j]
        past = other.past
        known = _fill(pool, 0, _before(pool, lead), base, ceiling, past.minimum, past.capacity, 0)
        if known >= past.minimum or not past.minimum <= known + booked <= past.capacity:
            continue
        rank = (known, -lead, j)
        if best is None or rank > best:
            best = rank
    return None if best is None else (best[2], -best[1])


# --- Many replications ------------------------------------------------------------------------


@dataclass
class Outcome:
    """A scenario over the replications of one season."""

    scenario: str
    planned: int
    held: list[int] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    #: Per slot (season order), the replications in which it was held.
    held_by_slot: list[int] = field(default_factory=list)

    def summary(self, baseline: Outcome | None) -> dict[str, object]:
        runs = len(self.held)
        rates = sorted(h / self.planned for h in self.held)
        out: dict[str, object] = {
            "scenario": self.scenario.strip(),
            "runs": runs,
            "planned": self.planned,
            "held_mean": sum(self.held) / runs,
            "held_rate_mean": sum(rates) / runs,
            "held_rate_95": [_quantile(rates, 0.025), _quantile(rates, 0.975)],
            "held_rate_standard_error": _sd(rates) / math.sqrt(runs),
            "people_mean": sum(self.people) / runs,
            "merges_mean": sum(self.merged) / runs,
        }
        if baseline is not None:
            gains = sorted(
                (a - b) / self.planned for a, b in zip(self.held, baseline.held, strict=True)
            )
            out["gain_points_mean"] = 100 * sum(gains) / runs
            out["gain_points_95"] = [
                100 * _quantile(gains, 0.025),
                100 * _quantile(gains, 0.975),
            ]
        return out


def _quantile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _sd(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def simulate_season(
    slots: Sequence[PastSlot],
    model: DemandModel,
    advice: Advice | None,
    chosen: Sequence[Scenario],
    *,
    runs: int,
    seed: int,
    scale: float = 1.0,
    keep_called_off: bool = True,
    details: list[list[SlotResult]] | None = None,
) -> list[Outcome]:
    """Every scenario of ``chosen`` over the same ``runs`` replications of the season."""
    moved = advised_days(slots, advice) if advice is not None else {}
    own = plan(slots, model, {}, scale=scale, keep_called_off=keep_called_off)
    advised = plan(slots, model, moved, scale=scale, keep_called_off=keep_called_off)
    max_uplift = max(s.help_uplift for s in chosen)
    season = slots[0].year if slots else 0
    rng = random.Random(f"{seed}:{season}")
    outcomes = [Outcome(s.name, len(slots), held_by_slot=[0] * len(slots)) for s in chosen]
    near = {
        s: neighbours(advised if s.advice else own, s) for s in chosen if s.accept_p is not None
    }
    for _ in range(runs):
        pools = draw(rng, own, advised, model, max_uplift)
        for scenario, outcome in zip(chosen, outcomes, strict=True):
            planned = advised if scenario.advice else own
            results = replay(planned, pools, scenario, own, near.get(scenario))
            outcome.held.append(sum(r.held for r in results))
            outcome.people.append(sum(r.booked for r in results if r.held))
            outcome.merged.append(sum(r.merged_into is not None for r in results))
            for index, result in enumerate(results):
                outcome.held_by_slot[index] += result.held
            if details is not None:
                details.append(results)
    return outcomes


def history_figures(slots: Sequence[PastSlot]) -> dict[str, object]:
    held = [s for s in slots if s.outcome == "held"]
    reasons: dict[str, int] = defaultdict(int)
    for slot in slots:
        reasons[slot.outcome] += 1
    return {
        "planned": len(slots),
        "held": len(held),
        "held_rate": len(held) / len(slots),
        "people": sum(s.booked for s in held),
        "outcomes": dict(sorted(reasons.items())),
    }


def model_summary(model: DemandModel) -> dict[str, object]:
    def rounded(name: str) -> dict[str, float]:
        return {str(level): round(value, 3) for level, value in sorted(model.factors[name].items())}

    size_mean, _ = party_moments(model.sizes)
    return {
        "slots_fitted": model.slots_fitted,
        "people_per_visit_seen": round(model.seen_mean, 3),
        "base_people_per_slot": round(model.base, 3),
        "prior_strength_people": round(model.prior_people, 2),
        "luck_shape": None if math.isinf(model.luck_shape) else round(model.luck_shape, 3),
        "party_sizes": model.sizes,
        "party_size_mean": round(size_mean, 3),
        "lead_days_mean": LEAD_DAYS,
        "year": rounded("year"),
        "weekday": rounded("weekday"),
        "month": rounded("month"),
        "sector": rounded("sector"),
    }


def by_weekday(slots: Sequence[PastSlot], baseline: Outcome, runs: int) -> list[dict]:
    """The calibration in detail: held visits per weekday, history against the model."""
    table: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for slot, held in zip(slots, baseline.held_by_slot, strict=True):
        row = table[slot.day.isoweekday()]
        row[0] += 1
        row[1] += slot.outcome == "held"
        row[2] += held / runs
    return [
        {"weekday": day, "planned": row[0], "held": row[1], "model_held": round(row[2], 2)}
        for day, row in sorted(table.items())
    ]


def run(runs: int, seed: int, window_days: int = CONSOLIDATION_WINDOW_DAYS) -> dict[str, object]:
    started = time.perf_counter()
    history = load_history()
    loaded = time.perf_counter()
    model = DemandModel.fit([s for year in SEASONS for s in history.slots[year]])
    chosen = scenarios(window_days)
    report: dict[str, object] = {
        "runs": runs,
        "seed": seed,
        "model": model_summary(model),
        "assumptions": {
            "accept_p": ACCEPT_P,
            "accept_p_sensitivity": list(ACCEPT_SENSITIVITY),
            "help_uplift": HELP_UPLIFT,
            "help_uplift_sensitivity": list(HELP_SENSITIVITY),
            "consolidation_window_days": window_days,
            "advice": "each season advised by the other season's history (real advise_dates)",
        },
        "seasons": {},
    }
    for year in SEASONS:
        slots = history.slots[year]
        advice = history.advice[year]
        moved = advised_days(slots, advice)
        outcomes = simulate_season(slots, model, advice, chosen, runs=runs, seed=seed)
        baseline = outcomes[0]
        report["seasons"][str(year)] = {  # type: ignore[index]
            "history": history_figures(slots),
            "advice_from": advice.history_seasons,
            "weak_cells": [
                {
                    "weekday": c.weekday,
                    "sector": c.sector,
                    "held": c.slots_held,
                    "planned": c.slots_planned,
                }
                for c in advice.weak_cells
            ],
            "slots_moved_by_advice": len(moved),
            "calibration_by_weekday": by_weekday(slots, baseline, runs),
            "scenarios": [o.summary(None if o is baseline else baseline) for o in outcomes],
        }
    report["seconds"] = {
        "import": round(loaded - started, 2),
        "total": round(time.perf_counter() - started, 2),
    }
    return report


WEEKDAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def render(report: dict) -> str:
    lines = []
    model = report["model"]
    lines.append(
        f"Demand model fitted on {model['slots_fitted']} visits decided by their bookings: "
        f"{model['people_per_visit_seen']} people booked per visit, "
        f"prior k = {model['prior_strength_people']} people, "
        + (
            "no slot luck term (parties alone spread the people as much as the data do)"
            if model["luck_shape"] is None
            else f"slot luck Gamma shape {model['luck_shape']}"
        )
        + f", parties of {model['party_size_mean']} people on average (assumed), lead time "
        f"{model['lead_days_mean']:.0f} days (assumed)."
    )
    lines.append(
        "  weekday factors: "
        + ", ".join(f"{WEEKDAY_NAMES[int(k)]} {v}" for k, v in model["weekday"].items())
    )
    lines.append("  month factors: " + ", ".join(f"{k} {v}" for k, v in model["month"].items()))
    lines.append(
        f"{report['runs']} replications per season, seed {report['seed']}. "
        "An estimate from a model of two demo seasons, not a promise."
    )
    for year, season in report["seasons"].items():
        past = season["history"]
        weak = ", ".join(
            f"{WEEKDAY_NAMES[c['weekday']]} {c['sector']} ({c['held']}/{c['planned']})"
            for c in season["weak_cells"]
        )
        lines.append("")
        lines.append(
            f"Season {year}: {past['planned']} visits planned, {past['held']} held in the "
            f"history ({past['held_rate']:.1%}), {past['people']} people booked on them; "
            f"{past['planned'] - past['outcomes'].get('held', 0) - past['outcomes'].get('under_minimum', 0)}"
            " called off for the weather or by the farmer (kept in every replay)."
        )
        lines.append(
            f"  advice from {', '.join(map(str, season['advice_from']))}: weak cells {weak or 'none'}; "
            f"{season['slots_moved_by_advice']} visits moved to a better day"
        )
        lines.append(
            "  calibration, held visits by weekday (history / model): "
            + ", ".join(
                f"{WEEKDAY_NAMES[c['weekday']]} {c['held']}/{c['model_held']:.1f}"
                for c in season["calibration_by_weekday"]
            )
        )
        header = (
            f"  {'scenario':<34} {'held rate':>9} {'95% of seasons':>15} {'held/planned':>13} "
            f"{'people':>7} {'gain, points (95%)':>24}"
        )
        lines.append(header)
        lines.append(
            f"  {'history':<34} {past['held_rate']:>9.1%} {'':>15} "
            f"{past['held']:>6}/{past['planned']:<6} {past['people']:>7}"
        )
        for row in season["scenarios"]:
            low, high = row["held_rate_95"]
            gain = ""
            if "gain_points_mean" in row:
                g_low, g_high = row["gain_points_95"]
                gain = f"{row['gain_points_mean']:+.1f} ({g_low:+.1f} to {g_high:+.1f})"
            name = row["scenario"]
            if name.startswith(("sensitivity", "variant")):
                name = "  " + name
            lines.append(
                f"  {name:<34} {row['held_rate_mean']:>9.1%} {f'{low:.1%}–{high:.1%}':>15} "
                f"{row['held_mean']:>6.1f}/{row['planned']:<6} {row['people_mean']:>7.0f} "
                f"{gain:>24}"
            )
    lines.append("")
    lines.append(f"{report['seconds']['total']} s (import {report['seconds']['import']} s)")
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="replications per season")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--window",
        type=int,
        default=CONSOLIDATION_WINDOW_DAYS,
        help="days between two slots that consolidation may merge",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    if args.window < 0:
        parser.error("--window must be 0 or more")
    report = run(args.runs, args.seed, args.window)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
