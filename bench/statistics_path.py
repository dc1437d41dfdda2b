"""The statistics path, each figure beside the ceiling the stack allows, measured in this run.

    python bench/statistics_path.py [--calls N] [--long N] [--read N] [--wire-calls N]
                                    [--mongodb URI] [--parts writing,reading,round-trips]

Rows (functions ``bench/all.py`` can call with a scratch folder; each returns its lines):

- :func:`in_loop_and_durable`: ``log_statistic(step=i, loss=x, acc=y)`` calls per second in the loop
  of a script running as a trial, beside a bare ``def f(**kw): queue.append(kw)`` loop,
  for a burst of ``--calls`` (the most a loop may be ahead of the database) and over
  ``--long`` calls (then the loop waits for the writer);
  and statistics per second until all are durable (``flush()`` returned and
  every one counted in the store), beside the encoder plus SQLite ``executemany`` of the
  same rows in batches of the same size (and of one row per statistic, the layout before
  schema 3); and the script's peak RSS for ``--calls`` and
  for ``--long`` statistics (it must not grow with the volume);
- :func:`reading`: ``kleio stats ID --format json`` of ``--read`` statistics, beside a
  bare read of the same rows (each row's data decoded by orjson in one call), and its
  peak RSS;
  and ``kleio_logger.load_statistics()`` of the same statistics in a script, beside the
  same bare read;
- :func:`round_trips`: MongoDB commands (counted by a pymongo ``CommandListener``) of a
  ``log_statistic`` flush and of ``kleio stats``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

from logger import WORKER as LOGGER_WORKER  # noqa: E402 - bench/ is this script's folder

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"

BARE_LOOP = """
import json, sys, time
from collections import deque
count = int(sys.argv[1])
queue = deque()
def f(**kw):
    queue.append(kw)
started = time.perf_counter()
for i in range(count):
    f(step=i, loss=1.0 / (i + 1), acc=i / count)
print(json.dumps({"in_loop": count / (time.perf_counter() - started)}))
"""

#: The rows the writer makes, encoded and inserted as they are, in batches of its size:
#: rows of ROW_EVENTS statistics (their keys, times and data as three JSON arrays, each
#: written by orjson in one call). ``--one-per-row``: one row per statistic, encoded one
#: by one (the layout before schema 3), for comparison.
BARE_WRITE = """
import json, sqlite3, sys, time
import orjson
sys.path.insert(0, sys.argv[3])  # this repository's schema and encoder, whichever is measured
from kleio.codec import compact_texts
from kleio.store.sqlite.schema import EVENT_ROWS, ROW_EVENTS
count, path, one_per_row = int(sys.argv[1]), sys.argv[2], sys.argv[4:] == ["--one-per-row"]
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode = WAL"); db.execute("PRAGMA synchronous = NORMAL")
if one_per_row:
    db.execute("CREATE TABLE events (trial TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
               " time REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (trial, kind, key))"
               " WITHOUT ROWID")
else:
    for statement in EVENT_ROWS.split(";"):
        db.execute(statement)
