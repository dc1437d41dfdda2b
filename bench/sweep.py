"""What the sweep grammar costs, beside its ceiling.

    python bench/sweep.py [--runs N]

``kleio sweep python train.py --a 'range(100)' --b 'range(100)' --lr 0.1`` stands for
10,000 commands. Measured here (best of ``--runs``, default 7): :func:`count` of it,
which builds nothing, and :func:`expand` of it, beside the ceiling, the same
10,000 argv lists made by :func:`itertools.product` of the same value texts, bare.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timings of each, the best kept")
    for line in measure(parser.parse_args().runs):
        print(line)


if __name__ == "__main__":
    main()
