"""``/staff/reports``: the season report as a page (key figures, tables and SVG charts, compared
with the previous season), the planning advice by weekday × sector (``/staff/reports/advice``),
and every table as CSV (``/staff/reports/{table}.csv``); its "Revenue" section is
``staff.revenue``'s.

The figures are ``reports.season_report``'s and ``advice.planning_advice``'s, computed by the
database; this module only names, formats and draws them. CSV files are the CLI's
``report_as_csv`` (one table: its rows only), with a byte-order mark so that a spreadsheet
opened by double-click reads the accents right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date, get_day_names
from babel.numbers import format_decimal, format_percent
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind, CancelReason, Channel
from reservations.base.reads import advice as advice_service
from reservations.base.reads import reports, revenue
from reservations.base.reads.advice import Advice
from reservations.i18n import N_
from reservations.notices import words
from reservations.settings import Settings
from reservations.staff import revenue as revenue_section
from reservations.staff.charts import BarChart, Series, render
from reservations.web.forms import Form
from reservations.web.inputs import whole_number

FIRST_SEASON, LAST_SEASON = 1990, 2200
BAD_SEASON = N_("Please choose a season: a year such as 2022.")
BAD_KIND = N_("Please choose a kind of activity from the list.")

#: The outcomes of the go/no-go decisions (``reports.OUTCOMES``), as the page names them.
OUTCOME_LABELS = {
    "reached_minimum": N_("Went ahead: reached its minimum by itself"),
    "saved_by_consolidation": N_("Went ahead thanks to visitors moved from another date"),
    "saved_by_share": N_("Went ahead thanks to people from a shared link"),
    "merged": N_("Merged into another date"),
    "too_few_people": N_("Called off: too few people"),
    "cancelled_other": N_("Called off for another reason (weather, farmer...)"),
    "undecided": N_("Not decided yet"),
}

#: The groupings the page shows, in order: (report key, CSV table, heading, chart title).
GROUPS = (
    ("by_weekday", "weekday", N_("By weekday"), N_("Held rate and fill rate by weekday")),
    ("by_month", "month", N_("By month"), N_("Held rate and fill rate by month")),
    ("by_sector", "sector", N_("By sector"), N_("Held rate and fill rate by sector")),
    (
        "by_provider",
        "provider",
        N_("By farm or organiser"),
        N_("Held rate and fill rate by farm or organiser"),
    ),
)
#: The CSV tables of the report: name -> the ``scope`` values of ``report_as_csv`` rows it
#: keeps (None: all of them).
REPORT_TABLES: dict[str, tuple[str, ...] | None] = {
    "season": ("season", "previous_season"),
    "weekday": ("weekday",),
    "month": ("month",),
    "sector": ("sector",),
    "provider": ("provider",),
    "channel": ("channel",),
    "all": None,
}
ADVICE_TABLES = ("advice", "weak_slots")
#: Tables of their own columns (not rows of ``report_as_csv``).
OWN_TABLES = (revenue_section.TABLE,)
#: Litestar adds ``; charset=utf-8`` to text/* types.
CSV_MEDIA_TYPE = "text/csv"


# --- formatting, in the reader's language ---------------------------------------------------


def number(value: float) -> str:
    return format_decimal(value, locale=i18n.babel_locale())


def percent(rate: float | None, decimals: int = 1, *, signed: bool = False) -> str:
    """ "47,5 %", "47.5%"; "—" when there is no rate (nothing to divide by)."""
    if rate is None:
        return "—"
    locale = i18n.babel_locale()
    pattern = locale.percent_formats[None].pattern.split(";")[0]
    if decimals:
        pattern = pattern.replace("0", "0." + "0" * decimals, 1)
    if signed:
        pattern = f"+{pattern};-{pattern}"
    return format_percent(rate, pattern, locale=locale)


def weekday_name(iso_weekday: int) -> str:
    return get_day_names("wide", locale=i18n.babel_locale())[iso_weekday - 1].capitalize()


def group_label(column: str, key: str) -> str:
    """A row's name: a weekday or a month in words, a channel's label, a name as it is."""
    if column == "weekday":
        return weekday_name(reports.WEEKDAYS.index(key) + 1)
    if column == "month":
        year, month = (int(part) for part in key.split("-"))
        return format_date(date(year, month, 1), "LLLL yyyy", locale=i18n.babel_locale())
    if column == "channel":
        return words.label(words.CHANNEL_IN_REPORT, Channel(key))
    return key


# --- the query -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    season: int
    kind: ActivityKind | None


def read_query(
    season: str | None, kind: str | None, default_season: int
) -> tuple[Form, ReportQuery]:
    """The season and kind asked for; a form with errors beside each field when unreadable."""
    form = Form(values={"season": (season or "").strip(), "kind": (kind or "").strip()})
    year = default_season
    if form.values["season"]:
        text = form.values["season"]
        number = whole_number(text)
        if number is not None and FIRST_SEASON <= number <= LAST_SEASON:
            year = number
        else:
            form.add_error("season", i18n.gettext(BAD_SEASON))
    chosen_kind = None
    if form.values["kind"]:
        if form.values["kind"] in set(ActivityKind):
            chosen_kind = ActivityKind(form.values["kind"])
        else:
            form.add_error("kind", i18n.gettext(BAD_KIND))
    form.values["season"] = form.values["season"] or str(year)
    return form, ReportQuery(year, chosen_kind)


# --- the report page -------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupTable:
    name: str  # the CSV table
    heading: str
    column: str
    rows: list[tuple[str, Mapping[str, Any]]]  # (label, metrics)
    chart: Any


def _rates_chart(title: str, labels: Sequence[str], metrics: Sequence[Mapping[str, Any]]) -> Any:
    held = [m["held_rate"] for m in metrics]
    fill = [m["fill_rate"] for m in metrics]
    return render(
        BarChart(
            title=title,
            categories=labels,
            series=[
                Series(i18n.gettext("Held rate"), held, [percent(r) for r in held]),
                Series(i18n.gettext("Fill rate"), fill, [percent(r) for r in fill]),
            ],
            axis_label=i18n.gettext("Share of the slots planned, or of the places offered"),
            tick_label=lambda value: percent(value, 0),
            maximum=1.0,
        )
    )


def _group_tables(report: Mapping[str, Any]) -> list[GroupTable]:
    tables = []
    for key, column, heading, chart_title in GROUPS:
        rows = [(group_label(column, k), m) for k, m in report[key].items()]
        title = i18n.gettext(chart_title)
        chart = _rates_chart(title, [r[0] for r in rows], [r[1] for r in rows]) if rows else None
        tables.append(GroupTable(column, i18n.gettext(heading), column, rows, chart))
    return tables


def _comparison_chart(
    title: str,
    categories: Sequence[str],
    report: Mapping[str, Any],
    values: Callable[[Mapping[str, Any]], list[int]],
    axis_label: str,
) -> Any:
    """This season's figures beside the previous season's, when there is one."""
    seasons = [report]
    if report["previous_season"]:
        seasons.append(report["previous_season"])
    series = [
        Series(str(season["season"]), values(season), [number(v) for v in values(season)])
        for season in seasons
    ]
    return render(
        BarChart(
            title=title,
            categories=categories,
            series=series,
            axis_label=axis_label,
            tick_label=number,
        )
    )


def _outcomes(figures: Mapping[str, Any], reasons: Sequence[CancelReason]) -> list[int]:
    return [
        figures["slots_planned"],
        figures["slots_held"],
        *(figures["slots_cancelled"][reason.value] for reason in reasons),
    ]


def _reasons_met(report: Mapping[str, Any]) -> list[CancelReason]:
    """The reasons of cancellation met in the season or the previous one (the chart leaves
    out the others; the table lists them all)."""
    seasons = [report, report["previous_season"] or report]
    return [r for r in CancelReason if any(s["slots_cancelled"][r.value] for s in seasons)]


def _people(figures: Mapping[str, Any]) -> list[int]:
    people = figures["participants"]
    return [people["adults"], people["children"], people["total"]]


def _channel_chart(report: Mapping[str, Any]) -> Any:
    channels = report["by_channel"]
    if not channels:
        return None
    booked = [m["seats_booked"] for m in channels.values()]
    came = [m["participants"]["total"] for m in channels.values()]
    return render(
        BarChart(
            title=i18n.gettext("Places booked and participants by booking channel"),
            categories=[group_label("channel", key) for key in channels],
            series=[
                Series(i18n.gettext("Places booked"), booked, [number(v) for v in booked]),
                Series(i18n.gettext("Participants"), came, [number(v) for v in came]),
            ],
            axis_label=i18n.gettext("People"),
            tick_label=number,
        )
    )


def report_context(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the report template shows: the figures, their names and the charts."""
    reasons = [(r.value, words.label(words.CANCEL_REASON_IN_REPORT, r)) for r in CancelReason]
    met = _reasons_met(report)
    outcome_labels = [
        i18n.gettext("Planned"),
        i18n.gettext("Held"),
        *(
            i18n.gettext("Cancelled: {reason}").format(
                reason=words.label(words.CANCEL_REASON_IN_REPORT, r)
            )
            for r in met
        ),
    ]
    return {
        "report": report,
        "previous": report["previous_season"],
        "reasons": reasons,
        "outcomes": [(key, i18n.gettext(OUTCOME_LABELS[key])) for key in reports.OUTCOMES],
        "cancelled": sum(report["slots_cancelled"].values()),
        "groups": _group_tables(report),
        "channels": [(group_label("channel", k), m) for k, m in report["by_channel"].items()],
        "outcome_chart": _comparison_chart(
            i18n.gettext("Slots planned, held and cancelled, by reason"),
            outcome_labels,
            report,
            lambda figures: _outcomes(figures, met),
            i18n.gettext("Slots"),
        ),
        "people_chart": _comparison_chart(
            i18n.gettext("Participants: adults and children"),
            [i18n.gettext("Adults"), i18n.gettext("Children"), i18n.gettext("Total")],
            report,
            _people,
            i18n.gettext("People"),
        ),
        "channel_chart": _channel_chart(report),
    }


