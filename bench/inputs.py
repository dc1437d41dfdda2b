"""What guarding Kleio's inputs costs, each figure beside its ceiling.

    python bench/inputs.py [--runs N]

1. Secrets on a command line: the median added wall time of ``kleio python -c pass
   --api-key K`` (masked, its id a slow hash of the real value) over ``kleio python -c
   pass --lr K`` (nothing to mask), runs alternating.
2. Configuration files: refusing a 300-byte YAML alias bomb (9**9 values expanded), and
   reading a JSON file of 100,000 values (the cap) with its size and depth checked.
3. The spool: events appended per second by one writer (each append takes the spool
   folder's lock and is fsynced), and a replay claiming and uploading them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def secrets(folder: Path, runs: int) -> None:
    work = folder / "project"
    work.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLEIO_")}
    env["KLEIO_HOME"] = str(folder / "home")
    python = sys.executable
    timed([KLEIO, python, "-c", "pass", "--lr", "warm-up"], env, work)
    plain, masked = [], []
    for run in range(runs):
        plain.append(timed([KLEIO, python, "-c", "pass", "--lr", f"k{run}"], env, work))
        masked.append(timed([KLEIO, python, "-c", "pass", "--api-key", f"k{run}"], env, work))
    added = statistics.median(m - p for m, p in zip(masked, plain, strict=True))
    print(
        f"secrets: kleio run median {statistics.median(plain) * 1000:.0f} ms without, "
        f"{statistics.median(masked) * 1000:.0f} ms with --api-key; added "
        f"{added * 1000:.0f} ms (ceiling 100 ms)"
    )


def configuration_files(folder: Path) -> None:
    from kleio.core.model.commandline import MAX_CONFIG_VALUES, ConfigFileError, load_config_file

    lines = ['a: &a ["l","l","l","l","l","l","l","l","l"]']
    for level, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[level]
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    bomb = folder / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    try:
        load_config_file(str(bomb))
    except ConfigFileError:
        pass
    refused = time.perf_counter() - started
    print(
        f"configuration: a {bomb.stat().st_size}-byte alias bomb refused in "
        f"{refused * 1000:.1f} ms (ceiling 100 ms; 12 s and 1.25 GB before the caps)"
    )
    large = folder / "large.json"
    large.write_text(json.dumps({"ids": list(range(MAX_CONFIG_VALUES - 2))}))
    started = time.perf_counter()
    load_config_file(str(large))
    print(
        f"configuration: a JSON file of {MAX_CONFIG_VALUES:,} values read in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms (ceiling 500 ms)"
    )


def spool(folder: Path) -> None:
    from kleio.core.model.catalogue import TRIAL_CATALOGUE
    from kleio.core.model.journal import EventWriter
    from kleio.core.running.spool import replay_trial_spools, write_spool
    from kleio.store.sqlite import SQLiteStore

    writer, trial = EventWriter(), "t" * 32
    path = folder / "spool" / f"{trial}-statistics-1-1.jsonl"
    appends, per_append = 500, 20
    started = time.perf_counter()
    for index in range(appends):
        write_spool(
            path,
            [writer.event(trial, "statistic", {"i": index, "j": j}) for j in range(per_append)],
        )
    elapsed = time.perf_counter() - started
    print(
        f"spool: {appends / elapsed:,.0f} appends/s of {per_append} events, each locked and "
        f"fsynced (floor 100/s: a writer spools one batch per half second)"
    )
    store = SQLiteStore(folder / "kleio.db", catalogue=TRIAL_CATALOGUE)
    started = time.perf_counter()
    events, _ = replay_trial_spools(store, folder / "spool")
    print(
        f"spool: {events:,} events claimed and uploaded in "
        f"{time.perf_counter() - started:.2f} s (ceiling 5 s)"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        configuration_files(Path(folder))
        spool(Path(folder))
        secrets(Path(folder), args.runs)


if __name__ == "__main__":
    main()
