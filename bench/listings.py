"""How fast the listings are over a large journal: ``kleio ls -n 50``, ``kleio ls``,
``kleio compare --sort loss:min -n 20`` and the dashboard's first page of trials.

    python bench/listings.py [--trials N] [--statistics N] [--seed S] [--store sqlite|wire]
                             [--keep FOLDER] [--runs N]

Fills a journal (SQLite, or the MongoDB wire stand-in nx-27017 started here) with N
trials of realistic documents (``bench/reading.py``'s, 150 packages each), a sweep's
configurations, tags, statuses (completed, broken, interrupted, running with a fresh or an
old heartbeat), a few branches, and ``--statistics`` points of ``epoch``, ``loss`` and
``acc`` each (some trials without ``loss``, some with a NaN loss), reproducible from
``--seed``; then times the commands (median of ``--runs``, output to /dev/null) and the
dashboard's ``GET /api/trials`` in process.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package
sys.path.insert(0, str(ROOT / "bench"))

from reading import KLEIO, realistic_document  # noqa: E402

from kleio.core.model.catalogue import open_journal  # noqa: E402
from kleio.core.model.journal import EventWriter  # noqa: E402

#: The commands timed, as ``kleio`` takes them.
COMMANDS = (
    ("ls -n 50", ["ls", "-n", "50"]),
    ("ls", ["ls"]),
    ("compare --sort loss:min -n 20", ["compare", "--sort", "loss:min", "-n", "20"]),
)
_STATUSES = (
    ["completed"] * 70 + ["broken"] * 10 + ["interrupted"] * 8 + ["running"] * 8 + ["new"] * 4
)


def fill(address: str, name: str, trials: int, count: int, seed: int, nan: bool = True) -> None:
    """``trials`` trials of ``count`` points each, as the module documentation says;
    ``nan``: False on nx-27017, which refuses NaN (MongoDB keeps it)."""
    chance = random.Random(seed)
    writer = EventWriter()
    now = time.time()
    made: list[str] = []
    previous = now
    with open_journal(address, name) as store:
        for index in range(trials):
            document = realistic_document(index, lr=chance.choice([1e-4, 1e-3, 1e-2, 0.1]))
            status = chance.choice(_STATUSES)
            document["status"] = status
            document["created"] = now - (trials - index) * 10.0 - chance.random()
            if index % 997 == 3:  # two trials made at the same time: a tie
                document["created"] = previous
            previous = document["created"]
            if status == "running":  # half of them lost: their heartbeat is old
                document["heartbeat"] = now - (5.0 if index % 2 else 3600.0)
                document["started"] = now - 100.0
            if index % 50 == 7 and made:  # a branch of an earlier trial
                document["refers"] = {"parent": chance.choice(made), "timestamp": None}
                document["_id"] = f"{document['_id'][:-8]}{index:08x}"
            document["tags"] = ["sweep", f"group{index % 10}"]
            store.create_trial(document)
            made.append(document["_id"])
            rate = 0.001 + chance.random()
            points = []
            for step in range(count):
                values = {"epoch": step, "acc": 1 - rate / (step + 1)}
                if index % 40 != 5:  # some trials never log a loss
                    loss = rate / (step + 1)
                    if nan and index % 333 == 11 and step == count // 2:
                        loss = math.nan
                    values["loss"] = round(loss, 3)  # ties among the minimums
                points.append(("statistic", now, values))
            if points:
                store.append_events(writer.events(document["_id"], points))


def timed(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[float, float]:
    """Median seconds of ``runs`` runs, on the clock and of processor time (user and
    system: the clock alone says little on a machine shared with other work)."""
    clock, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
        clock.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(clock), statistics.median(cpu)


#: The trials of the journal, counted by the version timed (another would upgrade it).
_COUNT = """
import sys
from kleio.core.model.catalogue import open_journal
with open_journal(sys.argv[1], sys.argv[2]) as store:
    print(f"{len(store.find_trials(fields=['status'])):,}")
"""
#: The dashboard's first page, timed in a process of its own (the journal opened first).
_PAGE = """
import sys, time
from kleio.core.model.catalogue import open_journal
from kleio.ui.api import Dashboard
with open_journal(sys.argv[1], sys.argv[2]) as store:
    store.find_trials(limit=1, fields=["status"])
    began, cpu = time.perf_counter(), time.process_time()
    Dashboard(store, 60.0, sys.argv[1], "bench").trials({"limit": ["50"], "offset": ["0"]})
    print(time.perf_counter() - began, time.process_time() - cpu)
"""


def dashboard_page(
    address: str, name: str, env: dict[str, str], cwd: Path, runs: int
) -> tuple[float, float]:
    """``GET /api/trials`` as the dashboard's first page asks it (50 rows, newest first):
    median seconds on the clock and of processor time."""
    clock, cpu = [], []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _PAGE, address, name],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        on_clock, of_processor = map(float, done.stdout.split())
        clock.append(on_clock)
        cpu.append(of_processor)
    return statistics.median(clock), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--statistics", type=int, default=10)
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--store", choices=("sqlite", "wire"), default="sqlite")
    parser.add_argument("--keep", type=Path, help="a folder to fill once and reuse")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", help="a folder holding another version's kleio package")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KLEIO_HOME": str(folder / "home"), "COLUMNS": "200"}
    kleio = [KLEIO]
    if args.code:  # that version's commands, run by this interpreter
        env["PYTHONPATH"] = args.code
        kleio = [sys.executable, "-m", "kleio"]
    print(f"seed {args.seed}, {args.trials:,} trials x {args.statistics} points", flush=True)
    from tests.mongo_server import mongodb_or_wire

    with mongodb_or_wire(folder / "wire", None) as (wire, uri):
        if args.store == "sqlite":
            address, name = str(folder / f"listings-{args.trials}.db"), "kleio"
        else:
            address, name = uri, f"listings{args.trials}"
        env.update(KLEIO_DB_ADDRESS=address, KLEIO_DB_NAME=name)
        marker = folder / f"filled-{args.store}-{args.trials}-{args.seed}"
        if not marker.exists():
            began = time.perf_counter()
            fill(address, name, args.trials, args.statistics, args.seed, args.store == "sqlite")
            marker.touch()
            print(f"filled in {time.perf_counter() - began:.0f} s", flush=True)
        # Opened once untimed: an older journal is brought to this version's schema.
        # In the journal's folder: `python -m kleio` would import the working folder's.
        cwd = folder
        subprocess.run(
            [*kleio, "ls", "-n", "1"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True
        )
        trials = subprocess.run(
            [sys.executable, "-c", _COUNT, address, name],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"{trials} trials in the journal", flush=True)
        for label, argv in COMMANDS:
            clock, cpu = timed([*kleio, *argv], env, folder, args.runs)
            print(f"{args.store} kleio {label}: {clock:.3f} s ({cpu:.3f} s of processor)")
        clock, cpu = dashboard_page(address, name, env, folder, args.runs)
        print(f"{args.store} GET /api/trials: {clock:.3f} s ({cpu:.3f} s of processor)")


if __name__ == "__main__":
    main()
