"""What the sweep grammar costs, beside its ceiling.

    python bench/sweep.py [--runs N]

``kleio sweep python train.py --a 'range(100)' --b 'range(100)' --lr 0.1`` stands for
10,000 commands. Measured here (best of ``--runs``, default 7): :func:`count` of it,
which builds nothing, and :func:`expand` of it, beside the ceiling, the same
10,000 argv lists made by :func:`itertools.product` of the same value texts, bare.

With ``--save``, saving a study of 1,000 trials end to end (``kleio sweep`` in a git
repository, a fresh SQLite journal), beside the ceiling, the same 1,000 trial documents
written bare by ``create_trial`` into another fresh journal, and beside what a sweep cost
before (one ``kleio save`` process a trial, measured on 20 and scaled).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kleio.core.model.sweep import count, expand

ARGV = ["python", "train.py", "--a", "range(100)", "--b", "range(100)", "--lr", "0.1"]


def best(function: Callable[[], object], runs: int) -> float:
    """The best of ``runs`` timings of ``function``, in seconds."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def ceiling() -> list[list[str]]:
    values = [str(i) for i in range(100)]
    return [
        ["python", "train.py", "--a", a, "--b", b, "--lr", "0.1"]
        for a, b in itertools.product(values, values)
    ]


def measure(runs: int) -> list[str]:
    """The lines this bench prints (``bench/all.py`` prints them too)."""
    assert expand(ARGV) == ceiling()  # the same commands
    counted = best(lambda: count(ARGV), runs)
    expanded = best(lambda: expand(ARGV), runs)
    bare = best(ceiling, runs)
    started = time.perf_counter()
    huge = count(["python", "train.py", "--a", "range(10**12)", "--b", "range(10**6)"])
    huge_seconds = time.perf_counter() - started
    return [
        f"count of a {count(ARGV):,}-point grid: {counted * 1e6:,.0f} us (builds nothing)",
        f"expand of a {count(ARGV):,}-point grid: {expanded * 1000:.1f} ms, ceiling "
        f"(itertools.product into lists) {bare * 1000:.1f} ms, ratio {expanded / bare:.2f}",
        f"count of a {huge:.0e}-point grid: {huge_seconds * 1e6:,.0f} us",
    ]


def measure_saving() -> list[str]:
    """``kleio sweep`` of 1,000 trials, a bare write of their documents, and ``kleio save``."""
    import os
    import shutil
    import subprocess
    import tempfile

    from kleio.core.model.catalogue import open_journal

    folder = Path(tempfile.mkdtemp(prefix="kleio-bench-sweep-"))
    try:
        project = folder / "project"
        project.mkdir()
        (project / "train.py").write_text("print('hi')\n")
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.org"]
        for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "first"]):
            subprocess.run([*git, *args], cwd=project, check=True)
        env = {**os.environ, "KLEIO_HOME": str(folder / "home")}
        kleio = [sys.executable, "-m", "kleio"]
        sweep = ["python", "train.py", "--lr", "range(100)", "--seed", "range(10)"]
        started = time.perf_counter()
        subprocess.run([*kleio, "sweep", "--yes", *sweep], cwd=project, env=env, check=True,
                       capture_output=True)  # fmt: skip
        swept = time.perf_counter() - started
        with open_journal(str(folder / "home" / "kleio.db")) as store:
            documents = store.find_trials()
        with open_journal(str(folder / "bare.db")) as bare:
            started = time.perf_counter()
            for document in documents:
                bare.create_trial(document)
            written = time.perf_counter() - started
        started = time.perf_counter()
        for seed in range(20):
            subprocess.run([*kleio, "save", "python", "train.py", "--seed", f"{seed}.5"],
                           cwd=project, env=env, check=True, capture_output=True)  # fmt: skip
        one_by_one = (time.perf_counter() - started) / 20 * len(documents)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [
        f"kleio sweep of {len(documents):,} trials: {swept:.2f} s (one process, git read once), "
        f"ceiling (create_trial of the same documents, bare) {written:.2f} s; "
        f"{len(documents):,} kleio save processes: ~{one_by_one:.0f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timings of each, the best kept")
    parser.add_argument("--save", action="store_true", help="also save a study end to end")
    args = parser.parse_args()
    for line in measure(args.runs):
        print(line)
    if args.save:
        for line in measure_saving():
            print(line)


if __name__ == "__main__":
    main()
