"""Every figure of Kleio's speed, each beside the ceiling the stack allows, in one run.

    python bench/all.py [--quick] [--mongodb URI] [--only ROW,ROW]
    python bench/all.py --scale [bench/scale.py's options]

Measures on SQLite, then on the MongoDB wire backend (nx-27017 started here, or the
MongoDB at ``--mongodb``) where a row applies, and prints one line per row: Kleio's
figure, the ceiling measured in the same run on this machine (what Python, SQLite or
pymongo do bare), their ratio, and the target. Bare and Kleio runs alternate, so that
machine noise hits both alike. About 2 minutes on 2 cores (``--quick``: 1 minute, fewer
runs and smaller volumes, for a smoke test).

Rows (``--only`` takes their names):

- ``startup``: ``kleio python -c pass`` over ``python -c pass`` (median of the paired
  differences), ``kleio --version`` over ``python -c pass``;
- ``lines``: a script printing 1,000,000 lines under ``kleio`` / bare, both with
  Python's default buffering, output to /dev/null; and ``kleio``'s peak resident memory
  meanwhile (``ru_maxrss`` of the finished process);
- ``statistics``: ``log_statistic`` in the loop and durable end to end, ``kleio stats
  --format json`` and ``load_statistics()`` of 1,000,000 statistics;
- ``ls``: ``kleio ls`` over 10,000 trials, against ``python`` reading the same fields of
  the same rows bare (on SQLite, the listing kept beside each document; on MongoDB, a
  projection of the listed fields, all in one batch);
- ``groups``: ``kleio compare --group-by lr`` over 1,000 trials (100 learning rates x
  10 seeds) of 1,000 statistics each, against plain ``kleio compare`` of them;
- ``roundtrips``: the MongoDB commands of ``kleio python -c pass`` and ``kleio ls``, and
  the start-up with 20 ms per round trip (``bench/roundtrips.py``); those of a
  ``log_statistic`` flush and of ``kleio stats`` (``bench/statistics_path.py``);
- ``inprocess``: a script's ``kleio.start()`` and ``end()`` over ``python -c "import
  kleio"`` (``bench/inprocess.py``);
- ``sweep``: counting and expanding the 10,000 commands of ``kleio sweep ... --a
  'range(100)' --b 'range(100)'``, against itertools.product of the same values
  (``bench/sweep.py``).

``--scale`` measures instead the rows of a journal a hundred times larger (100,000
trials x 100 statistics and a trial of 10,000,000 points, made by ``bench/journal.py``
from a seed it prints): curves, plots, listings, comparisons, round trips, durable
statistics and size on disk, each beside its ceiling, on SQLite and on the wire backend
(``bench/scale.py``, which takes the options that follow: ``--quick``, ``--only``,
``--stores``, ``--cache``...). The journals take minutes to write: ``--cache DIR``
keeps them for the next run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

import inprocess  # noqa: E402 - bench/ is this script's folder
import roundtrips  # noqa: E402
from common import row, scratch_project  # noqa: E402
from memory import peak  # noqa: E402
from reading import SEEDS, fill_sweep, realistic_document  # noqa: E402

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"
PYTHON = sys.executable
PRINTER = "for i in range({lines}):\n    print(i)\n"


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak resident MB) of ``argv``, its output to /dev/null."""
    megabytes, seconds = peak(argv, env, cwd)
    return seconds, megabytes


def paired(
    bare: Callable[[int], list[str]], kleio: Callable[[int], list[str]], env, cwd, runs: int
) -> tuple[list[float], list[float], list[float]]:
    """Alternating runs: (bare seconds, kleio seconds, kleio peak MB)."""
    bares, kleios, peaks = [], [], []
    for index in range(runs):
        first, second = (bare, kleio) if index % 2 else (kleio, bare)
        for which in (first, second):
            seconds, peak = run(which(index), env, cwd)
            if which is bare:
                bares.append(seconds)
            else:
                kleios.append(seconds)
                peaks.append(peak)
    return bares, kleios, peaks


# -- rows -----------------------------------------------------------------------------
def startup(label: str, env: dict[str, str], cwd: Path, runs: int) -> float:
    """Prints the start-up rows; returns the added start-up in seconds."""
    run([KLEIO, PYTHON, "-c", "pass", "warm-up"], env, cwd)  # database, environment cache
    bare, kleio, _ = paired(
        lambda i: [PYTHON, "-c", "pass"],
        lambda i: [KLEIO, PYTHON, "-c", "pass", label, str(i)],
        env,
        cwd,
        runs,
    )
    added = statistics.median(k - b for k, b in zip(kleio, bare, strict=True))
    print(
        f"[{label}] added start-up, kleio python -c pass over python -c pass (median of "
        f"{runs}): {added * 1000:.0f} ms (python -c pass itself "
        f"{statistics.median(bare) * 1000:.0f} ms, the ceiling adds 0; target <= 50 ms)",
        flush=True,
    )
    if label != "sqlite":
        return added
    start = added
    bare, version, _ = paired(
        lambda i: [PYTHON, "-c", "pass"], lambda i: [KLEIO, "--version"], env, cwd, runs
    )
    added = statistics.median(k - b for k, b in zip(version, bare, strict=True))
    print(
        f"[{label}] kleio --version over python -c pass: {added * 1000:.0f} ms "
        "(ceiling 0; target <= 25 ms)",
        flush=True,
    )
    return start


