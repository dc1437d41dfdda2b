"""Kleio at scale: each target of a journal of 100,000 trials and 20 million statistics,
beside its ceiling measured in the same run, on SQLite and on the MongoDB wire backend.

    python bench/scale.py [--quick] [--trials N] [--statistics M] [--long N] [--seed S]
                          [--stores sqlite,wire] [--mongodb URI] [--only ROW,ROW]
                          [--cache DIR] [--wire-trials N] [--wire-long N] [--runs N]
                          [--code DIR]
    python bench/all.py --scale [the same options]

Writes the journal of ``bench/journal.py`` (``--seed``; 100,000 trials x 100 statistics
and one trial of 10,000,000 points; ``--quick``: 10,000 x 100 and 1,000,000) on each
store, or copies it from ``--cache`` (made once per seed, sizes and store code), prints
the seed and the sizes, then one line per row: Kleio's figure, the ceiling, their ratio
and the target. Every figure is measured through what a user runs (the ``kleio``
command, the dashboard's HTTP API) and every ceiling through the bare driver (sqlite3,
pymongo) on tables this script fills from the store contract's reads, so that the rows
hold whatever layout the store chooses. Rows (``--only`` takes their names):

- ``curve``: the dashboard's first request (``kleio ui`` just started) for the long
  trial's ``loss`` at 1,000 pixel columns (``/api/series?...&points=1000``); ceiling:
  reading 2,000 rows of block summaries (1,000 columns x 2 levels) bare, in one query;
- ``plot``: ``kleio plot ID --y loss`` of the long trial (terminal), and ``-o
  curve.png`` if matplotlib is installed; ceiling: a script reading the same 2,000 rows
  bare and printing (or drawing with matplotlib) 1,000 points;
- ``page``: ``kleio ls -n 50`` and the dashboard's first trials page
  (``/api/trials?offset=0&limit=50``, as its page asks, first request of a fresh
  server); ceiling: the 50 newest rows of the listed fields, bare, through an index on
  ``created`` (a script for ``ls``, in this process for the page);
- ``compare``: ``kleio compare --sort loss:min -n 20``; ceiling: the 20 rows of smallest
  ``loss:min`` through an index, bare;
- ``ls``: ``kleio ls`` of every trial; ceiling: every row of the listed fields, bare;
- ``roundtrips`` (MongoDB only): the commands ``kleio python`` sends before the script
  starts (a pymongo ``CommandListener`` in the ``kleio`` process, against the time the
  script starts), and the start-up added by 2 ms and 20 ms per round trip (the delaying
  proxy of ``bench/roundtrips.py``); ceiling: a bare pymongo script that connects and
  inserts one document, counted and delayed alike;
- ``durable`` (SQLite only): statistics durable end to end, bench/statistics_path.py's
  rows (the ceiling: its encoder + ``executemany`` of the same rows);
- ``size``: bytes on disk per million statistics (the long trial's, the file after a
  checkpoint; nx-27017: its database file; MongoDB: ``dbStats``); ceiling: a bare table
  (collection) of the same ``step``, ``loss``, ``acc`` as numbers.

The wire stand-in is slower to fill than SQLite by far (one Python process answering
every command: 1,300 statistics/s where SQLite takes 175,000, on 2 busy cores):
unless ``--wire-trials`` / ``--wire-long`` say otherwise, it holds 2,000 trials and a
long trial of 200,000 points (500 and 20,000 with ``--quick``), about 5 minutes to
write, printed on its lines. A real MongoDB (``--mongodb``) gets the full sizes.
Slow commands run once, quick ones ``--runs`` times (median). The rows ``page``,
``compare`` and ``ls`` give the processor time (user and system) beside the clock's: on
cores shared with other work, the clock alone says little. ``--code DIR`` times another
version's commands and dashboard (its ``kleio`` package in ``DIR``, for instance a ``git
archive`` of main) on the journal this version writes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package
sys.path.insert(0, str(Path(__file__).resolve().parent))

import journal  # noqa: E402 - bench/ is this script's folder
from common import row, scratch_project  # noqa: E402

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"
PYTHON = sys.executable
ROWS = ("curve", "plot", "page", "compare", "ls", "roundtrips", "durable", "size")
#: The curve's width in pixel columns, and the levels of block summaries a read of it
#: may touch (blocks of 1,000 and of 100,000 points).
WIDTH, LEVELS = 1_000, 2
#: A command slower than this (seconds) runs once.
SLOW = 5.0
#: The wire stand-in's default sizes (full, quick): see the module documentation.
WIRE = journal.Sizes(2_000, 100, 200_000)
WIRE_QUICK = journal.Sizes(500, 100, 20_000)


#: Processor seconds (user and system) of each run of each command, by its argv: on two
#: cores shared with other work the clock alone says little.
PROCESSOR: dict[tuple[str, ...], list[float]] = {}


def processor(argv: list[str]) -> str:
    """The median processor time of the runs of ``argv``, for a row's figure."""
    return f"{statistics.median(PROCESSOR[tuple(argv)]):.3g} s of processor"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds ``argv`` took, its output to /dev/null; its error if it failed. Its
    processor time goes to :data:`PROCESSOR`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    PROCESSOR.setdefault(tuple(argv), []).append(
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
    return seconds


def median_runs(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """The median of ``runs`` runs, or the one run of a command slower than :data:`SLOW`."""
    first = timed(argv, env, cwd)
    if first > SLOW or runs <= 1:
        return first
    return statistics.median([first, *(timed(argv, env, cwd) for _ in range(runs - 1))])


def paired_runs(kleio, bare, env, cwd, runs: int) -> tuple[float, float]:
    """(kleio, bare) medians, their runs alternating so that noise hits both alike; a
    Kleio command slower than :data:`SLOW` runs once."""
    kleios, bares = [timed(kleio, env, cwd)], [timed(bare, env, cwd)]
    if kleios[0] <= SLOW:
        for _ in range(runs - 1):
            kleios.append(timed(kleio, env, cwd))
            bares.append(timed(bare, env, cwd))
    else:
        bares += [timed(bare, env, cwd) for _ in range(runs - 1)]
    return statistics.median(kleios), statistics.median(bares)


# -- the bare copies the ceilings read -------------------------------------------------
class Bare:
    """The listed fields and ``loss:min`` of every trial, and block summaries of a curve,
    in a bare SQLite file or MongoDB database beside the journal: what the ceilings read
    with the driver alone, through indexes on ``created`` and ``loss_min``."""

    def __init__(self, kind: str, where: str, name: str | None = None):
        self.kind, self.where, self.name = kind, where, name

    def fill(self, rows: list[tuple[str, float, str, float | None]], long: int) -> None:
        """``rows``: (id, created, listed fields as JSON, loss:min); the blocks of a
        curve of ``long`` points at 1,000 and 100,000 points a block (their values made
        up: a ceiling measures the read, not the values)."""
        blocks = [
            (level, n, 1.0 / (n + 1), 1.0 / (n + 2), 0.5 / (n + 1), 2.0 / (n + 1))
            for level, size in ((0, 1_000), (1, 100_000))
            for n in range(max(WIDTH, -(-long // size)))
        ]
        if self.kind == "sqlite":
            db = sqlite3.connect(self.where)
            db.execute(
                "CREATE TABLE trials (id TEXT PRIMARY KEY, created REAL, listing TEXT,"
                " loss_min REAL)"
            )
            db.execute("CREATE INDEX newest ON trials (created DESC, id)")
            db.execute("CREATE INDEX smallest ON trials (loss_min, id)")
            db.executemany("INSERT INTO trials VALUES (?, ?, ?, ?)", rows)
            db.execute(
                "CREATE TABLE blocks (level INTEGER, n INTEGER, first REAL, last REAL,"
                " min REAL, max REAL, PRIMARY KEY (level, n)) WITHOUT ROWID"
            )
            db.executemany("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?)", blocks)
            db.commit()
            db.close()
            return
        import pymongo

        client = pymongo.MongoClient(self.where)
        database = client[self.name]
        database.trials.drop()
        database.blocks.drop()
        database.trials.create_index([("created", -1)])
        database.trials.create_index([("loss_min", 1)])
        for start in range(0, len(rows), 10_000):
            database.trials.insert_many(
                [
                    {"_id": i, "created": c, "listing": listing, "loss_min": m}
                    for i, c, listing, m in rows[start : start + 10_000]
                ]
            )
        database.blocks.create_index([("level", 1), ("n", 1)])
        names = ("level", "n", "first", "last", "min", "max")
        database.blocks.insert_many([dict(zip(names, b, strict=True)) for b in blocks])
        client.close()

    def script(self, query: str) -> list[str]:
        """A bare script printing the rows of ``query`` (``newest``, ``all``, ``smallest``,
        ``curve``, ``png``), as argv."""
        return [PYTHON, "-c", _BARE_SCRIPT, self.kind, self.where, self.name or "", query]

    def read(self, query: str) -> float:
        """Seconds the same read takes in this process, connection included."""
        started = time.perf_counter()
        namespace = {"__name__": "bare"}
        exec(_BARE_READ, namespace)
        namespace["read"](self.kind, self.where, self.name, query)
        return time.perf_counter() - started


#: Reads of the bare copy: ``read(kind, where, name, query)``, the rows as text.
_BARE_READ = """
import json
def read(kind, where, name, query):
    if kind == "sqlite":
        import sqlite3
        db = sqlite3.connect(where)
        sql = {
            "newest": "SELECT id, listing FROM trials ORDER BY created DESC, id LIMIT 50",
            "all": "SELECT id, listing FROM trials ORDER BY created DESC, id",
            "smallest": "SELECT id, listing FROM trials WHERE loss_min IS NOT NULL"
            " ORDER BY loss_min, id LIMIT 20",
            "curve": "SELECT n, first, last, min, max FROM blocks WHERE level = 0"
            " AND n < 1000 UNION ALL SELECT n, first, last, min, max FROM blocks"
            " WHERE level = 1 AND n < 1000",
        }[query if query != "png" else "curve"]
        rows = db.execute(sql).fetchall()
        db.close()
    else:
        import pymongo
        client = pymongo.MongoClient(where)
        database = client[name]
        if query in ("curve", "png"):
            rows = [
                (b["n"], b["first"], b["last"], b["min"], b["max"])
                for b in database.blocks.find(
                    {"n": {"$lt": 1000}}, {"_id": 0}).batch_size(10_000)
            ]
        else:
            found = database.trials.find({} if query != "smallest" else
                                         {"loss_min": {"$ne": None}}, {"listing": 1})
            if query == "smallest":
                found = found.sort([("loss_min", 1), ("_id", 1)]).limit(20)
            else:
                found = found.sort([("created", -1), ("_id", 1)])
                found = found.limit(50) if query == "newest" else found.batch_size(1_000_000)
            rows = [(d["_id"], d["listing"]) for d in found]
        # Not closed: closing waits for the monitor's thread (0.5 s), which a process
        # that exits need not do.
    if query in ("curve", "png"):
        return [(n, (low + high) / 2) for n, _, _, low, high in rows[:1000]]
    # One parse of all the listings (as the store reads them), not one per row.
    listings = json.loads("[" + ",".join(listing for _, listing in rows) + "]")
    return list(zip((i for i, _ in rows), listings))
"""
_BARE_SCRIPT = (
    _BARE_READ
    + """
import sys
kind, where, name, query = sys.argv[1:5]
rows = read(kind, where, name or None, query)
if query == "png":
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    figure = pyplot.figure()
    pyplot.plot([n for n, _ in rows], [y for _, y in rows])
    figure.savefig("bare.png")
elif query == "curve":
    for n, y in rows:
        print(n, y)
else:  # the columns kleio ls prints, a line each, written at once
    sys.stdout.write("".join(
        f"{i[:7]}  {f['name'] or ''}  {f['status']}  {f['created']}  {f['run_time']}  "
        f"{','.join(f['tags'] or ())}  {' '.join(f['commandline'] or ())}\\n"
        for i, f in rows
    ))
# As kleio ends: at once (a pymongo client's threads cost an interpreter's exit 0.6 s).
import os
sys.stdout.flush()
os._exit(0)
"""
)


def bare_copy(store_kind: str, address: str, name: str, folder: Path, long: int) -> Bare:
    """The bare copy of the journal at ``address``, read through the store contract."""
    from kleio.core.model.catalogue import LISTED_FIELDS, open_journal

    started = time.perf_counter()
    with open_journal(address, name) as store:
        documents = store.find_trials(fields=list(LISTED_FIELDS))
        ids = [d["_id"] for d in documents]
        minima: dict[str, float | None] = {}
        for start in range(0, len(ids), 5_000):
            summaries = store.read_summaries(ids[start : start + 5_000], "statistic")
            for trial, fields in summaries.items():
                loss = fields.get("loss")
                minima[trial] = loss.min if loss is not None else None
    rows = [
        (
            d["_id"],
            d.get("created") or 0.0,
            json.dumps({f: d.get(f) for f in LISTED_FIELDS}),
            minima.get(d["_id"]),
        )
        for d in documents
    ]
    if store_kind == "sqlite":
        bare = Bare("sqlite", str(folder / "bare.db"))
    else:
        bare = Bare("mongodb", address, f"{name}_bare")
    bare.fill(rows, long)
    print(
        f"[{store_kind}] (bare copy for the ceilings: {len(rows):,} trials read through the "
        f"store contract and written in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return bare


# -- rows ------------------------------------------------------------------------------
def curve_row(label, env, long_id, long, bare: Bare, cwd: Path) -> None:
    import dashboard

    process, url, _ = dashboard.start_ui(env)
    try:
        series = f"{url}/api/series?trials={long_id}&y=loss&points={WIDTH}"
        first = dashboard.get(series)
        later = dashboard.get(series)
    finally:
        dashboard.stop(process)
    ceiling = min(bare.read("curve") for _ in range(3))
    row(
        label,
        f"dashboard: a {long:,}-point curve at {WIDTH:,} px, first request of a fresh "
        f"server (next request {later[0]:.3f} s; {first[2] / 1024:,.0f} KB sent)",
        first[0],
        ceiling,
        "s",
        "<= 0.3 s",
    )


def plot_row(label, env, long_id, long, bare: Bare, cwd: Path, runs: int) -> None:
    kleio, ceiling = paired_runs(
        [KLEIO, "plot", long_id, "--y", "loss"], bare.script("curve"), env, cwd, runs
    )
    row(label, f"kleio plot ID --y loss of {long:,} points", kleio, ceiling, "s", "<= 1 s")
    try:
        import matplotlib  # noqa: F401 - only whether it is installed
    except ImportError:
        print(f"[{label}] kleio plot -o curve.png: matplotlib is not installed", flush=True)
        return
    kleio, ceiling = paired_runs(
        [KLEIO, "plot", long_id, "--y", "loss", "-o", str(cwd / "curve.png")],
        bare.script("png"),
        env,
        cwd,
        runs,
    )
    row(
        label, f"kleio plot ID --y loss -o curve.png of {long:,} points", kleio, ceiling, "s",
        "<= 1 s",
    )  # fmt: skip


def page_row(label, env, trials: int, bare: Bare, cwd: Path, runs: int) -> None:
    import dashboard

    argv = [KLEIO, "ls", "-n", "50"]
    kleio, ceiling = paired_runs(argv, bare.script("newest"), env, cwd, runs)
    row(
        label, f"kleio ls -n 50 over {trials:,} trials ({processor(argv)})", kleio, ceiling, "s",
        "<= 0.3 s",
    )  # fmt: skip
    process, url, _ = dashboard.start_ui(env)
    try:
        page = f"{url}/api/trials?offset=0&limit=50"
        used = _processor_of(process.pid)
        first = dashboard.get(page)
        used = _processor_of(process.pid) - used
        later = statistics.median(dashboard.get(page)[0] for _ in range(max(1, runs - 1)))
    finally:
        dashboard.stop(process)
    ceiling = min(bare.read("newest") for _ in range(3))
    row(
        label,
        f"dashboard's first trials page over {trials:,} trials, first request of a fresh "
        f"server ({used:.3g} s of processor; next requests {later:.3f} s)",
        first[0],
        ceiling,
        "s",
        "<= 0.3 s",
    )


def _processor_of(pid: int) -> float:
    """Processor seconds (user and system) process ``pid`` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare_row(label, env, trials: int, bare: Bare, cwd: Path, runs: int) -> None:
    argv = [KLEIO, "compare", "--sort", "loss:min", "-n", "20"]
    kleio, ceiling = paired_runs(argv, bare.script("smallest"), env, cwd, runs)
    row(
        label, f"kleio compare --sort loss:min -n 20 over {trials:,} trials ({processor(argv)})",
        kleio, ceiling, "s", "<= 1 s",
    )  # fmt: skip


def ls_row(label, env, trials: int, bare: Bare, cwd: Path, runs: int) -> None:
    kleio, ceiling = paired_runs([KLEIO, "ls"], bare.script("all"), env, cwd, runs)
    row(
        label, f"kleio ls (all) over {trials:,} trials ({processor([KLEIO, 'ls'])})", kleio,
        ceiling, "s", "<= 1.5 s",
    )  # fmt: skip


#: Imported by every Python process started with it on PYTHONPATH (``kleio``, the
#: processes it starts, a bare script): appends the time, process and name of each
#: MongoDB command it sends to the file $KLEIO_BENCH_COMMANDS, as the command starts
#: (a process may end by os._exit, which skips atexit). Handshakes and the monitor's
#: heartbeats are not commands: a listener does not see them.
_SITECUSTOMIZE = """\
import os
if os.environ.get("KLEIO_BENCH_COMMANDS"):
    import json, time
    from pymongo import monitoring

    class _Counting(monitoring.CommandListener):
        def started(self, event):
            line = json.dumps([time.time(), os.getpid(), event.command_name])
            with open(os.environ["KLEIO_BENCH_COMMANDS"], "a") as commands:
                commands.write(line + "\\n")

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    monitoring.register(_Counting())
"""
#: A bare run: connect and insert one document (what recording a trial needs at least).
_BARE_RUN = """\
import sys, time, pymongo
client = pymongo.MongoClient(sys.argv[1])
client[sys.argv[2]].bare_runs.insert_one({"at": time.time()})
client.close()
import os
os._exit(0)  # as kleio ends: at once
"""
#: The script run under ``kleio``: writes the time it started to the file it is given.
_STARTED = "import sys, time; open(sys.argv[1], 'w').write(repr(time.time()))"


def _commands(argv: list[str], env: dict[str, str], cwd: Path) -> list[tuple[float, str]]:
    """The (time, name) of each MongoDB command ``argv`` and the processes it starts
    sent, in the order they started."""
    folder = cwd.parent / "counting"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    record = folder / "commands.jsonl"
    record.unlink(missing_ok=True)
    path = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    timed(argv, {**env, "PYTHONPATH": path, "KLEIO_BENCH_COMMANDS": str(record)}, cwd)
    time.sleep(1.0)  # a process the command left behind (the watcher) ends its writes
    lines = record.read_text().splitlines() if record.exists() else []
    return sorted((at, name) for at, _, name in map(json.loads, lines))


def roundtrips_row(label, env, address: str, name: str, cwd: Path, runs: int) -> None:
    from roundtrips import DelayingProxy

    # Each run's command differs (the file it writes): a new trial each time, as a run
    # of a sweep makes (the same command again finds its trial completed and stops).
    timed([KLEIO, PYTHON, "-c", _STARTED, str(cwd / "warm-up")], env, cwd)  # indexes
    mark = cwd / "started.txt"
    run = [PYTHON, "-c", _STARTED, str(mark)]
    sent = _commands([KLEIO, *run], env, cwd)
    started = float(mark.read_text())
    before = [name for at, name in sent if at < started]
    bare = _commands([PYTHON, "-c", _BARE_RUN, address, name], env, cwd)
    names = ", ".join(f"{n} {before.count(n)}" for n in sorted(set(before)))
    row(
        label,
        f"round trips before the script starts ({names}; {len(sent)} in the whole run, "
        "the processes kleio starts included; plus one handshake per connection)",
        len(before),
        len(bare),
        "commands",
        "<= 8",
    )
    host, port = address.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    bare_run = [PYTHON, "-c", _BARE_RUN]
    for latency in (2.0, 20.0):
        proxy = DelayingProxy((host, int(port)), latency / 1000)
        far = {**env, "KLEIO_DB_ADDRESS": proxy.address}
        try:
            near_k, far_k, near_b, far_b = [], [], [], []
            near_s, far_s = [], []  # seconds from launch to the script's first line
            for index in range(runs):
                argv = [KLEIO, *run[:-1]]
                for where, whole, start, place in (
                    (env, near_k, near_s, "near"),
                    (far, far_k, far_s, "far"),
                ):
                    mark = cwd / f"{place}{latency}-{index}"
                    launched = time.time()
                    whole.append(timed([*argv, str(mark)], where, cwd))
                    start.append(float(mark.read_text()) - launched)
                near_b.append(timed([*bare_run, address, name], env, cwd))
                far_b.append(timed([*bare_run, proxy.address, name], env, cwd))
        finally:
            proxy.close()
        before = statistics.median(f - n for f, n in zip(far_s, near_s, strict=True))
        added = statistics.median(f - n for f, n in zip(far_k, near_k, strict=True))
        floor = statistics.median(f - n for f, n in zip(far_b, near_b, strict=True))
        row(
            label,
            f"start-up added by {latency:g} ms per round trip, launch to the script's first "
            f"line (far over near, median of {runs}; {before / (latency / 1000):.1f} round "
            "trips waited for; ceiling: a bare connect and insert)",
            before,
            floor,
            "s",
            "<= 0.2 s" if latency == 20.0 else "report",
        )
        row(
            label,
            f"whole run added by {latency:g} ms per round trip (kleio python ..., far over "
            f"near, median of {runs}; {added / (latency / 1000):.1f} round trips waited for)",
            added,
            floor,
            "s",
            "report",
        )


def durable_row(label, folder: Path, quick: bool) -> None:
    import statistics_path

    calls, long = (100_000, 300_000) if quick else (100_000, 1_000_000)
    for line in statistics_path.in_loop_and_durable(folder, calls, long):
        target = " (target >= 600,000/s)" if line.startswith("statistics durable") else ""
        print(f"[{label}] {line}{target}", flush=True)


def size_row(label, generated: journal.Generated, store_kind: str, where, name) -> None:
    """``where``: the folder to put a bare SQLite file in, or (address, data folder)."""
    if generated.before_long is None or generated.after_long is None or not generated.sizes.long:
        print(f"[{label}] size on disk: unknown for this store", flush=True)
        return
    per = (generated.after_long - generated.before_long) / (generated.sizes.long / 1e6)
    count = min(generated.sizes.long, 1_000_000 if store_kind == "sqlite" else 20_000)
    rows = [(i, 1.0 / (i + 1), i / count) for i in range(count)]
    if store_kind == "sqlite":
        path = Path(where) / "size.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE statistics (step INTEGER, loss REAL, acc REAL)")
        db.executemany("INSERT INTO statistics VALUES (?, ?, ?)", rows)
        db.commit()
        db.close()
        bare = path.stat().st_size
    else:
        address, data_dir = where
        import pymongo

        client = pymongo.MongoClient(address)
        database = client[f"{name}_size"]
        for start in range(0, count, 10_000):
            database.statistics.insert_many(
                [{"step": s, "loss": x, "acc": a} for s, x, a in rows[start : start + 10_000]]
            )
        client.close()
        bare = journal.on_disk(address, f"{name}_size", data_dir) or 0
    row(
        label,
        f"size on disk per million statistics (the long trial's {generated.sizes.long:,})",
        per / 2**20,
        bare / (count / 1e6) / 2**20,
        "MB",
        "report; not larger than 120 MB",
    )


# -- the stores ------------------------------------------------------------------------
def measure(label, store_kind, env, cwd, generated, address, name, folder, args, only, where):
    trials, long_id, long = generated.trials - 1, generated.long_id, generated.sizes.long
    runs = args.runs
    bare = None
    if only & {"curve", "plot", "page", "compare", "ls"}:
        bare = bare_copy(store_kind, address, name, folder, long)
    env = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": name}
    if "curve" in only:
        curve_row(label, env, long_id, long, bare, cwd)
    if "plot" in only:
        plot_row(label, env, long_id, long, bare, cwd, runs)
    if "page" in only:
        page_row(label, env, trials, bare, cwd, runs)
    if "compare" in only:
        compare_row(label, env, trials, bare, cwd, runs)
    if "ls" in only:
        ls_row(label, env, trials, bare, cwd, runs)
    if "roundtrips" in only and store_kind != "sqlite":
        roundtrips_row(label, env, address, name, cwd, runs)
    if "durable" in only and store_kind == "sqlite":
        durable_row(label, folder / "durable", args.quick)
    if "size" in only:
        size_row(label, generated, store_kind, where, name)


def _say(label: str):
    return lambda line: print(f"[{label}] {line.strip()}", flush=True)


def on_sqlite(args, sizes, env, cwd, folder: Path, only: set[str]) -> None:
    path = folder / "sqlite" / "journal.db"
    path.parent.mkdir(parents=True)
    generated, cached = journal.cached_generate(
        path, "kleio", args.seed, sizes, args.cache, say=_say("sqlite")
    )
    print(f"[sqlite] {journal.report(generated, cached)}", flush=True)
    measure(
        "sqlite", "sqlite", env, cwd, generated, str(path), "kleio", folder / "sqlite", args,
        only, folder / "sqlite",
    )  # fmt: skip


def on_wire(args, sizes, env, cwd, folder: Path, only: set[str]) -> None:
    from tests.mongo_server import WireServer

    name = "scale"
    if args.mongodb:
        name = f"kleio_scale_{os.getpid()}"
        generated = journal.generate(args.mongodb, name, args.seed, sizes, say=_say("mongodb"))
        print(f"[mongodb] {journal.report(generated)}", flush=True)
        try:
            measure(
                "mongodb", "mongodb", env, cwd, generated, args.mongodb, name, folder, args,
                only, (args.mongodb, None),
            )  # fmt: skip
        finally:
            import pymongo

            client = pymongo.MongoClient(args.mongodb)
            for suffix in ("", "_bare", "_size"):
                client.drop_database(name + suffix)
            client.close()
        return
    data = folder / "nx-27017"
    server = WireServer(data)
    path = data / f"{name}.db"
    entry = args.cache / journal.cache_name(args.seed, sizes, "wire") if args.cache else None
    if entry is not None and (entry / "done").exists():
        generated, cached = journal.cached_generate(
            path, name, args.seed, sizes, args.cache, "wire"
        )
        server.start()
    else:
        server.start()
        generated, cached = journal.cached_generate(
            path, name, args.seed, sizes, None, "wire", address=server.uri, data_dir=data,
            say=_say("wire"),
        )  # fmt: skip
        if entry is not None:
            server.stop()
            journal.keep(entry, path, generated)
            server.start()
    try:
        print(f"[wire] {journal.report(generated, cached)}", flush=True)
        measure(
            "wire", "wire", env, cwd, generated, server.uri, name, folder, args, only,
            (server.uri, data),
        )  # fmt: skip
    finally:
        server.stop()


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{journal.QUICK}")
    parser.add_argument("--trials", type=int, help="trials (100,000)")
    parser.add_argument("--statistics", type=int, help="statistics per trial (100)")
    parser.add_argument("--long", type=int, help="points of the long trial (10,000,000)")
    parser.add_argument("--wire-trials", type=int, help=f"on the wire stand-in ({WIRE.trials:,})")
    parser.add_argument("--wire-long", type=int, help=f"on the wire stand-in ({WIRE.long:,})")
    parser.add_argument("--seed", type=int, default=journal.SEED)
    parser.add_argument("--stores", default="sqlite,wire", help="sqlite, wire or both")
    parser.add_argument("--mongodb", help="a MongoDB address instead of nx-27017")
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows among {', '.join(ROWS)}")
    parser.add_argument("--cache", type=Path, help="keep and reuse generated journals here")
    parser.add_argument("--runs", type=int, default=None, help="runs of a quick command (5)")
    parser.add_argument(
        "--code", type=Path, help="a folder holding another version's kleio package to time"
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 5
    return args


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    only = set(args.only.split(","))
    unknown = only - set(ROWS)
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(sorted(unknown))} (rows: {', '.join(ROWS)})")
    stores = set(args.stores.split(","))
    if stores - {"sqlite", "wire"}:
        raise SystemExit("--stores takes sqlite, wire or both")
    base = journal.QUICK if args.quick else journal.FULL
    sizes = journal.Sizes(
        args.trials or base.trials, args.statistics or base.statistics, args.long or base.long
    )
    wire_base = WIRE_QUICK if args.quick else WIRE
    if args.mongodb:
        wire_base = sizes
    wire_sizes = journal.Sizes(
        args.wire_trials or min(sizes.trials, wire_base.trials),
        sizes.statistics,
        args.wire_long or min(sizes.long, wire_base.long),
    )
    if "sqlite" in stores:
        print(f"seed {args.seed}; SQLite: {sizes}", flush=True)
    if "wire" in stores:
        print(
            f"seed {args.seed}; {'MongoDB' if args.mongodb else 'wire stand-in'}: {wire_sizes}"
            + ("" if wire_sizes == sizes else " (smaller: see --wire-trials, --wire-long)"),
            flush=True,
        )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        cwd, env = scratch_project(folder, without=("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"))
        if args.code:  # that version's commands and dashboard (the journal is this one's)
            env["PYTHONPATH"] = str(args.code.resolve())
        if "sqlite" in stores:
            on_sqlite(args, sizes, env, cwd, folder, only)
        if "wire" in stores:
            on_wire(args, wire_sizes, env, cwd, folder, only)
    print(f"all rows in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