# --- the advice page -------------------------------------------------------------------------


def advice_sectors(advice: Advice, sectors: Sequence[str]) -> list[str]:
    """The office's sectors in their order, then any other sector found in the history."""
    return [*sectors, *(s for s in advice.sectors if s not in sectors)]


def _advice_chart(advice: Advice, sectors: Sequence[str]) -> Any:
    weekdays = [d for d in advice_service.WEEKDAYS if any(advice.cell(d, s) for s in sectors)]
    if not weekdays:
        return None
    series = []
    for sector in sectors:
        cells = [advice.cell(day, sector) for day in weekdays]
        rates = [cell.held_rate if cell else None for cell in cells]
        series.append(Series(sector, rates, [percent(rate, 0) for rate in rates]))
    return render(
        BarChart(
            title=i18n.gettext("Share of slots held by weekday and sector, past seasons"),
            categories=[weekday_name(day) for day in weekdays],
            series=series,
            axis_label=i18n.gettext("Share of the slots planned that were held"),
            tick_label=lambda value: percent(value, 0),
            maximum=1.0,
        )
    )


def advice_context(advice: Advice, sectors: Sequence[str]) -> dict[str, Any]:
    sectors = advice_sectors(advice, sectors)
    return {
        "advice": advice,
        "sectors": sectors,
        "weekdays": [(day, weekday_name(day)) for day in advice_service.WEEKDAYS],
        "min_slots": advice_service.MIN_SLOTS,
        "weak_gap": round(advice_service.WEAK_GAP * 100),
        "chart": _advice_chart(advice, sectors),
    }