def lines(
    label: str, env: dict[str, str], cwd: Path, runs: int, count: int, start: float | None
) -> None:
    """The user's default buffering on both sides: PYTHONUNBUFFERED unset. ``start``
    (the added start-up measured in this run) is also taken off Kleio's time: what
    printing costs under Kleio, apart from starting."""
    env = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
    script = cwd / "printer.py"
    script.write_text(PRINTER.format(lines=count))
    bare, kleio, peaks = paired(
        lambda i: [PYTHON, str(script), str(i)],
        lambda i: [KLEIO, PYTHON, str(script), label, str(i)],
        env,
        cwd,
        runs,
    )
    row(
        label,
        f"{count:,} printed lines, under kleio / bare (default buffering)",
        statistics.median(kleio),
        statistics.median(bare),
        "s",
        "<= 1.15",
    )
    if start is not None:
        printing = statistics.median(kleio) - start
        print(
            f"[{label}] the same, Kleio's added start-up ({start:.2f} s) taken off: "
            f"ratio {printing / statistics.median(bare):.2f}",
            flush=True,
        )
    baseline = run([KLEIO, PYTHON, "-c", "pass", label, "memory"], env, cwd)[1]
    print(
        f"[{label}] kleio's peak resident memory printing {count:,} lines: "
        f"{max(peaks):.0f} MB (kleio python -c pass: {baseline:.0f} MB; must not grow "
        "with the output, see bench/memory.py)",
        flush=True,
    )


_BARE_SQLITE = """\
import json, sqlite3, sys
fields = json.loads(sys.argv[2])
(text,) = sqlite3.connect(sys.argv[1]).execute(
    "SELECT '[' || group_concat(listing, ',') || ']'"
    " FROM (SELECT id, created, listing FROM trials ORDER BY created DESC, id)").fetchone()
for document in json.loads(text or "[]"):
    print(document["_id"][:7], *(document.get(f) for f in fields))
"""
_BARE_MONGO = """\
import json, sys, pymongo
fields = json.loads(sys.argv[3])
client = pymongo.MongoClient(sys.argv[1])
for document in client[sys.argv[2]].trials.find({}, dict.fromkeys(fields, 1)).sort(
        [("created", -1), ("_id", 1)]).batch_size(1_000_000):
    print(document["_id"][:7], *(document.get(f) for f in fields))
client.close()
"""


def listing(label: str, env: dict[str, str], cwd: Path, runs: int, trials: int) -> None:
    """``kleio ls`` against a bare read and print of what it shows, by the same driver."""
    from kleio.core.model.catalogue import LISTED_FIELDS, open_journal

    address, name = env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")
    started = time.perf_counter()
    with open_journal(address, name) as store:
        for index in range(trials):
            store.create_trial(realistic_document(index))
    filled = time.perf_counter() - started
    fields = list(LISTED_FIELDS)
    if label == "sqlite":  # the listing SQLite keeps of each trial, as kleio ls reads it
        ceiling = [PYTHON, "-c", _BARE_SQLITE, address, json.dumps(fields)]
    else:
        ceiling = [PYTHON, "-c", _BARE_MONGO, address, name, json.dumps(fields)]
    bare, kleio, _ = paired(lambda i: ceiling, lambda i: [KLEIO, "ls"], env, cwd, runs)
    row(
        label,
        f"kleio ls over {trials:,} trials (filled in {filled:.0f} s)",
        statistics.median(kleio),
        statistics.median(bare),
        "s",
        "<= 0.15 s" if label == "sqlite" else "none",
    )


