"""How fast the reading commands are on a large journal.

    python bench/reading.py [--parts listing,comparing,grouping] [--trials N] [--lines N]
                            [--statistics N] [--compare-trials N] [--compare-statistics N]
                            [--artifact-mb N] [--mongodb URI]

Fills a journal with N trials (documents as ``kleio`` writes them, environment and all),
one trial with 1,000,000 lines of output and one with 1,000,000 statistics, then times
the real commands (median of several runs, output to /dev/null):

- ``kleio ls`` over the N trials (target: 10,000 in under 1 s on SQLite);
- ``kleio cat`` of the 1,000,000-line trial;
- ``kleio stats --format json`` of the 1,000,000 statistics;

on SQLite and on the MongoDB wire backend (nx-27017, with fewer statistics: it is far
slower than MongoDB; or ``--mongodb URI``). For reference, Guild AI's ``guild runs -a``
took 4.1 s over 5,000 runs on such a machine.

Then, in a journal of its own (``--parts comparing``), 1,000 trials of 1,000 statistics
each (1,000,000 events, summarised as they are written):

- ``kleio compare --sort loss:min`` (target: under 0.5 s on SQLite);
- ``kleio compare --group-by lr`` over the same trials, 100 learning rates x 10 seeds,
  beside the plain compare in the same run (target: under 0.5 s on SQLite;
  ``--parts grouping`` prints these two lines alone);
- ``kleio export`` of them all and ``kleio import`` into an empty journal;
- ``kleio rm`` and ``kleio gc`` of a trial with a 200 MB artifact: the database file
  should come back within 5 % of its size before that trial (SQLite).
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

from kleio.core.model.artifacts import put_artifact  # noqa: E402
from kleio.core.model.catalogue import open_journal  # noqa: E402
from kleio.core.model.journal import EventWriter  # noqa: E402
from kleio.core.model.printed import CHUNK, output_data  # noqa: E402
from kleio.core.model.trial import TrialSpec, new_trial_document  # noqa: E402

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"


def realistic_document(index: int, lr: float | None = None, seed: int | None = None) -> dict:
    """A trial document as ``kleio`` writes it; its learning rate and seed are
    ``index / 1000`` and ``index`` unless given."""
    lr = index / 1000 if lr is None else lr
    seed = index if seed is None else seed
    spec = TrialSpec(
        "bench",
        ("python", "train.py", "--lr", str(lr), "--seed", str(seed)),
        {"lr": lr, "seed": seed},
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
    with open_journal(address, name) as store:
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


#: The seeds of each learning rate of the sweep: a study of ``trials / SEEDS`` points.
SEEDS = 10


def fill_sweep(address: str, name: str, trials: int, count: int) -> list[str]:
    """``trials`` trials of ``count`` statistics each, ``trials / SEEDS`` learning
    rates each run with :data:`SEEDS` seeds; their ids."""
    writer = EventWriter()
    ids = []
    with open_journal(address, name) as store:
        for index in range(trials):
            point, seed = divmod(index, SEEDS)
            document = realistic_document(index, lr=(point + 1) / 1000, seed=seed)
            store.create_trial(document)
            ids.append(document["_id"])
            rate = 0.001 + index / trials
            store.append_events(
                writer.events(
                    document["_id"],
                    [
                        (
                            "statistic",
                            time.time(),
                            {"epoch": i, "loss": rate / (i + 1), "acc": 1 - rate / (i + 1)},
                        )
                        for i in range(count)
                    ],
                )
            )
    return ids


def _on_disk(address: str) -> int:
    return sum(os.path.getsize(p) for p in (address, f"{address}-wal") if os.path.exists(p))


def measure_grouping(label: str, env: dict[str, str], trials: int, count: int) -> None:
    """``kleio compare --group-by lr`` beside plain ``kleio compare`` on the same journal,
    their runs alternating (machine noise hits both alike): what grouping adds."""
    grouped_argv = [KLEIO, "compare", "--group-by", "lr", "--sort", "loss:last:mean"]
    plain, grouped = [], []
    for _ in range(5):
        plain.append(timed([KLEIO, "compare", "--sort", "loss:min"], env, 1))
        grouped.append(timed(grouped_argv, env, 1))
    print(
        f"[{label}] over {trials:,} trials x {count:,} statistics "
        f"({trials // SEEDS:,} learning rates x {SEEDS} seeds), median of 5: "
        f"kleio compare --group-by lr --sort loss:last:mean {statistics.median(grouped):.2f} s"
        f" beside kleio compare --sort loss:min {statistics.median(plain):.2f} s"
        + (" (target: group-by < 0.5 s)" if label == "sqlite" else ""),
        flush=True,
    )


def measure_comparing(
    label: str,
    env: dict[str, str],
    trials: int,
    count: int,
    artifact_mb: int,
    only_compare: bool = False,
) -> None:
    address, name = env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")
    started = time.perf_counter()
    fill_sweep(address, name, trials, count)
    print(
        f"[{label}] filled {trials:,} trials x {count:,} statistics "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    compare = timed([KLEIO, "compare", "--sort", "loss:min"], env, 5)
    print(
        f"[{label}] kleio compare --sort loss:min over {trials:,} trials x {count:,} "
        f"statistics: {compare:.2f} s" + (" (target < 0.5 s)" if label == "sqlite" else ""),
        flush=True,
    )
    measure_grouping(label, env, trials, count)
    if only_compare:
        return
    with tempfile.TemporaryDirectory() as folder:
        archive = str(Path(folder) / "all.tar")
        exported = timed([KLEIO, "export", "-o", archive], env, 1)
        target = {**env, "KLEIO_DB_ADDRESS": str(Path(folder) / "imported.db")}
        imported = timed([KLEIO, "import", archive], target, 1)
        print(
            f"[{label}] kleio export of {trials:,} trials, {trials * count:,} events: "
            f"{exported:.1f} s ({os.path.getsize(archive) / 2**20:,.0f} MB); kleio import "
            f"into SQLite: {imported:.1f} s; together {exported + imported:.1f} s",
            flush=True,
        )
    if label != "sqlite" or not artifact_mb:
        return
    timed([KLEIO, "gc"], env, 1)
    before = _on_disk(address)
    document = realistic_document(-3)
    big = document["_id"]
    with open_journal(address, name) as store:
        store.create_trial(document)
        source = (os.urandom(1 << 20) for _ in range(artifact_mb))
        put_artifact(store, big, "weights.bin", source, {}, time.time())
    grown = _on_disk(address)
    removed = timed([KLEIO, "rm", big, "--yes"], env, 1)
    collected = timed([KLEIO, "gc"], env, 1)
    after = _on_disk(address)
    print(
        f"[{label}] a {artifact_mb} MB artifact: database {before / 2**20:,.1f} MB -> "
        f"{grown / 2**20:,.1f} MB; kleio rm {removed:.1f} s, kleio gc {collected:.1f} s -> "
        f"{after / 2**20:,.1f} MB ({100 * (after - before) / before:+.1f} %, target within 5 %)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--statistics", type=int, default=1_000_000)
    parser.add_argument("--wire-statistics", type=int, default=100_000)
    parser.add_argument("--mongodb", default=os.environ.get("KLEIO_TEST_MONGODB_URI"))
    parser.add_argument("--parts", default="listing,comparing")
    parser.add_argument("--compare-trials", type=int, default=1000)
    parser.add_argument("--compare-statistics", type=int, default=1000)
    # nx-27017 answers these queries by scanning: 1,000 trials would take minutes.
    parser.add_argument("--wire-compare-trials", type=int, default=200)
    parser.add_argument("--wire-compare-statistics", type=int, default=100)
    parser.add_argument("--artifact-mb", type=int, default=200)
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KLEIO_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    from tests.mongo_server import mongodb_or_wire

    with tempfile.TemporaryDirectory() as folder:
        env = {**base, "KLEIO_HOME": folder, "KLEIO_DB_ADDRESS": str(Path(folder) / "kleio.db")}
        if "listing" in parts:
            measure("sqlite", env, args.trials, args.lines, args.statistics)
            with mongodb_or_wire(Path(folder), args.mongodb) as (label, address):
                measure(
                    label,
                    {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"},
                    args.trials,
                    args.lines,
                    args.statistics if args.mongodb else args.wire_statistics,
                )
        if parts & {"comparing", "grouping"}:
            only = "comparing" not in parts  # grouping: the two compare lines alone
            sweep = {**env, "KLEIO_DB_ADDRESS": str(Path(folder) / "sweep.db")}
            measure_comparing(
                "sqlite",
                sweep,
                args.compare_trials,
                args.compare_statistics,
                args.artifact_mb,
                only,
            )
            with mongodb_or_wire(Path(folder), args.mongodb) as (label, address):
                measure_comparing(
                    label,
                    {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench_sweep"},
                    args.compare_trials if args.mongodb else args.wire_compare_trials,
                    args.compare_statistics if args.mongodb else args.wire_compare_statistics,
                    args.artifact_mb,
                    only,
                )


if __name__ == "__main__":
    main()
