"""How fast each store appends statistic events: batched (1,000 per call) and one by one.

    python bench/store.py [--events N] [--single N] [--mongodb URI]

Runs on SQLite (a temporary file) and on the MongoDB wire backend: nx-27017 started on a
free port, or the server given by ``--mongodb`` / ``KLEIO_TEST_MONGODB_URI``. Prints
events/s per backend and mode, and the ratios between them, all measured in this run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the `tests` package

from kleio.core.model.catalogue import open_journal
from kleio.core.model.journal import EventWriter
from kleio.store import Store

BATCH = 1000


def statistic_events(writer: EventWriter, trial: str, count: int):
    return [
        writer.event(trial, "statistic", {"step": i, "loss": 1.0 / (i + 1), "acc": i / count})
        for i in range(count)
    ]


def appends_per_second(store: Store, count: int, batch: int) -> float:
    writer = EventWriter()
    events = statistic_events(writer, f"bench-{batch}-{time.time_ns()}", count)
    started = time.perf_counter()
    for start in range(0, count, batch):
        store.append_events(events[start : start + batch])
    elapsed = time.perf_counter() - started
    assert store.count_events(events[0].trial) == count
    return count / elapsed


def measure(name: str, store: Store, batched: int, single: int) -> dict[str, float]:
    appends_per_second(store, 2 * BATCH, BATCH)  # warm up: schema, indexes, caches
    figures = {
        "batched": appends_per_second(store, batched, BATCH),
        "single": appends_per_second(store, single, 1),
    }
    print(
        f"{name:8}  batched ({BATCH}/call): {figures['batched']:>10,.0f} events/s   "
        f"single: {figures['single']:>8,.0f} events/s   "
        f"batched/single: {figures['batched'] / figures['single']:.0f}x",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events appended in batches")
    parser.add_argument("--single", type=int, default=5_000, help="events appended one by one")
    parser.add_argument(
        "--mongodb",
        default=os.environ.get("KLEIO_TEST_MONGODB_URI"),
        help="a real MongoDB to measure instead of nx-27017",
    )
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        with open_journal(os.path.join(folder, "kleio.db")) as store:
            results["sqlite"] = measure("sqlite", store, args.events, args.single)

        from tests.mongo_server import mongodb_or_wire

        with (
            mongodb_or_wire(Path(folder), args.mongodb) as (name, uri),
            open_journal(uri, f"kleio_bench_{os.getpid()}") as store,
        ):
            results[name] = measure(
                name, store, max(args.events // 10, BATCH), max(args.single // 5, 100)
            )
            store._db.client.drop_database(store.name)

    sqlite_batched = results["sqlite"]["batched"]
    verdict = "meets" if sqlite_batched >= 100_000 else "misses"
    print(f"sqlite batched {sqlite_batched:,.0f} events/s {verdict} the 100,000 events/s target")
    other = next(name for name in results if name != "sqlite")
    print(
        f"sqlite/{other}: batched {sqlite_batched / results[other]['batched']:.1f}x, "
        f"single {results['sqlite']['single'] / results[other]['single']:.1f}x"
    )


if __name__ == "__main__":
    main()