values = [{"step": i, "loss": 1.0 / (i + 1), "acc": i / count} for i in range(count)]
keys = [f"{i:017d}.w.{i:012d}" for i in range(count)]
times = [1.0 + i for i in range(count)]
dumps = orjson.dumps
started = time.perf_counter()
for start in range(0, count, 5000):
    end = min(start + 5000, count)
    db.execute("BEGIN IMMEDIATE")
    if one_per_row:
        db.executemany("INSERT INTO events VALUES ('t', 'statistic', ?, ?, ?)",
                       zip(keys[start:end], times[start:end],
                           compact_texts(values[start:end])))
    else:
        rows = []
        for row in range(start, end, ROW_EVENTS):
            stop = min(row + ROW_EVENTS, end)
            rows.append((keys[row], keys[stop - 1], stop - row, dumps(keys[row:stop]).decode(),
                         dumps(times[row:stop]).decode(), dumps(values[row:stop]).decode()))
        db.executemany("INSERT INTO events VALUES ('t', 'statistic', ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
print(json.dumps({"rate": count / (time.perf_counter() - started)}))
"""

#: The same rows read back, each row's data (1,000 statistics) decoded by orjson in one
#: call.
BARE_READ = """
import json, sqlite3, sys, time
import orjson
path, trial = sys.argv[1], sys.argv[2]
started = time.perf_counter()
db = sqlite3.connect(path)
rows = db.execute("SELECT data FROM events WHERE trial = ? AND kind = 'statistic'"
                  " ORDER BY first_key", (trial,))
count = sum(len(orjson.loads(data)) for (data,) in rows)
print(json.dumps({"seconds": time.perf_counter() - started, "count": count}))
"""

LOADING = """
import json, resource, sys, time
from kleio.client.logger import kleio_logger
started = time.perf_counter()
count = len(kleio_logger.load_statistics())
print(json.dumps({"seconds": time.perf_counter() - started, "count": count,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

#: Counts the MongoDB commands of what follows it in the same process.
LISTENING = """
import collections, atexit, json, sys
from pymongo import monitoring
commands = collections.Counter()
class Listener(monitoring.CommandListener):
    def started(self, event):
        if event.command_name not in ("hello", "isMaster", "ismaster", "endSessions"):
            commands[event.command_name] += 1
    def succeeded(self, event): pass
    def failed(self, event): pass
monitoring.register(Listener())
"""

FLUSH_TRIPS = (
    LISTENING
    + """
from kleio.client.logger import kleio_logger as log
count = int(sys.argv[1])
log.log_statistic(step=-1)
assert log.flush()
commands.clear()
for i in range(count):
    log.log_statistic(step=i, loss=1.0 / (i + 1))
assert log.flush()
print(json.dumps(dict(commands)), flush=True)
"""
)

STATS_TRIPS = (
    LISTENING
    + """
import io, contextlib
from kleio.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["stats", sys.argv[1], "--format", "json"])
print(json.dumps(dict(commands)), file=sys.stderr, flush=True)
"""
)


def _run(code: str, *argv: str, env: dict[str, str], stream: str = "stdout") -> dict:
    # Run in the journal's folder: ``python -c`` puts its folder first on sys.path, and
    # the kleio measured is the one installed (or on PYTHONPATH), not one found there.
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env,
        capture_output=True,
        text=True,
        cwd=env["KLEIO_HOME"],
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(getattr(result, stream).strip().splitlines()[-1])


def _peak_rss_mb(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a command whose output goes to /dev/null."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, env=env, stdout=sink, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if process.returncode:
            errors.seek(0)
            raise SystemExit(errors.read().decode(errors="replace"))
    return seconds, usage.ru_maxrss / 1024


def environment(folder: Path) -> dict[str, str]:
    """An environment without KLEIO_* whose journal is ``folder/kleio.db``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KLEIO_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**base, "KLEIO_HOME": str(folder), "KLEIO_DB_ADDRESS": str(Path(folder) / "kleio.db")}


def _stored(env: dict[str, str], trial: str) -> int:
    from kleio.core.model.catalogue import open_journal

    with open_journal(env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")) as store:
        return store.count_events(trial, ["statistic"])


def in_loop_and_durable(folder: Path, calls: int = 100_000, long: int = 1_000_000) -> list[str]:
    """The in-loop and durable rows for a burst of ``calls`` (the most a loop may be
    ahead of the database), the same over ``long`` calls (the loop then waits for the
    writer), and the logging script's peak RSS for both."""
    env = environment(folder)
    runs = []
    for index, count in enumerate((calls, calls, long)):
        trial = f"bench{os.getpid()}loop{index}"
        figures = _run(LOGGER_WORKER, str(count), env={**env, "KLEIO_TRIAL_ID": trial})
        if _stored(env, trial) != count:
            raise SystemExit(f"{_stored(env, trial)} of {count} statistics stored")
        runs.append(figures)
    bare = max(_run(BARE_LOOP, str(calls), env=env)["in_loop"] for _ in range(2))
    ceiling, one_per_row = (
        _run(BARE_WRITE, str(calls), str(Path(folder) / f"bare{n}.db"), str(ROOT), *flag, env=env)[
            "rate"
        ]
        for n, flag in enumerate(((), ("--one-per-row",)))
    )
    in_loop = max(run["in_loop"] for run in runs[:2])
    end_to_end = max(run["end_to_end"] for run in runs[:2])
    return [
        f"log_statistic in the loop, SQLite ({calls:,} calls): {in_loop:,.0f} calls/s "
        f"(over {long:,}: {runs[2]['in_loop']:,.0f}/s); ceiling (def f(**kw): "
        f"queue.append(kw)) {bare:,.0f}/s, ratio {in_loop / bare:.2f}",
        f"statistics durable end-to-end, SQLite ({calls:,}): {end_to_end:,.0f}/s "
        f"(over {long:,}: {runs[2]['end_to_end']:,.0f}/s); ceiling (encoder + executemany "
        f"of the same rows) {ceiling:,.0f}/s, ratio {end_to_end / ceiling:.2f} (one row per "
        f"statistic, the layout before: {one_per_row:,.0f}/s)",
        f"peak RSS of the logging script: {runs[0]['rss_mb']:.0f} MB for {calls:,} "
        f"statistics, {runs[2]['rss_mb']:.0f} MB for {long:,}",
    ]


def fill_statistics(env: dict[str, str], count: int) -> str:
    """A trial with ``count`` statistics (and one execution), as kleio writes them."""
    from kleio.core.model.catalogue import open_journal
    from kleio.core.model.journal import EventWriter
    from kleio.core.model.trial import TrialSpec, new_trial_document

    writer = EventWriter()
    document = new_trial_document(
        TrialSpec("bench", ("python", "train.py"), {}),
        status="completed",
        tags=[],
        cwd="/home/user/bench",
        version={"type": "none"},
        environment={},
        code_identity="none",
        environment_identity="e",
        executions=1,
    )
    trial = document["_id"]
    with open_journal(env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")) as store:
        store.create_trial(document)
        store.append_events(
            [writer.event(trial, "execution", {"phase": "start", "number": 1, "start": 0.0})]
        )
        for start in range(0, count, 10_000):
            store.append_events(
                writer.events(
                    trial,
                    [
                        ("statistic", time.time(), {"step": i, "loss": 1.0 / (i + 1), "acc": 0.5})
                        for i in range(start, min(start + 10_000, count))
                    ],
                )
            )
    return trial


def reading(folder: Path, count: int = 1_000_000) -> list[str]:
    """The ``kleio stats --format json`` and ``load_statistics()`` rows."""
    env = environment(folder)
    trial = fill_statistics(env, count)
    bare = min(
        _run(BARE_READ, env["KLEIO_DB_ADDRESS"], trial, str(ROOT), env=env)["seconds"]
        for _ in range(2)
    )
    read = "bare read, each row's data decoded by orjson"
    stats = [_peak_rss_mb([KLEIO, "stats", trial, "--format", "json"], env) for _ in range(2)]
    seconds, rss = min(stats)
    loads = [_run(LOADING, env={**env, "KLEIO_TRIAL_ID": trial}) for _ in range(2)]
    if any(load["count"] != count for load in loads):
        raise SystemExit(f"load_statistics() gave {loads[0]['count']} of {count}")
    load = min(loads, key=lambda figures: figures["seconds"])
    return [
        f"kleio stats --format json of {count:,} statistics: {seconds:.2f} s, peak RSS "
        f"{rss:.0f} MB; ceiling ({read}) {bare:.2f} s, ratio {seconds / bare:.1f}",
        f"load_statistics() of {count:,} statistics: {load['seconds']:.2f} s (peak RSS "
        f"{load['rss_mb']:.0f} MB); ceiling ({read}) {bare:.2f} s, "
        f"ratio {load['seconds'] / bare:.1f}",
    ]


def round_trips(folder: Path, mongodb: str | None = None, calls: int = 20_000) -> list[str]:
    """MongoDB commands of a flush of ``calls`` statistics and of ``kleio stats``."""
    from tests.mongo_server import mongodb_or_wire

    env = environment(folder)
    with mongodb_or_wire(Path(folder), mongodb) as (label, address):
        env = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"}
        trial = fill_statistics(env, 1)
        flush = _run(FLUSH_TRIPS, str(calls), env={**env, "KLEIO_TRIAL_ID": trial})
        stats = _run(STATS_TRIPS, trial, env=env, stream="stderr")
    total = calls + 1
    return [
        f"[{label}] round trips of a log_statistic flush of {calls:,} statistics: "
        f"{sum(flush.values())} ({_named(flush)})",
        f"[{label}] round trips of kleio stats of {total:,} statistics: "
        f"{sum(stats.values())} ({_named(stats)})",
    ]


def _named(commands: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(commands.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--long", type=int, default=1_000_000)
    parser.add_argument("--read", type=int, default=1_000_000)
    parser.add_argument("--wire-calls", type=int, default=20_000)
    parser.add_argument("--mongodb", default=os.environ.get("KLEIO_TEST_MONGODB_URI"))
    parser.add_argument("--parts", default="writing,reading,round-trips")
    args = parser.parse_args()
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if "writing" in parts:
            for line in in_loop_and_durable(folder / "writing", args.calls, args.long):
                print(line, flush=True)
        if "reading" in parts:
            for line in reading(folder / "reading", args.read):
                print(line, flush=True)
        if "round-trips" in parts:
            for line in round_trips(folder / "trips", args.mongodb, args.wire_calls):
                print(line, flush=True)


if __name__ == "__main__":
    main()
