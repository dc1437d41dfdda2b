"""Round trips to MongoDB: how many commands a Kleio command sends, and what each costs
when the database is a network away.

    python bench/roundtrips.py [--runs N] [--latency MS] [--mongodb URI]

1. The commands ``kleio python -c pass`` and ``kleio ls`` send to MongoDB (nx-27017 by
   default), counted by a pymongo ``CommandListener`` in the ``kleio`` process (the
   connection's handshake and the monitor's heartbeats are not commands: the listener
   does not see them; the first costs one more round trip per connection).
2. The commands of each phase of a run (:func:`count_phases`): before its script is
   spawned, the journal of its start, one heartbeat, a flush of statistics by the
   script's ``kleio_logger`` (counted in the script's process), and its end.
3. The start-up of ``kleio python -c pass`` on that server directly and through a TCP
   proxy on loopback that delays every message to the server by ``--latency`` ms (20 by
   default, a hosted MongoDB), against ``python -c pass``: the added time divided by the
   latency is the number of round trips the user waits for.
"""

from __future__ import annotations

import argparse
import heapq
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's `tests` package

from common import scratch_project  # noqa: E402 - bench/ is this script's folder

KLEIO = shutil.which("kleio", path=str(Path(sys.executable).parent)) or "kleio"

#: Runs ``kleio ARGV`` in this process with a CommandListener registered before any
#: client exists; prints the commands it saw as JSON on the last line of stderr.
_COUNTING = """\
import json, os, sys
from collections import Counter
from pymongo import monitoring
seen = Counter()
class Counting(monitoring.CommandListener):
    def started(self, event):
        seen[event.command_name] += 1
    def succeeded(self, event):
        pass
    def failed(self, event):
        pass
monitoring.register(Counting())
from kleio.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\n" + json.dumps(dict(seen)) + "\\n")
sys.stderr.flush()
os._exit(code)
"""


#: As :data:`_COUNTING`, with each command's collection and event kinds and the moment
#: the script is spawned ("SPAWN"), in order: what :func:`count_phases` splits.
_PHASED = """\
import json, os, subprocess, sys
from pymongo import monitoring
seen = []
class Counting(monitoring.CommandListener):
    def started(self, event):
        command, name = event.command, event.command_name
        updates = command.get("updates") or [{}]
        seen.append({
            "name": name,
            "collection": command.get(name) if isinstance(command.get(name), str) else None,
            "kinds": [d.get("kind") for d in command.get("documents") or [] if isinstance(d, dict)],
            "set": sorted(updates[0].get("u", {}).get("$set", {})),
        })
    def succeeded(self, event):
        pass
    def failed(self, event):
        pass
monitoring.register(Counting())
_popen = subprocess.Popen.__init__
def _spawning(self, *args, **options):
    if "KLEIO_TRIAL_ID" in (options.get("env") or {}):
        seen.append({"name": "SPAWN"})
    _popen(self, *args, **options)
subprocess.Popen.__init__ = _spawning
from kleio.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\n" + json.dumps(seen) + "\\n")
sys.stderr.flush()
os._exit(code)
"""

#: The script of :func:`count_phases`: a flush of statistics, counted in its process,
#: then long enough for heartbeats; prints the flush's commands last on its stdout.
_FLUSHING = """\
import json, time
from pymongo import monitoring
seen = []
class Counting(monitoring.CommandListener):
    def started(self, event):
        seen.append(event.command_name)
    def succeeded(self, event):
        pass
    def failed(self, event):
        pass
monitoring.register(Counting())
from kleio.client.logger import kleio_logger
kleio_logger.log_statistic(step=0, loss=1.0)
kleio_logger.flush()  # the connection, set up before counting
del seen[:]
for step in range(1, 101):
    kleio_logger.log_statistic(step=step, loss=1.0 / step)
kleio_logger.flush()
flushed = list(seen)
time.sleep(1.2)
print(json.dumps(flushed))
"""


