"""What running under Kleio costs, measured side by side in one run.

    python bench/overhead.py [--runs N] [--lines N] [--mongodb URI]

1. The median added wall time of ``kleio python -c pass`` over ``python -c pass``
   (each run a new trial, so each is journalled from scratch), on the default SQLite store,
   with the configuration hook on and off (``--no-hook``), and the median time of
   ``kleio --version`` (the interpreter's start and Kleio's import).
2. What the hook costs the script itself: a script parsing its arguments with argparse,
   started bare and started as Kleio starts it (the hook on ``PYTHONPATH``, its pipe read).
3. A CPU-bound script's own run time under Kleio sampling its resources every second,
   against not sampled (``--sample-interval 0``).
4. The ratio of a script printing 1,000,000 lines under Kleio to the same script bare,
   output to /dev/null. Kleio runs it unbuffered (``PYTHONUNBUFFERED=1``, for live
   output) unless the user set the variable: "live output" compares the user's default
   (buffered, bare) with what Kleio runs; "both unbuffered" compares like with like.

Runs alternate between bare and Kleio (or on and off) so that machine noise hits both
alike. With ``--mongodb`` (or ``--wire`` for nx-27017) figures 1 and 4 are measured on
MongoDB too.
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

from common import scratch_project  # noqa: E402 - bench/ is this script's folder

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"
PRINTER = "import sys\nfor i in range({lines}):\n    print(i)\n"
PARSER = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--layers", type=int, nargs="+", default=[64, 64])
sub = parser.add_subparsers(dest="command")
sub.add_parser("train").add_argument("--seed", type=int, default=0)
parser.parse_args()
"""
#: Pure Python work of a few seconds; prints its own run time.
CPU_BOUND = """\
import sys, time
started = time.perf_counter()
total = 0
for i in range({loops}):
    total += i * i % 7
print(time.perf_counter() - started, time.process_time())
"""


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
    version = statistics.median(timed([KLEIO, "--version"], env, cwd) for _ in range(runs))
    print(f"[{label}] kleio --version: median {version * 1000:.0f} ms (target <= 150 ms)")
    print(
        f"[{label}] python -c pass: bare median {statistics.median(bare) * 1000:.0f} ms, "
        f"under kleio {statistics.median(kleio) * 1000:.0f} ms, "
        f"added {added * 1000:.0f} ms (target <= 250 ms; Guild AI ~700 ms, Sumatra ~2100 ms)"
    )
    if label == "sqlite":
        hooked, unhooked = [], []
        for run in range(runs):  # each goes first in every other pair
            with_hook = [KLEIO, python, "-c", "pass", "hook", str(run)]
            without = [KLEIO, "--no-hook", python, "-c", "pass", "nohook", str(run)]
            for hook in (True, False) if run % 2 else (False, True):
                (hooked if hook else unhooked).append(
                    timed(with_hook if hook else without, env, cwd)
                )
        print(
            f"[{label}] kleio python -c pass with the hook: median "
            f"{statistics.median(hooked) * 1000:.0f} ms, with --no-hook "
            f"{statistics.median(unhooked) * 1000:.0f} ms, difference "
            f"{(statistics.median(hooked) - statistics.median(unhooked)) * 1000:+.1f} ms "
            "(target: under 5 ms)"
        )

    script = cwd / "printer.py"
    script.write_text(PRINTER.format(lines=lines))
    for mode, extra in (
        ("live output (bare buffered, kleio unbuffered)", {}),
        ("both unbuffered (PYTHONUNBUFFERED=1)", {"PYTHONUNBUFFERED": "1"}),
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


def hook_cost(env: dict[str, str], cwd: Path, runs: int) -> None:
    """The script's own start-up and argument parsing, bare and with the hook loaded as
    Kleio loads it (its folder on PYTHONPATH, a pipe read by a thread): its wall time,
    and its CPU time, which machine load disturbs far less."""
    import resource

    from kleio.core.capture.hook import HookChannel

    script = cwd / "parser.py"
    script.write_text(PARSER)
    argv = [sys.executable, str(script), "--lr", "0.5", "train"]

    def once(hooked: bool) -> tuple[float, float]:
        """(wall, CPU) seconds of the script."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        records: list = []
        channel = HookChannel(records.append) if hooked else None
        extra = channel.environment(env) if channel else {}
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, env={**env, **extra}, cwd=cwd, pass_fds=channel.fds if channel else ()
        )
        if channel:
            channel.started()
        process.wait()
        wall = time.perf_counter() - started
        if channel:
            channel.close()
            if not records:
                raise SystemExit("the hook reported nothing")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    once(True), once(False)
    bare, hooked = [], []
    for run in range(runs * 2):  # each goes first in every other pair
        for hook in (True, False) if run % 2 else (False, True):
            (hooked if hook else bare).append(once(hook))
    print(
        "[hook] python parser.py (argparse, a subcommand): wall bare median "
        f"{statistics.median(b[0] for b in bare) * 1000:.1f} ms, hooked "
        f"{statistics.median(h[0] for h in hooked) * 1000:.1f} ms, added "
        f"{statistics.median(h[0] - b[0] for h, b in zip(hooked, bare, strict=True)) * 1000:+.2f}"
        " ms; CPU bare median "
        f"{statistics.median(b[1] for b in bare) * 1000:.1f} ms, hooked "
        f"{statistics.median(h[1] for h in hooked) * 1000:.1f} ms, added "
        f"{statistics.median(h[1] - b[1] for h, b in zip(hooked, bare, strict=True)) * 1000:+.2f}"
        " ms (target: under 5 ms)"
    )


def sampling_cost(env: dict[str, str], cwd: Path, runs: int, loops: int) -> None:
    """A CPU-bound script's own run time, sampled every second against not sampled, and
    the CPU time ``kleio`` itself spends (what the sampler takes from the machine)."""
    import resource

    script = cwd / "cpu_bound.py"
    script.write_text(CPU_BOUND.format(loops=loops))

    def once(interval: str, run: int) -> tuple[float, float]:
        """(the script's run time, kleio's own CPU seconds)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(
            [KLEIO, "--sample-interval", interval, sys.executable, str(script), interval, str(run)],
            env=env,
            cwd=cwd,
            capture_output=True,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, script_cpu = (float(word) for word in result.stdout.split()[-2:])
        total_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return wall, total_cpu - script_cpu

    sampled, unsampled = [], []
    for run in range(runs):  # each goes first in every other pair: no order favours one
        if run % 2:
            unsampled.append(once("0", run))
            sampled.append(once("1", run))
        else:
            sampled.append(once("1", run))
            unsampled.append(once("0", run))
    ratio = statistics.median(s[0] for s in sampled) / statistics.median(u[0] for u in unsampled)
    extra = statistics.median(s[1] - u[1] for s, u in zip(sampled, unsampled, strict=True))
    seconds = statistics.median(s[0] for s in sampled)
    print(
        f"[sampling] CPU-bound script, its own run time: not sampled median "
        f"{statistics.median(u[0] for u in unsampled):.3f} s, sampled every 1 s "
        f"{statistics.median(s[0] for s in sampled):.3f} s, ratio {ratio:.4f} (target <= 1.01); "
        f"kleio's own CPU, sampled minus not: {extra * 1000:+.1f} ms over {seconds:.1f} s "
        f"({extra / seconds * 100:+.2f}% of one core)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--loops", type=int, default=20_000_000, help="work of the CPU-bound script"
    )
    parser.add_argument(
        "--only",
        default="hook,sampling,startup",
        help="which figures, of hook,sampling,startup (startup includes the 1M lines)",
    )
    parser.add_argument("--mongodb", help="also measure on this MongoDB address")
    parser.add_argument("--wire", action="store_true", help="also measure on nx-27017")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        # As a user's shell has it: compiled modules cached, Python's output buffered.
        work, env = scratch_project(
            Path(folder), without=("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
        )
        only = set(args.only.split(","))
        if "hook" in only:
            hook_cost(env, work, args.runs)
        if "sampling" in only:
            sampling_cost(env, work, max(5, args.runs // 2), args.loops)
        if "startup" in only:
            measure("sqlite", env, work, args.runs, args.lines)

        if args.wire or args.mongodb:
            from tests.mongo_server import mongodb_or_wire

            with mongodb_or_wire(Path(folder), args.mongodb) as (label, address):
                measure(
                    label,
                    {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "bench"},
                    work,
                    args.runs,
                    args.lines,
                )


if __name__ == "__main__":
    main()
