"""The simulation of the levers (bench/simulate_levers.py): deterministic for a seed, at the
extremes of demand it holds nothing or everything, its calibrated run is near the history
counted straight from the CSV files, consolidation never overfills a slot, and no lever lowers
the held rate on the seeds used."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "simulate_levers", ROOT / "bench" / "simulate_levers.py"
)
assert _spec and _spec.loader
sim = importlib.util.module_from_spec(_spec)
sys.modules["simulate_levers"] = sim  # dataclasses look their module up by name
_spec.loader.exec_module(sim)

CSV_FOLDER = ROOT / "src" / "reservations" / "demo_data"
RUNS = 60
SEED = 7


def csv_rows(year: int) -> list[dict[str, str]]:
    with open(CSV_FOLDER / f"season_{year}.csv", encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def history():  # type: ignore[no-untyped-def]
    return sim.load_history()


@pytest.fixture(scope="module")
def model(history):  # type: ignore[no-untyped-def]
    return sim.DemandModel.fit([s for year in sim.SEASONS for s in history.slots[year]])


def season(history, model, year, chosen, **options):  # type: ignore[no-untyped-def]
    options.setdefault("runs", RUNS)
    options.setdefault("seed", SEED)
    return sim.simulate_season(history.slots[year], model, history.advice[year], chosen, **options)


async def test_the_seasons_come_through_the_real_import_on_each_database(db):
    loaded = await sim.load_into(db)
    for year in sim.SEASONS:
        rows = csv_rows(year)
        slots = loaded.slots[year]
        assert len(slots) == len(rows)
        assert sum(s.outcome == "held" for s in slots) == sum(r["outcome"] == "held" for r in rows)
        booked = sum(int(r["booked_adults"]) + int(r["booked_children"]) for r in rows)
        assert sum(s.booked for s in slots) == booked
    # Each season is advised by the other one's history.
    assert loaded.advice[2021].history_seasons == [2022]
    assert loaded.advice[2022].history_seasons == [2021]


def test_the_same_seed_gives_the_same_figures(history, model):
    chosen = sim.scenarios()
    first = season(history, model, 2022, chosen, runs=20)
    again = season(history, model, 2022, chosen, runs=20)
    assert [o.held for o in first] == [o.held for o in again]
    assert [o.people for o in first] == [o.people for o in again]
    other = season(history, model, 2022, chosen, runs=20, seed=SEED + 1)
    assert [o.held for o in other] != [o.held for o in first]


def test_no_demand_holds_nothing_and_overwhelming_demand_holds_everything(history, model):
    [none] = season(history, model, 2021, [sim.Scenario("no levers")], scale=0.0)
    assert set(none.held) == {0} and set(none.people) == {0}
    [every] = season(
        history,
        model,
        2021,
        [sim.Scenario("no levers")],
        runs=5,
        scale=1000.0,
        keep_called_off=False,
    )
    assert set(every.held) == {len(csv_rows(2021))}
    # The visits called off for the weather or by the farmer stay called off.
    rows = csv_rows(2021)
    called_off = sum(r["outcome"] not in ("held", "cancelled_under_minimum") for r in rows)
    assert called_off == 8
    [kept] = season(history, model, 2021, [sim.Scenario("no levers")], runs=5, scale=1000.0)
    assert set(kept.held) == {len(rows) - called_off}


@pytest.mark.parametrize("year", sim.SEASONS)
def test_the_calibrated_run_is_near_the_history(history, model, year):
    rows = csv_rows(year)
    held = sum(r["outcome"] == "held" for r in rows)
    # Held in the history: the bookings reached the minimum (checked row by row).
    for row in rows:
        people = int(row["booked_adults"]) + int(row["booked_children"])
        if row["outcome"] in ("held", "cancelled_under_minimum"):
            assert (people >= int(row["min_participants"])) == (row["outcome"] == "held")
    [baseline] = season(history, model, year, [sim.Scenario("no levers")], runs=300)
    simulated = sum(baseline.held) / len(baseline.held) / len(rows)
    assert simulated == pytest.approx(held / len(rows), abs=0.05)


def test_consolidation_never_fills_a_slot_over_its_capacity(history, model):
    details: list[list] = []
    eager = [
        sim.Scenario("same activity", accept_p=1.0, window_days=14),
        sim.Scenario("any farm of the sector", accept_p=1.0, partners="sector", window_days=14),
        sim.Scenario("all", advice=True, accept_p=1.0, help_uplift=0.3, partners="sector"),
    ]
    outcomes = season(history, model, 2022, eager, details=details)
    assert all(sum(o.merged) > 0 for o in outcomes)  # merges did happen
    results = [result for run in details for result in run]
    assert any(r.merged_into is not None for r in results)
    assert all(0 <= r.booked <= r.capacity for r in results)


@pytest.mark.parametrize("year", sim.SEASONS)
def test_no_lever_lowers_the_held_rate_on_these_seeds(history, model, year):
    chosen = sim.scenarios()
    outcomes = season(history, model, year, chosen, runs=200)
    baseline = sum(outcomes[0].held)
    for scenario, outcome in zip(chosen[1:], outcomes[1:], strict=True):
        assert sum(outcome.held) >= baseline, scenario.name
    # With common random numbers, consolidation never loses a visit in any replication.
    for scenario, outcome in zip(chosen, outcomes, strict=True):
        if scenario.accept_p is not None and not scenario.advice and not scenario.help_uplift:
            assert all(a >= b for a, b in zip(outcome.held, outcomes[0].held, strict=True)), (
                scenario.name
            )


def test_the_command_prints_a_table_or_json(capsys):
    assert sim.main(["--runs", "3", "--seed", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["seasons"]) == {"2021", "2022"}
    names = [row["scenario"] for row in report["seasons"]["2022"]["scenarios"]]
    assert names[0] == "no levers" and names[-1] == "all three levers"
    assert report["seasons"]["2022"]["history"]["held"] == 76
    assert sim.main(["--runs", "3"]) == 0
    table = capsys.readouterr().out
    assert "not a promise" in table and "history" in table