def count_phases(env: dict[str, str], cwd: Path) -> dict[str, int]:
    """The MongoDB commands of each phase of a run on a database already set up:
    ``start`` (before the script is spawned), ``start journal`` (the start's statuses and
    execution, journalled once the script runs), ``heartbeat`` (one renewal of the lease),
    ``flush`` (100 statistics flushed by the script's ``kleio_logger``), ``end`` (after
    the script; the client's ``endSessions`` at exit not counted)."""
    env = {**env, "KLEIO_HEARTBEAT": "0.3", "KLEIO_LEASE": "30"}
    result = subprocess.run(
        [sys.executable, "-c", _PHASED, sys.executable, "-c", _FLUSHING],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    if result.returncode != 0 or not lines:
        raise SystemExit(f"a counted run failed: {result.stderr.decode(errors='replace')}")
    seen = json.loads(lines[-1])
    flushed = json.loads(result.stdout.decode().strip().splitlines()[-1])
    spawn = next(i for i, command in enumerate(seen) if command["name"] == "SPAWN")
    after = [c for c in seen[spawn + 1 :] if c["name"] != "endSessions"]
    beats = [c for c in after if c["collection"] == "trials" and c["set"] == ["heartbeat"]]
    rest = [c for c in after if c not in beats]
    started = next(i for i, c in enumerate(rest) if "execution" in c["kinds"])
    return {
        "start": spawn,
        "start journal": started + 2,  # up to its insert, then its summaries' update
        "heartbeat": len(beats) and 1,
        "flush": len(flushed),
        "end": len(rest) - started - 2,
    }


def count_commands(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, int]:
    """The MongoDB commands ``kleio ARGV`` sends, by name."""
    result = subprocess.run(
        [sys.executable, "-c", _COUNTING, *argv],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    if result.returncode != 0 or not lines:
        raise SystemExit(f"kleio {' '.join(argv)} failed: {result.stderr.decode()}")
    return json.loads(lines[-1])


class DelayingProxy:
    """A TCP proxy on loopback in front of ``upstream``: every chunk sent to the server
    is forwarded ``delay`` seconds after it arrived (answers go back at once), so each
    round trip costs ``delay`` more, as on a network."""

    def __init__(self, upstream: tuple[str, int], delay: float):
        self.upstream, self.delay = upstream, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._delayed, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _delayed(self, source: socket.socket, target: socket.socket) -> None:
        """Forward ``source`` to ``target``, each chunk ``delay`` after it came."""
        queue: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        done = []

        def send() -> None:
            while True:
                with ready:
                    while not queue and not done:
                        ready.wait()
                    if not queue:
                        break
                    due, _, data = heapq.heappop(queue)
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    target.sendall(data)
                except OSError:
                    break
            target.close()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        count = 0
        while True:
            try:
                data = source.recv(1 << 16)
            except OSError:
                data = b""
            with ready:
                if not data:
                    done.append(True)
                else:
                    count += 1
                    heapq.heappush(queue, (time.monotonic() + self.delay, count, data))
                ready.notify()
            if not data:
                break
        source.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        while True:
            try:
                data = source.recv(1 << 16)
                if not data:
                    break
                target.sendall(data)
            except OSError:
                break
        for sock in (source, target):
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def measure(
    label: str, address: str, env: dict[str, str], cwd: Path, runs: int, latency_ms: float
) -> None:
    """Print the commands of a run's start and of ``kleio ls``, and the start-up with
    and without ``latency_ms`` per round trip."""
    env = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "roundtrips"}
    python = sys.executable
    _timed([KLEIO, python, "-c", "pass", "warm-up"], env, cwd)  # indexes, caches
    for name, argv in (
        ("kleio python -c pass", [python, "-c", "pass", "counted"]),
        ("kleio ls", ["ls"]),
    ):
        commands = count_commands(argv, env, cwd)
        listed = ", ".join(f"{command} {count}" for command, count in sorted(commands.items()))
        print(
            f"[{label}] {name}: {sum(commands.values())} round trips ({listed}), "
            "plus one handshake per connection",
            flush=True,
        )
    phases = ", ".join(f"{phase} {count}" for phase, count in count_phases(env, cwd).items())
    print(f"[{label}] commands of each phase of a run: {phases}", flush=True)
    host, port = address.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    proxy = DelayingProxy((host, int(port)), latency_ms / 1000)
    far = {**env, "KLEIO_DB_ADDRESS": proxy.address}
    try:
        bare, near, distant = [], [], []
        for run in range(runs):
            bare.append(_timed([python, "-c", "pass"], env, cwd))
            near.append(_timed([KLEIO, python, "-c", "pass", "near", str(run)], env, cwd))
            distant.append(_timed([KLEIO, python, "-c", "pass", "far", str(run)], far, cwd))
    finally:
        proxy.close()
    added_near = statistics.median(n - b for n, b in zip(near, bare, strict=True))
    added_far = statistics.median(d - b for d, b in zip(distant, bare, strict=True))
    waited = (added_far - added_near) / (latency_ms / 1000)
    print(
        f"[{label}] kleio python -c pass, added to python -c pass (median of {runs}): "
        f"{added_near * 1000:.0f} ms on loopback, {added_far * 1000:.0f} ms with "
        f"{latency_ms:g} ms per round trip: {waited:.1f} round trips waited for "
        "(ceiling: the handshake and the commands above, each one latency)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--latency", type=float, default=20.0, help="ms per round trip")
    parser.add_argument("--mongodb", help="a MongoDB address instead of nx-27017")
    args = parser.parse_args()
    from tests.mongo_server import mongodb_or_wire

    with tempfile.TemporaryDirectory() as folder:
        work, env = scratch_project(Path(folder))
        with mongodb_or_wire(Path(folder), args.mongodb) as (label, address):
            measure(label, address, env, work, args.runs, args.latency)


if __name__ == "__main__":
    main()