def groups(label: str, env: dict[str, str], cwd: Path, runs: int, trials: int, count: int):
    """``kleio compare --group-by lr`` over a study of ``trials`` trials (``SEEDS`` seeds
    a learning rate) of ``count`` statistics each, against plain ``kleio compare`` of the
    same trials: what grouping adds to comparing (the groups come from the summaries
    compare reads, never from the statistics)."""
    address, name = env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")
    started = time.perf_counter()
    fill_sweep(address, name, trials, count)
    filled = time.perf_counter() - started
    bare, grouped, _ = paired(
        lambda i: [KLEIO, "compare", "--sort", "loss:min"],
        lambda i: [KLEIO, "compare", "--group-by", "lr", "--sort", "loss:last:mean"],
        env,
        cwd,
        runs,
    )
    row(
        label,
        f"kleio compare --group-by lr over {trials:,} trials ({trials // SEEDS:,} x "
        f"{SEEDS} seeds) x {count:,} statistics, ceiling kleio compare (filled in "
        f"{filled:.0f} s)",
        statistics.median(grouped),
        statistics.median(bare),
        "s",
        "<= 0.5 s" if label == "sqlite" else "none",
    )


def statistics_rows(label: str, env: dict[str, str], folder: Path, count: int) -> None:
    """The statistics rows, each beside its ceiling: on SQLite, bench/statistics_path.py's
    (in the loop, durable, ``kleio stats`` and ``load_statistics()`` of ``count``); on
    the wire backend, bench/logger.py's (in the loop and durable)."""
    if label != "sqlite":
        import logger

        logger.measure(label, env, count)
        return
    import statistics_path

    for line in [
        *statistics_path.in_loop_and_durable(folder / "writing", count // 10, count),
        *statistics_path.reading(folder / "reading", count),
    ]:
        print(line, flush=True)


def round_trips(label: str, address: str, env: dict[str, str], cwd: Path, runs: int) -> None:
    roundtrips.measure(label, address, env, cwd, runs, 20.0)


def in_process(label: str, env: dict[str, str], cwd: Path, runs: int) -> None:
    median = inprocess.measure(env, cwd, runs)
    added = median["trial"] - median["import"]
    print(
        f"[{label}] kleio.start()+end() over import kleio (median of {runs}): {added:.0f} ms "
        f"(import kleio {median['import']:.0f} ms, python -c pass {median['bare']:.0f} ms; "
        "target <= 100 ms)",
        flush=True,
    )


ROWS = ("startup", "lines", "statistics", "ls", "groups", "roundtrips", "inprocess", "sweep")


def main() -> None:
    if "--scale" in sys.argv[1:]:
        import scale

        scale.main([word for word in sys.argv[1:] if word != "--scale"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller volumes")
    parser.add_argument("--mongodb", help="a MongoDB address instead of nx-27017")
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows among {', '.join(ROWS)}")
    args = parser.parse_args()
    only = set(args.only.split(","))
    quick = args.quick
    runs = 5 if quick else 15
    volume = 100_000 if quick else 1_000_000
    began = time.perf_counter()
    from tests.mongo_server import mongodb_or_wire

    with tempfile.TemporaryDirectory() as folder:
        # As a user's shell has it: compiled modules cached, Python's output buffered.
        work, env = scratch_project(
            Path(folder), without=("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
        )
        sqlite = {**env, "KLEIO_DB_ADDRESS": str(Path(folder) / "home" / "kleio.db")}
        with mongodb_or_wire(Path(folder), args.mongodb) as (wire, address):
            far = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"}
            stores = [("sqlite", sqlite), (wire, far)]
            starts: dict[str, float] = {}
            if "startup" in only:
                for label, store_env in stores:
                    starts[label] = startup(label, store_env, work, runs)
            if "inprocess" in only:
                for label, store_env in stores:
                    in_process(label, store_env, work, runs)
            if "lines" in only:
                for label, store_env in stores:
                    lines(label, store_env, work, 3 if quick else 5, volume, starts.get(label))
            if "statistics" in only:
                statistics_rows("sqlite", sqlite, Path(folder) / "statistics", volume)
                statistics_rows(wire, far, Path(folder) / "statistics", volume // 10)
            if "ls" in only:
                listed = {**sqlite, "KLEIO_DB_ADDRESS": str(Path(folder) / "ls.db")}
                listing("sqlite", listed, work, runs // 3, 10_000)
                listing(wire, {**far, "KLEIO_DB_NAME": "ls"}, work, 3, 1_000 if quick else 2_000)
            if "groups" in only:
                study = {**sqlite, "KLEIO_DB_ADDRESS": str(Path(folder) / "groups.db")}
                groups("sqlite", study, work, runs // 3, 1_000, 100 if quick else 1_000)
                groups(wire, {**far, "KLEIO_DB_NAME": "groups"}, work, 3, 200, 100)
            if "roundtrips" in only:
                round_trips(wire, address, env, work, 3 if quick else 9)
                import statistics_path

                trips = Path(folder) / "statistics-trips"
                for line in statistics_path.round_trips(trips, args.mongodb, 20_000):
                    print(line, flush=True)
    if "sweep" in only:
        import sweep

        for line in sweep.measure(3 if quick else 7):
            print(f"[grammar] {line}", flush=True)
    print(f"all rows in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
