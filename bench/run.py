"""Every performance target of the engine, measured in one run and printed beside its floor.

    .venv/bin/python bench/run.py [--postgres-url URL] [--only NAME,...] [--quick]

Each benchmark module named in ``BENCHMARKS`` exposes ``measure(options) -> list[Target]``; this
runs them one after the other (never together: they share the machine's cores) and prints one
table, then writes it as JSON to ``bench/last-run.json`` for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.targets import Target, table  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: name -> module under bench/ with ``measure(options)`` (a coroutine function or a function).
BENCHMARKS: dict[str, str] = {
    "booking": "bench.booking_throughput",
    "feeds": "bench.calendar_feeds",
    "import": "bench.history_import",
    "mixed": "bench.mixed_workload",
    "reads": "bench.public_reads",
    "report": "bench.season_report",
}


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="an admin URL: each benchmark creates its own database beside it and drops it",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated names of " + ", ".join(BENCHMARKS)
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run, noisy")
    return parser.parse_args()


async def _run(name: str, options: argparse.Namespace) -> list[Target]:
    measure = importlib.import_module(BENCHMARKS[name]).measure
    result = measure(options)
    return await result if inspect.isawaitable(result) else result


async def main() -> None:
    options = _options()
    names = [name for name in options.only.split(",") if name] or list(BENCHMARKS)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"load average before: {os.getloadavg()}")
    targets: list[Target] = []
    for name in names:
        started = time.perf_counter()
        found = await _run(name, options)
        print(f"\n== {name} ({time.perf_counter() - started:.0f} s)\n{table(found)}", flush=True)
        targets.extend(found)
    print(f"\nload average after: {os.getloadavg()}\n\n== every target\n{table(targets)}")
    (ROOT / "bench" / "last-run.json").write_text(
        json.dumps(
            [asdict(target) | {"ratio": target.ratio, "met": target.met} for target in targets],
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
