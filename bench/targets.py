"""What every benchmark reports: a measured figure beside its floor in the same run, and the
ratio the issue asks of it. ``bench/run.py`` collects the targets of every benchmark and prints
them in one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    #: What is measured, e.g. "availability JSON, 30 days / static file".
    name: str
    measured: float
    #: The reference measured in the same run (a raw asyncpg transaction, a static file, the
    #: same figure at a smaller size, today's main...).
    floor: float
    #: The unit of ``measured`` and ``floor`` ("req/s", "ms per row", "MB"...).
    unit: str
    #: The ratio measured/floor the issue asks for.
    goal: float
    #: True when the ratio must stay at or under ``goal`` (a cost), False when it must reach it
    #: (a rate).
    at_most: bool = False
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.floor if self.floor else float("inf")

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal if self.at_most else self.ratio >= self.goal


def table(targets: list[Target]) -> str:
    """The targets as a fixed-width table, one line each."""
    lines = [
        f"{'target':<58} {'measured':>12} {'floor':>12} {'unit':<12} {'ratio':>6} {'goal':>7} met"
    ]
    for target in targets:
        goal = f"{'<=' if target.at_most else '>='}{target.goal:g}"
        lines.append(
            f"{target.name:<58} {target.measured:>12,.2f} {target.floor:>12,.2f} "
            f"{target.unit:<12} {target.ratio:>6.2f} {goal:>7} {'yes' if target.met else 'NO'}"
            + (f"  ({target.note})" if target.note else "")
        )
    return "\n".join(lines)
