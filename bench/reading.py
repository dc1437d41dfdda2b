"""How fast the reading commands are on a large journal.

    python bench/reading.py [--trials N] [--lines N] [--statistics N] [--mongodb URI]

Fills a journal with N trials (documents as ``kleio`` writes them, environment and all),
one trial with 1,000,000 lines of output and one with 1,000,000 statistics, then times
the real commands (median of several runs, output to /dev/null):

- ``kleio ls`` over the N trials (target: 10,000 in under 1 s on SQLite);
- ``kleio cat`` of the 1,000,000-line trial;
- ``kleio stats --format json`` of the 1,000,000 statistics;

on SQLite and on the MongoDB wire backend (nx-27017, with fewer statistics: it is far
slower than MongoDB; or ``--mongodb URI``). For reference, Guild AI's ``guild runs -a``
took 4.1 s over 5,000 runs on such a machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

from kleio.core.journal import EventWriter  # noqa: E402
from kleio.core.output import CHUNK, output_data  # noqa: E402
from kleio.core.trial import TrialSpec, new_trial_document  # noqa: E402
from kleio.store import open_store  # noqa: E402

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"


def realistic_document(index: int) -> dict:
    spec = TrialSpec(
        "bench",
        ("python", "train.py", "--lr", str(index / 1000), "--seed", str(index)),
        {"lr": index / 1000, "seed": index},
    )
    return new_trial_document(
        spec,
        status="completed",
        tags=["sweep", f"group{index % 10}"],
        cwd="/home/user/bench",
        version={
            "type": "git",
            "commit": "0" * 40,
            "branch": "main",
            "dirty": False,
            "diff": "",
            "changed_files": [],
            "untracked": [],
            "remotes": {},
        },
        environment={
            "python": {"implementation": "CPython", "version": "3.11.7"},
            "os": {"system": "Linux", "release": "6.1", "machine": "x86_64"},
            "packages": {f"package-{n}": f"1.{n}.0" for n in range(150)},
        },
        code_identity="git:x",
        environment_identity="e",
        executions=1,
        run_time=12.5,
        exit_code=0,
    )


def fill(address: str, name: str, trials: int, lines: int, count: int) -> tuple[str, str]:
    writer = EventWriter()
    with open_store(address, name) as store:
        for index in range(trials):
            store.create_trial(realistic_document(index))
        printer = realistic_document(-1)["_id"]
        text = b"".join(b"line %d of the output\n" % i for i in range(lines))
        events = [
            writer.event(printer, "stdout", data)
            for start in range(0, len(text), CHUNK)
            for data in output_data(text[start : start + CHUNK])
        ]
        store.create_trial({**realistic_document(-1), "_id": printer})
        store.append_events(events)
        logger = realistic_document(-2)["_id"]
        store.create_trial({**realistic_document(-2), "_id": logger})
        for start in range(0, count, 10_000):
            store.append_events(
                writer.events(
                    logger,
                    [
                        (
                            "statistic",
                            time.time(),
                            {"step": i, "loss": 1.0 / (i + 1), "acc": i / count},
                        )
                        for i in range(start, min(start + 10_000, count))
                    ],
                )
            )
    return printer, logger


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            result = subprocess.run(argv, env=env, stdout=sink, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(result.stderr.decode(errors="replace"))
    return statistics.median(times)


def measure(label: str, env: dict[str, str], trials: int, lines: int, count: int) -> None:
    started = time.perf_counter()
    printer, logger = fill(
        env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio"), trials, lines, count
    )
    print(f"[{label}] filled in {time.perf_counter() - started:.0f} s", flush=True)
    ls = timed([KLEIO, "ls"], env, 5)
    print(
        f"[{label}] kleio ls over {trials:,} trials: {ls:.2f} s"
        + (" (target < 1 s)" if label == "sqlite" else "")
        + "; Guild AI: 4.1 s over 5,000 runs",
        flush=True,
    )
    cat = timed([KLEIO, "cat", printer[:12]], env, 3)
    print(f"[{label}] kleio cat of {lines:,} lines: {cat:.2f} s", flush=True)
    stats = timed([KLEIO, "stats", logger[:12], "--format", "json"], env, 3)
    print(
        f"[{label}] kleio stats --format json of {count:,} statistics: {stats:.2f} s "
        f"({count / stats:,.0f} statistics/s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--statistics", type=int, default=1_000_000)
    parser.add_argument("--wire-statistics", type=int, default=100_000)
    parser.add_argument("--mongodb", default=os.environ.get("KLEIO_TEST_MONGODB_URI"))
    args = parser.parse_args()

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KLEIO_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryDirectory() as folder:
        env = {**base, "KLEIO_HOME": folder, "KLEIO_DB_ADDRESS": str(Path(folder) / "kleio.db")}
        measure("sqlite", env, args.trials, args.lines, args.statistics)

        from tests.mongo_server import mongodb_or_wire

        with mongodb_or_wire(Path(folder), args.mongodb) as (label, address):
            measure(
                label,
                {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"},
                args.trials,
                args.lines,
                args.statistics if args.mongodb else args.wire_statistics,
            )


if __name__ == "__main__":
    main()
