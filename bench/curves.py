"""Curves of long trials: the dashboard's first request for a curve and ``kleio plot``, on
one trial of N statistics of 3 keys (step, loss, acc), beside the size of the journal.

    python bench/curves.py [--points 1000000,10000000] [--folder DIR] [--keep]

Each journal is bench/journal.py's long trial (``step`` rising, ``loss`` and ``acc``
random walks from seed 26), written through the store in its batches. Rows:

- write: statistics per second through ``append_events`` (rows, summaries and blocks);
- size: bytes on disk per million statistics;
- dashboard: the first ``/api/series?y=loss&points=1000`` of a fresh dashboard (its
  cache empty), in-process;
- plot: ``kleio plot ID --y loss`` in the terminal, a subprocess (what a user waits for).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package
sys.path.insert(0, str(Path(__file__).resolve().parent))

import journal  # noqa: E402


def build(path: Path, points: int) -> tuple[str, float]:
    """A journal at ``path`` of one trial of ``points`` statistics (bench/journal.py's
    long trial, seed 26); its id and the statistics written per second."""
    from kleio.core.model.catalogue import open_journal

    store = open_journal(f"sqlite:///{path}", "kleio")
    document, batches = journal.long_trial(26, journal.Sizes(0, 0, points))
    store.create_trial(document)
    spent = 0.0
    for events in batches:
        began = time.perf_counter()
        store.append_events(events)
        spent += time.perf_counter() - began
    store.close()
    return document["_id"], points / spent


def dashboard_first(path: Path, trial: str) -> float:
    from kleio.core.model.catalogue import open_journal
    from kleio.ui.api import Dashboard

    store = open_journal(f"sqlite:///{path}", "kleio")
    api = Dashboard(store, 60.0, "kleio", "bench")
    began = time.perf_counter()
    answer = api.series({"trials": [trial], "y": ["loss"], "points": ["1000"]})
    spent = time.perf_counter() - began
    assert answer["curves"] and answer["curves"][0]["points"], answer
    store.close()
    return spent


def plot(path: Path, trial: str) -> float:
    env = {
        **os.environ,
        "KLEIO_DB_ADDRESS": f"sqlite:///{path}",
        "COLUMNS": "100",
        "PYTHONPATH": str(ROOT),  # this checkout's kleio
    }
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kleio", "plot", trial[:7], "--y", "loss"],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="1000000,10000000")
    parser.add_argument("--folder", default=None, help="keep the journals there")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="kleio-curves-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"seed 26; load {os.getloadavg()[0]:.2f}")
    try:
        for points in [int(text) for text in args.points.split(",")]:
            path = folder / f"curves-{points}.db"
            if path.exists():
                from kleio.core.model.catalogue import open_journal

                store = open_journal(f"sqlite:///{path}", "kleio")
                trial = store.find_trials(fields=["_id"])[0]["_id"]
                store.close()
                speed = float("nan")
            else:
                trial, speed = build(path, points)
            size = sum(
                os.stat(f"{path}{suffix}").st_size
                for suffix in ("", "-wal")
                if os.path.exists(f"{path}{suffix}")
            )
            first = dashboard_first(path, trial)
            drawn = plot(path, trial)
            print(
                f"{points:,} points: write {speed:,.0f}/s; {size / points:,.0f} B/statistic "
                f"({size / points:.0f} MB per million); dashboard first /api/series "
                f"{first:.3f} s; kleio plot --y loss {drawn:.3f} s"
            )
    finally:
        if args.folder is None:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
