"""A big journal, the same from the same seed: the volumes of Kleio's targets at scale.

    python bench/journal.py [--trials N] [--statistics M] [--long N] [--seed S]
                            [--address ADDRESS] [--name NAME] [--batch N] [--cache DIR]
                            [--quick] [--batches]

Writes ``--trials`` trials (100,000) of ``--statistics`` statistics each (100), and one
trial of ``--long`` points (10,000,000) of three keys (``step``, ``loss``, ``acc``), into
the journal at ``--address`` (a SQLite file, by default ``journal.db`` here; or a MongoDB
address, the wire stand-in nx-27017's included), through the store contract alone
(``create_trial``, ``append_events`` with keys made by ``kleio.store.keys``), so that any
backend and any layout a later version of the store chooses is filled the same way.

The trials are those of a lab's sweeps: studies of 1,000 trials (100 points x 10 seeds)
of four scripts with their own configuration keys (``lr``, ``weight_decay``,
``batch_size``, ``dropout``...), tagged, with the statuses a journal collects
(completed, broken, interrupted, new, reserved and running with a heartbeat long gone),
and branches (``refers``: a parent and a branch point, with a changed ``--lr``, as
``kleio branch`` makes them). Each trial that ran logged ``epoch``, ``step``, ``loss``
and ``acc`` once an epoch (a broken, interrupted or lost one stopped part way; a new
one logged nothing).

Reproducible: the seed gives every value, id, event key (writer ids drawn from it) and
time (a fixed epoch plus offsets drawn from it: never the clock), so the same seed and
sizes make the same journal. ``--cache DIR`` keeps each SQLite journal made (and each
nx-27017 database file, for ``bench/scale.py``) under a name made of the seed, the sizes
and a hash of the store's code, and copies it instead of writing it again; a change of
the store's code makes a new one. ``--batch`` events go to the store per call
(``--batches`` measures the rate of several sizes on SQLite: 10,000 and 100,000 were
best, see :data:`BATCH`). ``--quick``: 10,000 trials x 100 and one of 1,000,000, a smoke run.

Prints the seed, the sizes, the time taken, statistics per second and the size on disk.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import math
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reading import SEEDS, realistic_document  # noqa: E402 - bench/ is this script's folder

from kleio.core.model.catalogue import open_journal  # noqa: E402
from kleio.core.model.trial import TrialSpec  # noqa: E402
from kleio.store.base import Event  # noqa: E402
from kleio.store.keys import event_keys  # noqa: E402


class Sizes(NamedTuple):
    """How big a journal is: trials, statistics each, points of the long trial."""

    trials: int
    statistics: int
    long: int

    def __str__(self) -> str:
        return (
            f"{self.trials:,} trials x {self.statistics:,} statistics + one trial of "
            f"{self.long:,} points"
        )


#: The issue's sizes: 10 million statistics in 100,000 trials, and one of 10 million.
FULL = Sizes(100_000, 100, 10_000_000)
#: A smoke run's.
QUICK = Sizes(10_000, 100, 1_000_000)
#: The seed unless told.
SEED = 26
#: Events per ``append_events`` call. On SQLite, ``--batches`` gave (2 cores shared, load
#: 17): 1,000: 104,000; 10,000: 176,000; 100,000: 175,000; 1,000,000: 159,000 statistics/s
#: (the long trial's three-key points). Past 10,000 a call's fixed costs are paid off;
#: 100,000 keeps a batch's memory bounded (about 100 MB of events).
BATCH = 100_000
#: Trials of one study: 100 points of its configuration space x :data:`SEEDS` seeds.
STUDY_SIZE = 1_000
#: The journal's clock starts here (2023-11-14 22:13:20 UTC); a trial every 5 minutes
#: or so, 100,000 trials over a year.
EPOCH = 1_700_000_000.0
SPACING = 300.0
#: What the generator writes; a change makes caches of the older journals unused.
FORMAT = 1

#: (project, script, configuration keys and the values each is drawn from); ``lr`` is
#: drawn log-uniformly, ``seed`` is the seed of the point (0 to SEEDS - 1).
_SCRIPTS = (
    ("vision", "train.py", {"weight_decay": (0.0, 1e-5, 1e-4, 1e-3), "batch_size": (64, 128, 256)}),
    ("vision", "finetune.py", {"epochs": (10, 20, 50), "freeze": ("none", "backbone")}),
    ("language", "pretrain.py", {"warmup": (0, 500, 4000), "dropout": (0.0, 0.1, 0.2)}),
    ("control", "ppo.py", {"gamma": (0.95, 0.99, 0.995), "clip": (0.1, 0.2, 0.3)}),
)
#: Statuses as a journal collects them (weights out of 100). ``running`` and ``reserved``
#: have a heartbeat long gone: readers see them as lost.
_STATUSES = (
    ("completed", 80),
    ("broken", 6),
    ("interrupted", 5),
    ("new", 5),
    ("running", 3),
    ("reserved", 1),
)
#: Branches out of 100 trials that ran (each of an earlier trial of its study).
_BRANCHES = 2


class Trial(NamedTuple):
    """One generated trial: its document and its statistics (already events)."""

    document: dict
    events: list[Event]


class Generated(NamedTuple):
    """What :func:`generate` wrote."""

    seed: int
    sizes: Sizes
    trials: int
    statistics: int
    long_id: str
    seconds: float
    #: Bytes on disk before the long trial, after it (None where unknown).
    before_long: int | None
    after_long: int | None


def _status(rng: random.Random) -> str:
    pick = rng.randrange(100)
    for status, weight in _STATUSES:
        if pick < weight:
            return status
        pick -= weight
    return "completed"


def _point(seed: int, study: int, point: int) -> tuple[str, str, dict]:
    """The project, script and configuration (seed aside) of a study's point: drawn
    from the generator's seed, the same for the point's every seed."""
    rng = random.Random(f"{seed}:{study}:{point}")
    project, script, choices = _SCRIPTS[study % len(_SCRIPTS)]
    configuration = {"lr": float(f"{10 ** rng.uniform(-5, -1):.6g}")}
    for key, values in choices.items():
        configuration[key] = rng.choice(values)
    return project, script, configuration


def _commandline(script: str, configuration: dict) -> list[str]:
    words = ["python", script]
    for key, value in configuration.items():
        words += [f"--{key}", str(value)]
    return words


def _curve(rng: random.Random, stop: int, started: float, epoch_seconds: float):
    """``stop`` epochs' statistics: ``epoch``, ``step``, ``loss``
    and ``acc`` (a loss falling to a floor, noisy); their times."""
    floor, height, speed = rng.uniform(0.01, 0.5), rng.uniform(1.0, 3.0), rng.uniform(0.02, 0.2)
    steps = rng.choice((100, 250, 500))
    noise, exp = rng.random, math.exp
    datas, times = [], []
    for epoch in range(stop):
        loss = floor + height * exp(-speed * epoch) * (0.95 + 0.1 * noise())
        datas.append(
            {"epoch": epoch, "step": (epoch + 1) * steps, "loss": loss, "acc": 1 / (1 + loss)}
        )
        times.append(started + (epoch + 1) * epoch_seconds)
    return datas, times


_event = functools.partial(tuple.__new__, Event)  # an Event of its five fields, fast


def _events(trial: str, writer: str, times: list[float], datas: list[dict], first: int = 0):
    keys = event_keys(writer, times, first)
    columns = zip(itertools.repeat(trial), itertools.repeat("statistic"), keys, times, datas)
    return list(map(_event, columns))


def trials(seed: int, sizes: Sizes) -> Iterator[Trial]:
    """The trials of the journal in the order they are written (oldest first): the
    same for the same seed and sizes."""
    rng = random.Random(seed)
    ran: dict[int, list[tuple[str, dict, list[float]]]] = {}  # study -> its trials that ran
    seen: set[str] = set()
    for index in range(sizes.trials):
        study, rest = divmod(index, STUDY_SIZE)
        point, seed_of_point = divmod(rest, SEEDS)
        project, script, configuration = _point(seed, study, point)
        configuration = {**configuration, "seed": seed_of_point}
        status = _status(rng)
        created = EPOCH + index * SPACING + rng.uniform(0, SPACING / 2)
        writer = f"{rng.getrandbits(48):012x}"
        refers: dict = {}
        tags = ["sweep", f"group{index % 10}", project]
        parents = ran.get(study)
        branch = status != "new" and parents and rng.randrange(100) < _BRANCHES
        first_epoch = 0
        if branch:  # as `kleio branch PARENT --lr X`: the parent's project and tags
            parent_id, parent_configuration, parent_times = rng.choice(parents)
            first_epoch = rng.randrange(1, len(parent_times))
            refers = {
                "parent": parent_id,
                "time": parent_times[first_epoch - 1],
                "reason": "branch",
                "timestamp": None,
            }
            configuration = {**parent_configuration, "lr": configuration["lr"]}
            tags = [*tags, "branch"]
        commandline = _commandline(script, configuration)
        document = realistic_document(index, lr=configuration["lr"], seed=seed_of_point)
        trial_id = TrialSpec(project, commandline, configuration, refers).id
        while trial_id in seen:  # a point drawn twice (one in millions): draw another lr
            configuration["lr"] = float(f"{10 ** rng.uniform(-5, -1):.6g}")
            commandline = _commandline(script, configuration)
            trial_id = TrialSpec(project, commandline, configuration, refers).id
        seen.add(trial_id)
        document.update(
            _id=trial_id,
            project=project,
            commandline=commandline,
            configuration=configuration,
            refers=refers,
            tags=tags,
            study=f"{Path(script).stem}-{study:04d}",
            status=status,
            created=created,
            updated=created,
            cwd=f"/home/user/{project}",
        )
        if index % 997 == 0:
            document["name"] = f"run-{seed}-{index}"
        events: list[Event] = []
        if status not in ("new", "reserved"):
            started = created + rng.uniform(0, 3600)
            epoch_seconds = rng.uniform(5, 60)
            stop = sizes.statistics
            if status != "completed":
                stop = rng.randrange(first_epoch, max(first_epoch + 1, sizes.statistics))
            datas, times = _curve(rng, stop, started, epoch_seconds)
            datas, times = datas[first_epoch:], times[first_epoch:]
            events = _events(trial_id, writer, times, datas)
            ended = times[-1] if times else started
            document.update(
                started=started,
                updated=ended,
                heartbeat=ended,
                executions=1,
                run_time=ended - started,
                exit_code={"completed": 0, "broken": 1}.get(status),
            )
            if status == "completed":
                document["ended"] = ended
            if status == "running":
                worker = {"host": "node7", "pid": 4242, "token": writer, "since": started}
                document.update(worker=worker, ended=None)
            if len(times) > 1 and not branch:
                ran.setdefault(study, []).append((trial_id, configuration, times))
        else:
            document.update(executions=0, run_time=0.0, exit_code=None, started=None)
            if status == "reserved":
                document.update(
                    heartbeat=created + 60,
                    worker={"host": "node3", "pid": 77, "token": writer, "since": created},
                )
            else:
                document.update(heartbeat=None)
        yield Trial(document, events)


def long_trial(seed: int, sizes: Sizes, batch: int = BATCH) -> tuple[dict, Iterator[list[Event]]]:
    """The long run's document and its ``sizes.long`` points (``step``, ``loss``,
    ``acc``, one every 10 ms), in batches of ``batch``."""
    rng = random.Random(f"{seed}:long")
    configuration = {"lr": 0.001, "steps": sizes.long, "seed": seed}
    commandline = _commandline("train.py", configuration)
    spec = TrialSpec("vision", commandline, configuration, {})
    created = EPOCH + sizes.trials * SPACING + 600
    started = created + 30
    run_time = sizes.long * 0.01
    document = realistic_document(sizes.trials, lr=0.001, seed=seed)
    document.update(
        _id=spec.id,
        project="vision",
        commandline=commandline,
        configuration=configuration,
        tags=["long"],
        status="completed",
        created=created,
        updated=started + run_time,
        started=started,
        ended=started + run_time,
        heartbeat=started + run_time,
        run_time=run_time,
        name=f"long-{seed}",
        cwd="/home/user/vision",
    )
    writer = f"{rng.getrandbits(48):012x}"

    def batches() -> Iterator[list[Event]]:
        noise, exp = rng.random, math.exp
        for start in range(0, sizes.long, batch):
            stop = min(start + batch, sizes.long)
            steps = range(start, stop)
            datas = []
            for step in steps:
                loss = 0.05 + 2.0 * exp(-step / (sizes.long / 8)) + 0.04 * (noise() - 0.5)
                datas.append({"step": step, "loss": loss, "acc": 1 / (1 + abs(loss))})
            times = [started + step * 0.01 for step in steps]
            yield _events(spec.id, writer, times, datas, start)

    return document, batches()


# -- writing ---------------------------------------------------------------------------
def _sqlite_path(address: str) -> Path | None:
    """The file of a SQLite address (a path or ``sqlite:///path``), None for another."""
    if address.startswith("mongodb://") or address.startswith("mongodb+srv://"):
        return None
    return Path(address[len("sqlite:///") - 1 :] if address.startswith("sqlite:///") else address)


def on_disk(address: str, name: str, data_dir: Path | None = None) -> int | None:
    """Bytes the journal occupies: a SQLite file after a checkpoint (its WAL emptied),
    the nx-27017 database file in ``data_dir``, or a real MongoDB's ``dbStats``
    (storage and indexes); None if not known."""
    path = _sqlite_path(address)
    if path is not None:
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    if data_dir is not None:
        return sum(p.stat().st_size for p in data_dir.glob(f"{name}.db*"))
    import pymongo

    client = pymongo.MongoClient(address)
    try:
        stats = client[name].command("dbStats")
        return int(stats.get("storageSize", 0)) + int(stats.get("indexSize", 0))
    finally:
        client.close()


def generate(
    address: str,
    name: str,
    seed: int,
    sizes: Sizes,
    batch: int = BATCH,
    data_dir: Path | None = None,
    say=print,
) -> Generated:
    """Write the journal of ``seed`` and ``sizes`` at ``address`` (``data_dir``: the
    folder of the nx-27017 serving it, to measure its file)."""
    started = time.perf_counter()
    statistics = count = 0
    with open_journal(address, name) as store:
        pending: list[Event] = []
        for trial in trials(seed, sizes):
            store.create_trial(trial.document)
            count += 1
            pending += trial.events
            if len(pending) >= batch:
                store.append_events(pending)
                statistics += len(pending)
                pending = []
            if count % 10_000 == 0:
                say(f"  {count:,} trials, {statistics:,} statistics, "
                    f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        if pending:
            store.append_events(pending)
            statistics += len(pending)
    before = on_disk(address, name, data_dir)
    document, batches = long_trial(seed, sizes, batch)
    with open_journal(address, name) as store:
        store.create_trial(document)
        for events in batches:
            store.append_events(events)
            statistics += len(events)
    after = on_disk(address, name, data_dir)
    return Generated(
        seed, sizes, count + 1, statistics, document["_id"], time.perf_counter() - started,
        before, after,
    )  # fmt: skip


def report(generated: Generated, cached: bool = False) -> str:
    """One line: the seed, the sizes, the time, statistics/s, the size on disk."""
    how = (
        f"written in {generated.seconds:.1f} s "
        f"({generated.statistics / generated.seconds:,.0f} statistics/s)"
    )
    if cached:
        how = f"copied from the cache (when made: {how})"
    size = ""
    if generated.after_long is not None:
        size = f", {generated.after_long / 2**20:,.0f} MB on disk"
        if generated.before_long is not None and generated.sizes.long:
            per = (generated.after_long - generated.before_long) / (generated.sizes.long / 1e6)
            size += f" ({per / 2**20:,.1f} MB per million statistics of the long trial)"
    return (
        f"journal of seed {generated.seed}: {generated.sizes} ({generated.trials:,} trials, "
        f"{generated.statistics:,} statistics), {how}{size}; long trial {generated.long_id}"
    )


# -- the cache -------------------------------------------------------------------------
def code_hash() -> str:
    """A hash of the code that decides what a journal holds on disk: the store, the
    trial model and this generator; a change to any makes a new cache entry."""
    digest = hashlib.sha256(str(FORMAT).encode())
    for folder in (ROOT / "kleio" / "store", ROOT / "kleio" / "core" / "model"):
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    for path in (Path(__file__), Path(__file__).with_name("reading.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_name(seed: int, sizes: Sizes, kind: str) -> str:
    return f"{kind}-seed{seed}-{sizes.trials}x{sizes.statistics}+{sizes.long}-{code_hash()}"


def _copy_files(source: Path, target: Path) -> None:
    """Copy ``source`` and its ``-wal``/``-shm`` companions to ``target`` (and its)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for path in source.parent.glob(source.name + "*"):
        shutil.copyfile(path, target.parent / (target.name + path.name[len(source.name) :]))


def cached_generate(
    path: Path,
    name: str,
    seed: int,
    sizes: Sizes,
    cache: Path | None,
    kind: str = "sqlite",
    batch: int = BATCH,
    address: str | None = None,
    data_dir: Path | None = None,
    say=print,
) -> tuple[Generated, bool]:
    """The journal of ``seed`` and ``sizes`` in the file ``path``: copied from ``cache``
    if made before, else generated (through ``address``, by default the file itself)
    and kept there. Returns what was written, and whether it came from the cache."""
    entry = cache / cache_name(seed, sizes, kind) if cache else None
    if entry is not None and (entry / "done").exists():
        _copy_files(entry / "journal.db", path)
        fields = (entry / "done").read_text().split()
        generated = Generated(
            seed, sizes, int(fields[0]), int(fields[1]), fields[2], float(fields[3]),
            *(None if f == "-" else int(f) for f in fields[4:6]),
        )  # fmt: skip
        return generated, True
    generated = generate(address or str(path), name, seed, sizes, batch, data_dir, say)
    if entry is not None:
        if address is not None:  # a server's file: complete once the server stopped
            return generated, False
        keep(entry, path, generated)
    return generated, False


def keep(entry: Path, path: Path, generated: Generated) -> None:
    """Put the journal file ``path`` (its server stopped) in the cache ``entry``."""
    entry.mkdir(parents=True, exist_ok=True)
    _copy_files(path, entry / "journal.db")
    sizes = ("-" if s is None else str(s) for s in generated[-2:])
    (entry / "done").write_text(
        f"{generated.trials} {generated.statistics} {generated.long_id} "
        f"{generated.seconds} {' '.join(sizes)}\n"
    )


# -- the best batch --------------------------------------------------------------------
def batches(sizes: list[int], points: int) -> list[str]:
    """Statistics per second of ``points`` long-trial points written to a fresh SQLite
    journal per batch size."""
    import tempfile

    lines = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            address = str(Path(folder) / "batch.db")
            document, _ = long_trial(SEED, Sizes(0, 0, points))
            events = [e for chunk in long_trial(SEED, Sizes(0, 0, points))[1] for e in chunk]
            with open_journal(address) as store:
                store.create_trial(document)
                started = time.perf_counter()
                for start in range(0, len(events), size):
                    store.append_events(events[start : start + size])
                seconds = time.perf_counter() - started
            lines.append(f"batch {size:,}: {points / seconds:,.0f} statistics/s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help=f"default {FULL.trials:,}")
    parser.add_argument("--statistics", type=int, default=None, help="per trial (100)")
    parser.add_argument("--long", type=int, default=None, help="the long trial's points")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--address", default="journal.db", help="SQLite file or MongoDB URI")
    parser.add_argument("--name", default="kleio", help="the database name (MongoDB)")
    parser.add_argument("--batch", type=int, default=BATCH, help="events per append_events")
    parser.add_argument("--cache", type=Path, help="keep and reuse SQLite journals here")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK}")
    parser.add_argument(
        "--batches", action="store_true", help="measure append_events batch sizes on SQLite"
    )
    args = parser.parse_args()
    if args.batches:
        for line in batches([1_000, 10_000, 100_000, 1_000_000], 2_000_000):
            print(line, flush=True)
        return
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        base.trials if args.trials is None else args.trials,
        base.statistics if args.statistics is None else args.statistics,
        base.long if args.long is None else args.long,
    )
    print(f"seed {args.seed}, {sizes}, batch {args.batch:,}, into {args.address}", flush=True)
    path = _sqlite_path(args.address)
    if path is not None and path.exists():
        raise SystemExit(f"{path} exists: the generator writes a new journal")
    if path is not None:
        generated, cached = cached_generate(
            path, args.name, args.seed, sizes, args.cache, batch=args.batch
        )
    else:
        generated, cached = generate(args.address, args.name, args.seed, sizes, args.batch), False
    print(report(generated, cached), flush=True)


if __name__ == "__main__":
    main()
