"""How much memory ``kleio`` holds while a script prints a lot, measured in this run.

    python bench/memory.py [--sizes 1024,3072] [--mongodb URI | --wire]

For each size (megabytes of output, 1 GB and 3 GB by default), a script writes that
much to stdout as fast as it can, under ``kleio`` with its output sent to /dev/null, and
this prints the peak resident memory of ``kleio`` (``ru_maxrss`` of the finished process,
which covers the script and the watcher too: both are far smaller), the time it took,
and the ceiling beside it. ``kleio python -c pass`` is measured first, for the baseline.
Output goes to the store in bounded batches and a script that prints faster than the
store writes waits for it, so the peak must not grow with the size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

from common import each_store, scratch_project  # noqa: E402 - bench/ is this script's folder

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"
#: Peak resident memory allowed for kleio, whatever the output.
CEILING_MB = 100
PRINTER = """\
import sys
megabytes = int(sys.argv[1])
block = (b"x" * 1023 + b"\\n") * 1024
for _ in range(megabytes):
    sys.stdout.buffer.write(block)
"""


def peak(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(peak resident megabytes, seconds) of ``argv``, its output to /dev/null."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as null:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=null, stderr=subprocess.PIPE)
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {errors.decode(errors='replace')}")
    return usage.ru_maxrss / 1024, elapsed  # KB on Linux


def measure(label: str, env: dict[str, str], cwd: Path, sizes: list[int]) -> None:
    python = sys.executable
    baseline, _ = peak([KLEIO, python, "-c", "pass"], env, cwd)
    print(f"[{label}] kleio python -c pass: peak {baseline:.0f} MB")
    script = cwd / "printer.py"
    script.write_text(PRINTER)
    for megabytes in sizes:
        rss, elapsed = peak([KLEIO, python, str(script), str(megabytes)], env, cwd)
        verdict = "ok" if rss <= CEILING_MB else "OVER"
        print(
            f"[{label}] {megabytes:,} MB of output: kleio peak {rss:.0f} MB "
            f"(ceiling {CEILING_MB} MB: {verdict}), {elapsed:.1f} s, "
            f"{megabytes / elapsed:.0f} MB/s journalled"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,3072", help="megabytes of output, by commas")
    parser.add_argument("--mongodb", help="also measure on this MongoDB address")
    parser.add_argument("--wire", action="store_true", help="also measure on nx-27017")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as folder:
        work, env = scratch_project(Path(folder))
        for label, store_env in each_store(Path(folder), env, args.mongodb, args.wire):
            measure(label, store_env, work, sizes)


if __name__ == "__main__":
    main()
