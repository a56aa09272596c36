"""The ``reservations`` command as a person runs it: in its own process, on a test's database."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE, STDOUT


def cli_environment(
    database_url: str, public_url: str = "https://visites.example"
) -> dict[str, str]:
    return {
        **os.environ,
        "RESERVATIONS_DATABASE_URL": database_url,
        "RESERVATIONS_PUBLIC_URL": public_url,
    }


async def run_cli(environment: dict[str, str], *arguments: str) -> tuple[int, str]:
    """The exit code and what the command printed (standard output and error together)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reservations",
        *arguments,
        env=environment,
        stdout=PIPE,
        stderr=STDOUT,
    )
    output, _ = await process.communicate()
    return await process.wait(), output.decode()
