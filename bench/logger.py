"""How fast a script logs statistics through kleio_logger.

    python bench/logger.py [--calls N] [--wire-calls N] [--mongodb URI]

For N calls of ``log_statistic(step=i, loss=x, acc=y)`` in a script running as a trial
(``KLEIO_TRIAL_ID`` set, as ``kleio`` sets it), prints:

- the in-loop rate: calls per second while the loop runs;
- the end-to-end rate: statistics per second until all are durable in the store
  (``flush()`` returned and every one of them can be read back);
- the rate of four ``multiprocessing`` pool workers logging at once, where each
  statistic is written before ``log_statistic`` returns (``--pool-calls``);

on SQLite and on the MongoDB wire backend (nx-27017, or ``--mongodb``), and the time to
import the logger outside Kleio. Everything is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

WORKER = """
import json, resource, sys, time
count = int(sys.argv[1])
from kleio.client.logger import kleio_logger as log  # its import is measured apart
started = time.perf_counter()
for i in range(count):
    log.log_statistic(step=i, loss=1.0 / (i + 1), acc=i / count)
looped = time.perf_counter()
assert log.flush()
durable = time.perf_counter()
print(json.dumps({"in_loop": count / (looped - started),
                  "end_to_end": count / (durable - started),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

POOL = """
import json, multiprocessing, sys, time
from kleio.client.logger import kleio_logger as log


def work(share):
    for i in range(share):
        log.log_statistic(step=i, loss=1.0 / (i + 1))


if __name__ == "__main__":
    count = int(sys.argv[1])
    with multiprocessing.get_context("fork").Pool(4) as pool:
        started = time.perf_counter()
        pool.map(work, [count // 4] * 4)
        elapsed = time.perf_counter() - started
    print(json.dumps({"rate": count / elapsed}))
"""

IMPORT = """
import time
started = time.perf_counter()
from kleio.client.logger import kleio_logger
print(time.perf_counter() - started)
"""


def measure(label: str, env: dict[str, str], count: int) -> None:
    from kleio.core.model.catalogue import open_journal

    trial = f"bench{os.getpid()}{label}"
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(count)],
        env={**env, "KLEIO_TRIAL_ID": trial},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    rates = json.loads(result.stdout)
    with open_journal(env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")) as store:
        stored = store.count_events(trial, ["statistic"])
    if stored != count:
        raise SystemExit(f"{label}: {stored} of {count} statistics stored")
    print(
        f"[{label}] {count:,} calls: in-loop {rates['in_loop']:,.0f} calls/s "
        f"(target >= 300,000), end-to-end {rates['end_to_end']:,.0f} statistics/s"
        + (" (target >= 100,000)" if label == "sqlite" else ""),
        flush=True,
    )


def measure_pool(label: str, env: dict[str, str], count: int) -> None:
    from kleio.core.model.catalogue import open_journal

    trial = f"bench{os.getpid()}{label}pool"
    result = subprocess.run(
        [sys.executable, "-c", POOL, str(count)],
        env={**env, "KLEIO_TRIAL_ID": trial},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    rate = json.loads(result.stdout)["rate"]
    with open_journal(env["KLEIO_DB_ADDRESS"], env.get("KLEIO_DB_NAME", "kleio")) as store:
        stored = store.count_events(trial, ["statistic"])
    if stored != count // 4 * 4:
        raise SystemExit(f"{label}: {stored} of {count} statistics stored")
    print(
        f"[{label}] {count:,} calls from 4 pool workers, each written before it returns: "
        f"{rate:,.0f} statistics/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument(
        "--wire-calls",
        type=int,
        default=100_000,
        help="calls on the wire backend (nx-27017 is much slower than MongoDB)",
    )
    parser.add_argument("--pool-calls", type=int, default=20_000)
    parser.add_argument("--mongodb", default=os.environ.get("KLEIO_TEST_MONGODB_URI"))
    args = parser.parse_args()

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KLEIO_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    imports = []
    for _ in range(15):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT], env=base, capture_output=True, text=True, check=True
        )
        imports.append(float(out.stdout))
    print(
        f"import of kleio.client.logger outside Kleio: median "
        f"{statistics.median(imports) * 1000:.1f} ms (target <= 30 ms)"
    )

    with tempfile.TemporaryDirectory() as folder:
        env = {**base, "KLEIO_HOME": folder, "KLEIO_DB_ADDRESS": str(Path(folder) / "kleio.db")}
        measure("sqlite", env, args.calls)
        measure_pool("sqlite", env, args.pool_calls)

        from tests.mongo_server import mongodb_or_wire

        with mongodb_or_wire(Path(folder), args.mongodb) as (label, address):
            store_env = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"}
            measure(label, store_env, args.wire_calls)
            measure_pool(label, store_env, args.pool_calls // 10)


if __name__ == "__main__":
    main()