# --- CSV -------------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def report_table_csv(report: dict[str, Any], table: str) -> bytes:
    """One table of the report: the rows of ``report_as_csv`` of its scopes."""
    scopes = REPORT_TABLES[table]
    reader = csv.reader(io.StringIO(reports.report_as_csv(report)))
    header = next(reader)
    rows = [row for row in reader if scopes is None or row[0] in scopes]
    return _csv(header, rows)


def revenue_table_csv(figures: Mapping[str, Any]) -> bytes:
    reader = csv.reader(io.StringIO(revenue_section.revenue_csv(figures)))
    return _csv(next(reader), list(reader))


def _rate_cell(rate: float | None) -> str:
    return "" if rate is None else repr(rate)


def advice_csv(advice: Advice, table: str) -> bytes:
    """The weekday × sector cells (``advice``) or the planned slots in weak cells."""
    if table == "advice":
        header = (
            "weekday",
            "sector",
            "slots_planned",
            "slots_held",
            "held_rate",
            "seats_offered",
            "seats_booked",
            "fill_rate",
            "weak",
        )
        cells = sorted(advice.cells.values(), key=lambda c: (c.weekday, c.sector))
        rows = [
            (
                reports.WEEKDAYS[c.weekday - 1],
                c.sector,
                c.slots_planned,
                c.slots_held,
                _rate_cell(c.held_rate),
                c.seats_offered,
                c.seats_booked,
                _rate_cell(c.fill_rate),
                "yes" if c.weak else "no",
            )
            for c in cells
        ]
        return _csv(header, rows)
    header = ("slot_id", "starts_at", "weekday", "sector", "provider", "activity", "status")
    rows = [
        (
            s.id,
            s.starts_at.astimezone(clock.OFFICE_TZ).isoformat(),
            reports.WEEKDAYS[s.weekday - 1],
            s.sector,
            s.provider,
            s.title,
            s.status.value,
        )
        for s in advice.at_risk
    ]
    return _csv(header, rows)


