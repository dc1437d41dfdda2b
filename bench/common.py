"""What the benches share: a scratch git project and an environment without KLEIO_*."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


def scratch_project(folder: Path, without: tuple[str, ...] = ()) -> tuple[Path, dict[str, str]]:
    """A git repository with one commit in ``folder/project``, and the environment to
    run ``kleio`` there with ``folder/home`` as its home, without any ``KLEIO_*``
    variable nor those named in ``without``."""
    work = Path(folder) / "project"
    work.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    (work / "README").write_text("benchmark\n")
    subprocess.run(["git", "add", "."], cwd=work, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.org", "commit", "-qm", "init"],
        cwd=work,
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLEIO_") and k not in without}
    env["KLEIO_HOME"] = str(Path(folder) / "home")
    return work, env


def each_store(
    folder: Path, env: dict[str, str], mongodb: str | None, wire: bool
) -> Iterator[tuple[str, dict[str, str]]]:
    """(label, environment) for SQLite, then for MongoDB (``mongodb``, or nx-27017 with
    ``wire``) if asked, started for as long as the caller measures."""
    yield "sqlite", env
    if wire or mongodb:
        from tests.mongo_server import mongodb_or_wire

        with mongodb_or_wire(Path(folder), mongodb) as (label, address):
            yield label, {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"}


def row(label: str, figure: str, kleio: float, ceiling: float, unit: str, target: str) -> None:
    """One line: Kleio's figure and the ceiling, their ratio, the target."""
    ratio = kleio / ceiling if ceiling else float("inf")
    print(
        f"[{label}] {figure}: kleio {kleio:,.3g} {unit}, ceiling {ceiling:,.3g} {unit}, "
        f"ratio {ratio:.2f} (target {target})",
        flush=True,
    )
