"""``/staff/``: the at-risk board, the back office's first page: the visits whose go/no-go comes
within 72 hours while they are short of their minimum (who to promote, which farmer to call,
which groups to merge), then today's and tomorrow's visits with their head counts."""

from __future__ import annotations

from datetime import timedelta

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.response import Template

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.reads import board
from reservations.staff import labels


class HomeController(Controller):
    path = "/"

    @get("/", name="staff_home")
    async def home(self, db: NamedDependency[Database]) -> Template:
        now = clock.now()
        today = clock.local_date(now)
        tomorrow = today + timedelta(days=1)
        visits = await board.visits_between(db, today, tomorrow, now=now)
        return Template(
            template_name="staff/home.html",
            context={
                "at_risk": await board.at_risk(db, now=now),
                "horizon_hours": int(board.HORIZON.total_seconds() // 3600),
                "days": [
                    (today, [v for v in visits if v.starts_on == today]),
                    (tomorrow, [v for v in visits if v.starts_on == tomorrow]),
                ],
                "today": today,
                **labels.template_globals(),
            },
        )
