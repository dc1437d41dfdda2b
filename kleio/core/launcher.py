"""Running the script: output copied live and journalled, heartbeat, signals.

The script runs in its own process group, in the requested folder, with the user's
environment plus ``KLEIO_*`` variables. Its stdout and stderr are read as bytes, written
unchanged to Kleio's own stdout and stderr (unless captured) and journalled as output
events (:mod:`kleio.core.output`). Signals sent to Kleio are passed on to the script's
process group (:mod:`kleio.core.signals`). On Linux the script is also told to terminate if
Kleio itself dies (``PR_SET_PDEATHSIG``), so a killed Kleio never leaves an unjournalled
orphan.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kleio.core.journal import EventWriter
from kleio.core.output import FLUSH_INTERVAL, OutputRecorder
from kleio.core.signals import Forwarder, Terminal
from kleio.core.sink import EventSink

#: Pipe capacity asked for, and largest read.
PIPE_SIZE = 1 << 20
#: A read smaller than this is followed by a pause of READ_PAUSE seconds.
SMALL_READ = 64 * 1024
READ_PAUSE = 0.005
#: Seconds a script gets to stop after SIGTERM before SIGKILL, when Kleio stops it.
GRACE = 10.0


@dataclass
class Outcome:
    """How the script ended."""

    returncode: int
    #: The signal passed on to the script that ended it, if one did (it died of it, or
    #: caught it and ended soon after: see :mod:`kleio.core.signals`).
    interrupted_by: int | None = None
    #: Every signal passed on to the script, with what the script did with it.
    signals: list[dict[str, Any]] = field(default_factory=list)
    #: Another process took the trial over while it ran (heartbeat refused).
    lease_lost: bool = False
    #: The command could not be started (not found or not executable).
    start_error: str | None = None
    started: float = 0.0
    ended: float = 0.0
    pid: int | None = None


def _child_setup(parent: int) -> None:  # runs in the child between fork and exec
    os.setpgid(0, 0)
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: stop if Kleio dies
        if os.getppid() != parent:  # it died before that: nobody would tell us
            os._exit(128 + signal.SIGTERM)


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _widen(fd: int) -> None:
    """A 1 MB pipe (Linux): a script printing fast seldom waits for Kleio to read."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    except (ImportError, OSError):
        pass


def _copy(fd: int, echo: int | None, recorder: OutputRecorder) -> None:
    """Read a pipe to its end; echo and record every chunk. Does not close ``fd``.

    After a small read the reader pauses a few milliseconds, so a script writing many
    small blocks is read in a few large ones: far fewer wake-ups and system calls, for
    a delay nobody watching a terminal notices.
    """
    while True:
        try:
            data = os.read(fd, PIPE_SIZE)
        except OSError:
            break
        if not data:
            break
        if len(data) < SMALL_READ:
            time.sleep(READ_PAUSE)
        if echo is not None:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(echo, view) :]
            except OSError:
                echo = None  # our reader went away (`kleio ... | head`): keep journalling
        recorder.add(data)


def launch(
    argv: list[str],
    *,
    cwd: str,
    environ: dict[str, str],
    sink: EventSink,
    writer: EventWriter,
    trial_id: str,
    capture: bool,
    heartbeat: float,
    beat: Callable[[], bool],
    on_start: Callable[[int], None],
    pass_fds: tuple[int, ...] = (),
) -> Outcome:
    """Run ``argv`` to its end; ``beat`` renews the lease and says whether it still holds.
    ``pass_fds`` are descriptors the script inherits (the hook's pipe)."""
    outcome = Outcome(returncode=0, started=time.time())
    recorders = {
        kind: OutputRecorder(sink, writer, trial_id, kind) for kind in ("stdout", "stderr")
    }
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=functools.partial(_child_setup, os.getpid()),
            close_fds=True,
            pass_fds=pass_fds,
        )
    except (FileNotFoundError, NotADirectoryError):
        outcome.returncode, outcome.start_error = 127, f"command not found: {argv[0]}"
    except PermissionError:
        outcome.returncode, outcome.start_error = 126, f"permission denied: {argv[0]}"
    except OSError as error:
        outcome.returncode, outcome.start_error = 126, f"cannot run {argv[0]}: {error.strerror}"
    if outcome.start_error is not None:
        outcome.ended = time.time()
        return outcome

    outcome.pid = process.pid
    terminal = Terminal()
    terminal.give(process.pid)
    stop = threading.Event()
    forwarder = Forwarder(process.pid, terminal)
    forwarder.install()
    readers = [
        threading.Thread(
            target=_copy,
            name=f"kleio-{kind}",
            daemon=True,
            args=(pipe.fileno(), None if capture else target, recorders[kind]),
        )
        for kind, pipe, target in (("stdout", process.stdout, 1), ("stderr", process.stderr, 2))
    ]
    for pipe in (process.stdout, process.stderr):
        _widen(pipe.fileno())
    for reader in readers:
        reader.start()

    def keep_alive() -> None:
        next_beat = time.monotonic() + heartbeat
        while not stop.wait(min(FLUSH_INTERVAL / 2, heartbeat)):
            for recorder in recorders.values():
                recorder.tick()
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + heartbeat
            try:
                alive = beat()
            except Exception:
                continue
            if not alive:
                outcome.lease_lost = True
                _stop(process)
                return

    beater = threading.Thread(target=keep_alive, name="kleio-heartbeat", daemon=True)
    beater.start()
    try:
        on_start(process.pid)
        returncode = process.returncode = forwarder.wait(process)
        for reader in readers:
            reader.join()
    finally:
        process.stdout.close()
        process.stderr.close()
        stop.set()
        beater.join()
        terminal.take_back()
        forwarder.restore()
    for recorder in recorders.values():
        recorder.finish()
    outcome.returncode = returncode
    outcome.ended = time.time()
    outcome.interrupted_by = forwarder.interrupted_by(returncode, outcome.ended)
    outcome.signals = [delivery.as_data() for delivery in forwarder.deliveries]
    return outcome


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the script's group, then SIGKILL after the grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(GRACE)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    except OSError:
        pass


def exit_status(returncode: int) -> int:
    """The shell's convention: 128 + N for a script killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode
