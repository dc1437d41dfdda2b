"""What running under Kleio costs, measured side by side in one run.

    python bench/overhead.py [--runs N] [--lines N] [--mongodb URI]

1. The median added wall time of ``kleio python -c pass`` over ``python -c pass``
   (each run a new trial, so each is journalled from scratch), on the default SQLite store.
2. The ratio of a script printing 1,000,000 lines under Kleio to the same script bare,
   output to /dev/null.

Runs alternate between bare and Kleio so that machine noise hits both alike. The 1M-line
script is measured with Python's default buffered output and with PYTHONUNBUFFERED=1
(one write per line, the worst case for any pipe). With
``--mongodb`` (or ``--wire`` for nx-27017) the same figures are measured on MongoDB too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

from common import each_store, scratch_project  # noqa: E402 - bench/ is this script's folder

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"
PRINTER = "import sys\nfor i in range({lines}):\n    print(i)\n"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        result = subprocess.run(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
    return elapsed


def measure(label: str, env: dict[str, str], cwd: Path, runs: int, lines: int) -> None:
    python = sys.executable
    timed([KLEIO, python, "-c", "pass", "warm-up"], env, cwd)  # database, environment cache
    bare, kleio = [], []
    for run in range(runs):
        bare.append(timed([python, "-c", "pass", str(run)], env, cwd))
        kleio.append(timed([KLEIO, python, "-c", "pass", str(run)], env, cwd))
    added = statistics.median(k - b for k, b in zip(kleio, bare, strict=True))
    print(
        f"[{label}] python -c pass: bare median {statistics.median(bare) * 1000:.0f} ms, "
        f"under kleio {statistics.median(kleio) * 1000:.0f} ms, "
        f"added {added * 1000:.0f} ms (target <= 250 ms; Guild AI ~700 ms, Sumatra ~2100 ms)"
    )

    script = cwd / "printer.py"
    script.write_text(PRINTER.format(lines=lines))
    for mode, extra in (
        ("buffered (Python's default)", {}),
        ("PYTHONUNBUFFERED=1", {"PYTHONUNBUFFERED": "1"}),
    ):
        bare, kleio = [], []
        for run in range(max(3, runs // 3)):
            bare.append(timed([python, str(script), mode, str(run)], {**env, **extra}, cwd))
            kleio.append(timed([KLEIO, python, str(script), mode, str(run)], {**env, **extra}, cwd))
        ratio = statistics.median(kleio) / statistics.median(bare)
        print(
            f"[{label}] {lines:,} lines to /dev/null, {mode}: bare median "
            f"{statistics.median(bare):.2f} s, under kleio {statistics.median(kleio):.2f} s, "
            f"ratio {ratio:.2f}x (target <= 1.5x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--mongodb", help="also measure on this MongoDB address")
    parser.add_argument("--wire", action="store_true", help="also measure on nx-27017")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        # As a user's shell has it: compiled modules cached, Python's output buffered.
        work, env = scratch_project(
            Path(folder), without=("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
        )
        for label, store_env in each_store(Path(folder), env, args.mongodb, args.wire):
            measure(label, store_env, work, args.runs, args.lines)


if __name__ == "__main__":
    main()