def _csv_response(body: bytes, filename: str) -> Response[bytes]:
    return Response(
        body,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- handlers --------------------------------------------------------------------------------


class ReportsController(Controller):
    path = "/reports"

    @get("/", name="staff_reports")
    async def report(
        self,
        db: NamedDependency[Database],
        season: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Template:
        form, query = read_query(season, kind, await advice_service.latest_decided_season(db))
        context = await _page_context(db, form, query)
        if not form.valid:
            return Template(
                "staff/report.html",
                context={**context, "report": None},
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        report = await reports.season_report(db, query.season, kind=query.kind)
        money = await revenue.revenue_report(db, query.season, kind=query.kind)
        return Template(
            "staff/report.html",
            context={
                **context,
                **report_context(report),
                **revenue_section.revenue_context(money),
            },
        )

    @get("/advice", name="staff_report_advice")
    async def advice(
        self,
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        season: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Template:
        form, query = read_query(season, kind, await advice_service.coming_season(db))
        context = await _page_context(db, form, query, ahead=True)
        if not form.valid:
            return Template(
                "staff/report_advice.html",
                context={**context, "advice": None},
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        found = await advice_service.planning_advice(
            db, query.season, kind=query.kind, locale=i18n.current()
        )
        return Template(
            "staff/report_advice.html",
            context={**context, **advice_context(found, settings.sectors)},
        )

    @get("/{filename:str}", name="staff_report_csv")
    async def table_csv(
        self,
        db: NamedDependency[Database],
        filename: FromPath[str],
        season: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        table, dot, extension = filename.rpartition(".")
        if (
            extension != "csv"
            or not dot
            or table not in (*REPORT_TABLES, *ADVICE_TABLES, *OWN_TABLES)
        ):
            raise NotFoundException()
        is_advice = table in ADVICE_TABLES
        default = await (
            advice_service.coming_season(db)
            if is_advice
            else advice_service.latest_decided_season(db)
        )
        form, query = read_query(season, kind, default)
        if not form.valid:
            return Response(
                "\n".join(form.errors.values()).encode(),
                media_type="text/plain",
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        suffix = f"-{query.kind.value}" if query.kind else ""
        name = f"{'advice' if is_advice else 'report'}-{query.season}{suffix}-{table}.csv"
        if is_advice:
            found = await advice_service.planning_advice(
                db, query.season, kind=query.kind, locale=i18n.current()
            )
            return _csv_response(advice_csv(found, table), name)
        if table == revenue_section.TABLE:
            money = await revenue.revenue_report(db, query.season, kind=query.kind)
            return _csv_response(revenue_table_csv(money), name)
        report = await reports.season_report(db, query.season, kind=query.kind)
        return _csv_response(report_table_csv(report, table), name)


async def _page_context(
    db: Database, form: Form, query: ReportQuery, *, ahead: bool = False
) -> dict[str, Any]:
    """The filter form (the seasons with slots, the one asked for and, for planning, the next
    year) and the formatting functions of both pages."""
    seasons = set(await advice_service.seasons_on_record(db)) | {query.season}
    if ahead:
        seasons.add(max(seasons) + 1)
    return {
        "form": form,
        "query": query,
        "seasons": sorted(seasons, reverse=True),
        "kinds": list(ActivityKind),
        "number": number,
        "percent": percent,
    }
