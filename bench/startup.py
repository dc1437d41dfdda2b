"""Where the start of ``kleio python -c pass`` goes, and two source trees side by side.

    python bench/startup.py [--runs N] [--trees OLD,NEW]

1. The profile: each part of a run's start measured on its own, in this run, beside the
   whole (``kleio python -c pass``) and the ceiling (``python -c pass``): the
   interpreter and Kleio's imports, the git snapshot, the journal's SQLite file (opened,
   two writes, closed), the watcher's interpreter (``python -I -S``). Medians of
   ``--runs`` (default 21), each part's runs alternating with bare ``python -c pass``.
2. With ``--trees``: ``python -m kleio python -c pass`` with ``PYTHONPATH`` set to each
   folder in turn (a checkout of each version, say ``git worktree add``), runs
   interleaved, a cold first run of each discarded: the median of each tree, and what it
   adds to ``python -c pass``.

On a machine others use too, run it twice: a busy core shows in every figure alike, but
not always by the same amount.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

from common import scratch_project  # noqa: E402 - bench/ is this script's folder

PYTHON = sys.executable
#: What ``kleio python -c pass`` imports, as one import line.
RUN_MODULES = (
    "import kleio.cli.main, kleio.cli.context, kleio.cli.arguments, kleio.cli.run, "
    "kleio.cli.running, kleio.core.running.execution, kleio.core.capture.snapshot, "
    "kleio.store.sqlite"
)
#: The journal's file as a run uses it: opened, a trial written and changed, closed.
SQLITE = """
import sys, time
from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1], catalogue=TRIAL_CATALOGUE)
name = str(time.time())
store.create_trial({"_id": name, "status": "new", "project": "p", "created": time.time()})
store.update_trial(name, {"status": "running"})
store.close()
"""
#: The git snapshot, taken in a fresh interpreter (less the interpreter: see below).
GIT = (
    "import os; from kleio.core.capture.code import code_snapshot; code_snapshot(os.getcwd(), None)"
)


def seconds(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - started


def paired(argv, env, cwd, runs: int) -> tuple[float, float]:
    """Medians of ``argv`` (a list, or a function of the run's index giving it) and of
    ``python -c pass``, runs alternating (seconds)."""
    timed, bare = [], []
    for index in range(runs):
        command = argv(index) if callable(argv) else argv
        order = [(command, timed), ([PYTHON, "-c", "pass"], bare)]
        for command, into in order if index % 2 else order[::-1]:
            into.append(seconds(command, env, cwd))
    return statistics.median(timed), statistics.median(bare)


def profile(env: dict[str, str], work: Path, home: Path, runs: int) -> None:
    ms = 1000
    # Each run a new trial, journalled from scratch.
    whole, bare = paired(
        lambda index: [PYTHON, "-m", "kleio", PYTHON, "-c", "pass", str(index)], env, work, runs
    )
    print(f"python -c pass (the ceiling): {bare * ms:.0f} ms", flush=True)
    print(
        f"kleio python -c pass: {whole * ms:.0f} ms, adds {(whole - bare) * ms:.0f} ms "
        "(target <= 50 ms); of which, measured apart:",
        flush=True,
    )
    imports, bare = paired([PYTHON, "-c", RUN_MODULES], env, work, runs)
    print(f"  Kleio's imports: {(imports - bare) * ms:.0f} ms", flush=True)
    print(f"  Kleio's own interpreter: {bare * ms:.0f} ms (as the ceiling's)", flush=True)
    git, _ = paired([PYTHON, "-c", f"{RUN_MODULES}; {GIT}"], env, work, runs)
    print(f"  the git snapshot (five commands side by side): {(git - imports) * ms:.0f} ms")
    database = str(home / "bench-startup.db")
    sqlite, _ = paired([PYTHON, "-c", SQLITE, database], env, work, runs)
    store_alone, _ = paired([PYTHON, "-c", "import kleio.store.sqlite"], env, work, runs)
    print(
        f"  the journal's SQLite file, opened, written twice, closed: "
        f"{(sqlite - store_alone) * ms:.0f} ms",
        flush=True,
    )
    watcher, _ = paired([PYTHON, "-I", "-S", "-c", "pass"], env, work, runs)
    print(
        f"  the watcher's interpreter (python -I -S, beside the script): {watcher * ms:.0f} ms",
        flush=True,
    )


def trees(folders: list[str], env: dict[str, str], work: Path, home: Path, runs: int) -> None:
    for folder in folders:
        compileall.compile_dir(os.path.join(folder, "kleio"), quiet=1)
    envs = {
        folder: {**env, "PYTHONPATH": folder, "KLEIO_HOME": str(home / f"tree{index}")}
        for index, folder in enumerate(folders)
    }

    def kleio(folder: str, word: str) -> float:
        argv = [PYTHON, "-m", "kleio", PYTHON, "-c", "pass", word]
        return seconds(argv, envs[folder], work)

    for folder in folders:  # cold: the database made, the environment cached
        kleio(folder, "cold")
    timed: dict[str, list[float]] = {folder: [] for folder in folders}
    bare: list[float] = []
    for index in range(runs):
        bare.append(seconds([PYTHON, "-c", "pass"], env, work))
        order = folders[index % len(folders) :] + folders[: index % len(folders)]
        for folder in order:
            timed[folder].append(kleio(folder, str(index)))
    ceiling = statistics.median(bare)
    print(f"python -c pass (the ceiling): {ceiling * 1000:.1f} ms (median of {runs})")
    for folder in folders:
        median = statistics.median(timed[folder])
        print(
            f"{folder}: kleio python -c pass {median * 1000:.1f} ms, adds "
            f"{(median - ceiling) * 1000:.1f} ms (target <= 50 ms)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--trees", help="folders holding a kleio/ package, comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # As a user's shell has it: compiled modules cached, Python's output buffered.
        work, env = scratch_project(
            Path(folder), without=("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
        )
        home = Path(env["KLEIO_HOME"])
        home.mkdir()
        if args.trees:
            trees(args.trees.split(","), env, work, home, args.runs)
            return
        subprocess.run(  # cold: the database made, the environment cached
            [PYTHON, "-m", "kleio", PYTHON, "-c", "pass", "cold"],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )
        profile(env, work, home, args.runs)


if __name__ == "__main__":
    main()
