"""What ``kleio.start()`` and ``end()`` add to a script, beside ``import kleio`` and a
bare interpreter.

    python bench/inprocess.py [--runs N]

Prints the medians of N runs (default 11), alternated so that machine noise hits each
alike: ``python -c pass``; ``python -c "import kleio"``; a script whose trial is started
and ended (``resume=False``: a new trial each run, so every run reserves, records its
start and end and writes its journal). The figure is the last minus the second (target
<= 100 ms). The first run, not counted, fills the environment cache, as a user's first
run does.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import scratch_project

PYTHON = sys.executable
SCRIPT = "import kleio\nkleio.start(config={'lr': 0.1}, resume=False).end()\n"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(env: dict[str, str], work: Path, runs: int) -> dict[str, float]:
    """Median milliseconds of ``bare``, ``import`` and ``trial`` (see the module)."""
    (work / "inprocess.py").write_text(SCRIPT)
    commands = {
        "bare": [PYTHON, "-c", "pass"],
        "import": [PYTHON, "-c", "import kleio"],
        "trial": [PYTHON, "inprocess.py"],
    }
    timed(commands["trial"], env, work)  # warm-up: database, environment cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(timed(argv, env, work))
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        # As a user's shell has it: compiled modules cached.
        work, env = scratch_project(Path(folder), without=("PYTHONDONTWRITEBYTECODE",))
        median = measure(env, work, runs)
    added = median["trial"] - median["import"]
    print(
        f"kleio.start()+end() adds {added:.0f} ms (median of {runs}; target <= 100 ms): "
        f"python -c pass {median['bare']:.0f} ms, import kleio {median['import']:.0f} ms, "
        f"a script starting and ending a trial {median['trial']:.0f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
