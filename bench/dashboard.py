"""How fast the dashboard answers on a large journal.

    python bench/dashboard.py [--trials N] [--statistics N] [--database ADDRESS]

Fills a journal (SQLite in a temporary folder unless ``--database`` names another, a
MongoDB address say) with N trials as ``kleio`` writes them (10 statistics each, so
their summaries exist), one trial with 1,000 lines of output and 1,000 statistics, and
one with 1,000,000 statistics; then starts the real ``kleio ui`` and measures, as the
page asks for them (median of several requests; the server's own time from its
``Server-Timing`` header, the bytes from what it sent, compressed as a browser asks):

- ``kleio ui``'s start-up: from the command to the first page served;
- the trials page over N trials: its first page (50 rows), newest first and sorted by
  ``loss:min``;
- a trial's page: the record, the end of its output and its chart's curve;
- a curve of 1,000,000 points cut down to 1,000 pixel columns: the first request
  (which reads every statistic) and the next ones (which read only what was logged
  since).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reading import realistic_document  # noqa: E402

from kleio.core.model.catalogue import open_journal  # noqa: E402
from kleio.core.model.journal import EventWriter  # noqa: E402
from kleio.core.model.printed import CHUNK, output_data  # noqa: E402

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fill(address: str, name: str, trials: int, count: int) -> tuple[str, str]:
    """The journal; the ids of the 1,000-statistic trial and the big one."""
    writer = EventWriter()
    with open_journal(address, name) as store:
        for index in range(trials):
            document = realistic_document(index)
            store.create_trial(document)
            rate = 0.001 + index / trials
            store.append_events(
                writer.events(
                    document["_id"],
                    [
                        ("statistic", time.time(), {"epoch": i, "loss": rate / (i + 1)})
                        for i in range(10)
                    ],
                )
            )
        page = realistic_document(-1)
        store.create_trial(page)
        text = b"".join(b"epoch %d: loss went down a little\n" % i for i in range(1000))
        store.append_events(
            writer.events(
                page["_id"],
                [("stdout", time.time(), d) for s in range(0, len(text), CHUNK)
                 for d in output_data(text[s : s + CHUNK])]
                + [("statistic", time.time(), {"epoch": i, "loss": 1 / (i + 1)})
                   for i in range(1000)],
            )
        )  # fmt: skip
        big = realistic_document(-2)
        store.create_trial(big)
        for start in range(0, count, 10_000):
            store.append_events(
                writer.events(
                    big["_id"],
                    [
                        ("statistic", time.time(), {"step": i, "loss": 1.0 / (i + 1)})
                        for i in range(start, min(start + 10_000, count))
                    ],
                )
            )
    return page["_id"], big["_id"]


def get(url: str) -> tuple[float, float, int]:
    """``(seconds the client waited, seconds the server says it took, bytes sent)``."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with _OPENER.open(request, timeout=600) as answer:
        body = answer.read()
        timing = answer.headers.get("Server-Timing", "")
    waited = time.perf_counter() - started
    found = re.search(r"dur=([0-9.]+)", timing)
    return waited, float(found[1]) / 1000 if found else float("nan"), len(body)


def median_of(url: str, runs: int) -> tuple[float, float, int]:
    results = [get(url) for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        results[-1][2],
    )


def start_ui(env: dict[str, str]) -> tuple[subprocess.Popen, str, float]:
    """``kleio ui`` started; its process, address and seconds to its first page."""
    started = time.perf_counter()
    # Without a token: the requests measured are the page's own, which carry it in a
    # cookie (its first line is then a warning that no token is needed).
    process = subprocess.Popen(
        [KLEIO, "ui", "--port", "0", "--no-token"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    lines = []
    while not lines or lines[-1] and not re.search(r" at (http://\S+) ", lines[-1]):
        lines.append(process.stderr.readline().decode())
    found = re.search(r" at (http://\S+) ", lines[-1])
    if not found:
        raise SystemExit("".join(lines) + process.stderr.read().decode())
    url = found[1].rstrip("/")
    get(url + "/")
    return process, url, time.perf_counter() - started


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--statistics", type=int, default=1_000_000)
    parser.add_argument("--database", help="a database address (default: SQLite, temporary)")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("KLEIO_")}
    with tempfile.TemporaryDirectory() as folder:
        address = args.database or str(Path(folder) / "kleio.db")
        env = {**base, "KLEIO_HOME": folder, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"}
        started = time.perf_counter()
        page, big = fill(address, "bench", args.trials, args.statistics)
        print(
            f"filled {args.trials:,} trials and one of {args.statistics:,} statistics in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        startups = []
        for _ in range(5):
            process, url, seconds = start_ui(env)
            startups.append(seconds)
            stop(process)
        print(
            f"kleio ui start-up (command to first page served): "
            f"{statistics.median(startups):.2f} s (ceiling 1 s)",
            flush=True,
        )
        process, url, _ = start_ui(env)
        try:
            for label, query in (
                ("newest first", "/api/trials?limit=50"),
                ("sorted by loss:min", "/api/trials?limit=50&sort=loss:min"),
            ):
                waited, spent, sent = median_of(url + query, 5)
                print(
                    f"trials page over {args.trials:,} trials, first page {label}: server "
                    f"{spent:.2f} s, client {waited:.2f} s, {sent / 1024:,.0f} KB sent "
                    f"(ceiling 1 s)",
                    flush=True,
                )
            parts = [
                f"/api/trials/{page}",
                f"/api/trials/{page}/output",
                f"/api/series?trials={page}&y=loss&points=800",
            ]
            results = [median_of(url + part, 5) for part in parts]
            print(
                f"a trial's page (record, output, chart; 1,000 lines and statistics): server "
                f"{sum(r[1] for r in results):.2f} s, client {sum(r[0] for r in results):.2f} s, "
                f"{sum(r[2] for r in results) / 1024:,.0f} KB sent (ceiling 0.5 s)",
                flush=True,
            )
            curve = f"{url}/api/series?trials={big}&y=loss&points=1000"
            first = get(curve)
            later = median_of(curve, 5)
            plain = urllib.request.Request(curve)
            with _OPENER.open(plain, timeout=600) as answer:
                uncompressed = len(answer.read())
            print(
                f"a {args.statistics:,}-point curve in 1,000 pixel columns: first request "
                f"server {first[1]:.2f} s (reads every statistic), next requests "
                f"{later[1]:.3f} s (ceiling 0.3 s); {first[2] / 1024:,.0f} KB sent gzipped, "
                f"{uncompressed / 1024:,.0f} KB plain (ceiling 500 KB)",
                flush=True,
            )
        finally:
            stop(process)


if __name__ == "__main__":
    main()
