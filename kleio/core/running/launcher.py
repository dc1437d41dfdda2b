"""Running the script: output copied live and journalled, heartbeat, signals.

The script runs in its own process group, in the requested folder, with the user's
environment plus ``KLEIO_*`` variables. Its stdout and stderr are read as bytes, written
unchanged to Kleio's own stdout and stderr (unless captured) and journalled as output
events (:mod:`kleio.core.model.printed`). Signals sent to Kleio are passed on to the script's
process group (:mod:`kleio.core.running.signals`).

The script's own process decides how the execution ends: when it exits, its exit code
is final. Processes it left in its process group (``sleep 60 &``, a server it started)
get SIGTERM, then SIGKILL after the grace period, and Kleio stops waiting for output:
a leftover holding the pipe no longer keeps the trial running.

A trial never has two live executions. If Kleio itself dies (``kill -9``), the script
gets SIGTERM from the kernel (``PR_SET_PDEATHSIG``, Linux), and a small watcher process
that outlives Kleio sends SIGTERM to the whole process group, then SIGKILL once the grace
period is over: a script that ignores SIGTERM to checkpoint is stopped well before its
lease expires and another ``kleio`` may resume the trial (the logger inside it stops
writing by then too, see :mod:`kleio.client.logger`).
"""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kleio.core.model.journal import EventWriter
from kleio.core.running.losses import LossReport
from kleio.core.running.recorder import FLUSH_INTERVAL, OutputRecorder
from kleio.core.running.signals import Forwarder, LateSignals, Terminal
from kleio.core.running.sink import EventSink, background_thread, leaving_time

#: Pipe capacity asked for, and largest read.
PIPE_SIZE = 1 << 20
#: A read smaller than this is followed by a pause of READ_PAUSE seconds.
SMALL_READ = 64 * 1024
READ_PAUSE = 0.005
#: Seconds a script (or what it left behind) gets to stop after SIGTERM before SIGKILL,
#: at most: see :func:`grace_period`.
GRACE = 10.0
#: Seconds output is still read after the script's group is gone (processes outside
#: it may hold the pipe), before Kleio stops reading.
READ_AFTER_EXIT = 1.0
#: How often a reader looks up from a quiet pipe, in milliseconds.
_POLL_MS = 200


def grace_period(lease: float) -> float:
    """:data:`GRACE`, or less with a short lease: the time a script's logger takes at
    most to leave (:func:`~kleio.core.running.sink.leaving_time`, half the lease) and half a
    second more to exit, so that a script that ends as SIGTERM asks is never killed in
    its last flush. With the default lease (60 s) and heartbeat (10 s), a script whose
    Kleio died is gone 40 s before another process may take its trial; with a lease so
    short that it is not, its logger has stopped writing by then anyway."""
    return min(GRACE, leaving_time(lease) + 0.5)


class Outcome:
    """How the script ended."""

    def __init__(self, returncode: int, started: float = 0.0, grace: float = GRACE):
        self.returncode = returncode
        #: The signal passed on to the script that ended it, if one did (it died of it,
        #: or caught it and ended soon after: see :mod:`kleio.core.running.signals`).
        self.interrupted_by: int | None = None
        #: Every signal passed on to the script, with what the script did with it.
        self.signals: list[dict[str, Any]] = []
        #: Another process took the trial over while it ran (heartbeat refused).
        self.lease_lost = False
        #: The command could not be started (not found or not executable).
        self.start_error: str | None = None
        self.started = started
        #: When the script's own process ended (not what it left behind).
        self.ended = 0.0
        self.pid: int | None = None
        #: Processes the script left running in its process group, stopped by Kleio.
        self.left_behind = 0
        #: Whether some of them needed SIGKILL.
        self.killed_left_behind = False
        #: Processes outside the group still held the output when Kleio stopped it.
        self.output_abandoned = False
        #: What the script's processes told Kleio they could not journal, by kind.
        self.unjournalled: Counter = Counter()
        #: Why, as they said.
        self.reasons: list[str] = []
        #: Seconds given to stop after SIGTERM.
        self.grace = grace
        #: CPU seconds and peak memory (bytes) of the script's own process, as the kernel
        #: counted them, once it ended.
        self.used: tuple[float, int] | None = None
        #: Stopping signals sent to Kleio once the script ended, kept from interrupting
        #: the record of its end: :meth:`~kleio.core.running.signals.LateSignals.release`
        #: gives them, and Kleio's own handlers, back.
        self.late_signals: LateSignals | None = None
        #: The exception that ended a process running its own trial (``kleio.start``),
        #: as its last line says it: ``ValueError: bad batch``.
        self.exception: str | None = None


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


def _copy(fd: int, echo: int | None, recorder: OutputRecorder, stop: threading.Event) -> None:
    """Read a pipe to its end, or until ``stop`` is set and nothing more is waiting;
    echo and record every chunk. Does not close ``fd``.

    After a small read the reader pauses a few milliseconds, so a script writing many
    small blocks is read in a few large ones: far fewer wake-ups and system calls, for
    a delay nobody watching a terminal notices.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while True:
        try:
            if not poller.poll(0 if stop.is_set() else _POLL_MS):
                if stop.is_set():
                    break
                continue
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
    lease: float,
    beat: Callable[[], bool],
    on_start: Callable[[int], None],
    pass_fds: tuple[int, ...] = (),
    recorder: Callable[[str], OutputRecorder] | None = None,
) -> Outcome:
    """Run ``argv`` to its end; ``beat`` renews the lease and says whether it still holds.
    ``pass_fds`` are descriptors the script inherits (the hook's pipe). ``recorder(kind)``
    makes the recorder of a stream (default: an :class:`OutputRecorder`; one that also
    reads scalars, see :mod:`kleio.core.running.scalars`)."""
    grace = grace_period(lease)
    outcome = Outcome(returncode=0, started=time.time(), grace=grace)
    if recorder is None:
        recorder = functools.partial(OutputRecorder, sink, writer, trial_id)
    recorders = {kind: recorder(kind) for kind in ("stdout", "stderr")}
    report = LossReport()
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**environ, **report.environment()},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=functools.partial(_child_setup, os.getpid()),
            close_fds=True,
            pass_fds=(*pass_fds, report.write_fd),
        )
    except (FileNotFoundError, NotADirectoryError):
        outcome.returncode, outcome.start_error = 127, f"command not found: {argv[0]}"
    except PermissionError:
        outcome.returncode, outcome.start_error = 126, f"permission denied: {argv[0]}"
    except OSError as error:
        outcome.returncode, outcome.start_error = 126, f"cannot run {argv[0]}: {error.strerror}"
    if outcome.start_error is not None:
        report.close()
        outcome.ended = time.time()
        return outcome

    outcome.pid = process.pid
    watcher = _Watcher(process.pid, grace)
    terminal = Terminal()
    terminal.give(process.pid)
    stop, stop_reading = threading.Event(), threading.Event()
    forwarder = Forwarder(process.pid, terminal)
    forwarder.install()
    for pipe in (process.stdout, process.stderr):
        _widen(pipe.fileno())
    readers = [
        background_thread(
            _copy,
            f"kleio-{kind}",
            pipe.fileno(),
            None if capture else target,
            recorders[kind],
            stop_reading,
        )
        for kind, pipe, target in (("stdout", process.stdout, 1), ("stderr", process.stderr, 2))
    ]

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
                _stop(process, grace)
                return

    beater = background_thread(keep_alive, "kleio-heartbeat")
    ended = False
    try:
        on_start(process.pid)
        returncode = process.returncode = forwarder.wait(process)
        # The script's exit is final: a signal from now on goes to what it left behind.
        outcome.ended = time.time()
        forwarder.add_group_signals(watcher.signals())
        if forwarder.rusage is not None:  # Linux counts the peak in kilobytes
            usage = forwarder.rusage
            outcome.used = (usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
        outcome.interrupted_by = forwarder.interrupted_by(returncode, outcome.ended)
        outcome.signals = [delivery.as_data() for delivery in forwarder.deliveries]
        outcome.left_behind, outcome.killed_left_behind = _stop_left_behind(
            process.pid, grace, watcher.pid
        )
        for reader in readers:
            reader.join(READ_AFTER_EXIT)
        if any(reader.is_alive() for reader in readers):
            outcome.output_abandoned = True
            stop_reading.set()
        for reader in readers:
            reader.join()
        watcher.dismiss()  # the group is gone or stopped: nothing left to watch
        ended = True
    finally:
        watcher.close()  # if we got here by an error, the watcher stops the group
        stop_reading.set()
        process.stdout.close()
        process.stderr.close()
        stop.set()
        beater.join()
        terminal.take_back()
        if ended:
            # From now on a stopping signal to Kleio waits until the end is recorded
            # (outcome.late_signals): a Ctrl-C as the script ends must not cut it short.
            outcome.late_signals = forwarder.settle()
        else:
            forwarder.restore()
    for recorder in recorders.values():
        recorder.finish()
    report.collect()
    report.close()
    outcome.unjournalled, outcome.reasons = report.counts, report.reasons
    outcome.returncode = returncode
    return outcome


#: The watcher: run by its own interpreter (``-I -S``: no site, nothing of the user's).
#: It joins the script's process group, so it sees what the group is sent (the
#: terminal's Ctrl-C goes to the script's group, not to ``kleio``) and tells ``kleio``
#: on its stdout: ``ready``, then ``SIGNUM TIME DISPOSITION`` for each stopping signal
#: (with what the script did with it then), and ``pong`` after a ``p`` on its stdin once
#: it has told all it saw and left the group (the script has ended: what it left in the
#: group is counted, and stopped, without the watcher among them). A ``x`` dismisses
#: it; the end of file that Kleio's death brings makes it stop the group: SIGTERM, then
#: SIGKILL after the grace period.
_WATCHER = """
import os, select, signal, sys, time
group, grace = int(sys.argv[1]), float(sys.argv[2])
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
            signal.SIGQUIT)
woken, wake = os.pipe()
os.set_blocking(wake, False)
signal.set_wakeup_fd(wake)
for signum in STOPPING:  # caught, not ignored: the wakeup descriptor tells which
    signal.signal(signum, lambda *_: None)
signal.signal(signal.SIGTSTP, signal.SIG_IGN)
def say(line):
    try:
        os.write(1, line.encode() + b"\\n")
    except OSError:
        pass
def disposition(signum):  # as kleio.core.running.signals.disposition says it
    try:
        with open("/proc/%d/status" % group, "rb") as status:
            masks = dict((n, v.strip()) for n, _, v in (l.partition(b":") for l in status)
                         if n in (b"SigIgn", b"SigCgt", b"State"))
        ignored, caught = int(masks.get(b"SigIgn", b"0"), 16), int(masks.get(b"SigCgt", b"0"), 16)
    except FileNotFoundError:
        return "ended"
    except (OSError, ValueError):
        return "unknown"
    if masks.get(b"State", b"").startswith(b"Z"):
        return "ended"
    bit = 1 << (signum - 1)
    if ignored & bit:
        return "ignored"
    if caught & bit:
        return "caught"
    return "default" if len(masks) == 3 else "unknown"
def tell():
    try:
        received = os.read(woken, 256)
    except BlockingIOError:
        return
    for signum in received:
        say("%d %r %s" % (signum, time.time(), disposition(signum)))
os.set_blocking(woken, False)
try:
    os.setpgid(0, group)
    say("ready")
except OSError:  # the group is gone, or in another session: nothing to watch in it
    pass
while True:
    try:
        ready = select.select([0, woken], [], [])[0]
    except OSError:
        continue
    if woken in ready:
        tell()
    if 0 in ready:
        asked = os.read(0, 1)
        if asked == b"p":  # the script has ended: all it was sent is told; leave its group,
            tell()         # so that what it left there is counted without the watcher
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            say("pong")
            continue
        if asked:
            sys.exit(0)
        break
def signal_group(signum):
    try:
        os.killpg(group, signum)
        return True
    except OSError:
        return False
def living():  # zombies count for killpg: nobody may reap an orphan soon; nor do we
    if not signal_group(0):
        return False
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return True
    for pid in pids:
        if int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/stat" % pid, "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != b"Z":
            return True
    return False
if signal_group(signal.SIGTERM):
    deadline = time.monotonic() + grace
    while living() and time.monotonic() < deadline:
        time.sleep(0.05)
    if living():
        signal_group(signal.SIGKILL)
"""


#: Watchers dismissed, maybe not reaped yet.
_dismissed: list[subprocess.Popen] = []
#: Seconds Kleio waits for the watcher to say what the group was sent, at most.
_TELLING = 2.0


class _Watcher:
    """A process that stops the script's group if Kleio dies: it waits on a pipe whose
    other end only Kleio holds; the end of file that Kleio's death brings (or
    :meth:`close`) means SIGTERM to the group, then SIGKILL after ``grace`` seconds.
    :meth:`dismiss` sends it away instead. As a member of the script's group, it also
    sees the signals sent to the group alone (:meth:`signals`).
    """

    def __init__(self, group: int, grace: float):
        _dismissed[:] = [process for process in _dismissed if process.poll() is None]
        self._process: subprocess.Popen | None = None
        self._said = b""
        if not sys.executable:  # an embedded interpreter: PR_SET_PDEATHSIG only
            return
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHER, str(group), f"{grace:g}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
            os.set_blocking(self._process.stdout.fileno(), False)
        except OSError:  # the script runs anyway; PR_SET_PDEATHSIG still covers it
            pass

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _read(self) -> bool:
        """Read what the watcher said so far; False at its end."""
        try:
            data = os.read(self._process.stdout.fileno(), 65536)  # type: ignore[union-attr]
        except BlockingIOError:
            return True
        except OSError:
            return False
        self._said += data
        return bool(data)

    def signals(self) -> list[tuple[int, float, str]]:
        """``(signal, time, what the script did with it)`` of each stopping signal the
        script's group was sent while the watcher was in it, up to now. Asks the
        watcher, and waits for its answer, only if it had joined the group: a watcher
        still starting as a quick script ends saw nothing of it."""
        process = self._process
        if process is None:
            return []
        self._read()
        if self._said.startswith(b"ready\n"):
            try:
                process.stdin.write(b"p")
                process.stdin.flush()
            except OSError:
                pass
            deadline = time.monotonic() + _TELLING
            while b"pong\n" not in self._said and time.monotonic() < deadline:
                select.select([process.stdout], [], [], _TELLING / 20)
                if not self._read():
                    break
        found = []
        for line in self._said.split(b"\n"):
            fields = line.split()
            if len(fields) == 3 and fields[0].isdigit():
                try:
                    found.append((int(fields[0]), float(fields[1]), fields[2].decode()))
                except ValueError:
                    continue
        return found

    def dismiss(self) -> None:
        """Let the watcher go without touching the group: it reads the byte and leaves.

        Kleio does not wait for it (after a quick script, the watcher was still starting:
        waiting cost every run 15 ms), nor starts a thread to (as many milliseconds under
        load): the next watcher reaps it, or init once Kleio has exited.
        """
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.write(b"x")
            process.stdin.close()
        except OSError:
            pass
        process.stdout.close()
        _dismissed.append(process)

    def close(self) -> None:
        """Leave the watcher to its duty (stopping the group) unless dismissed."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
        except OSError:
            pass
        process.stdout.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass  # stopping a stubborn group: it finishes on its own


def _group_members(group: int, besides: int | None = None) -> list[int]:
    """The living processes of a process group (zombies waiting to be reaped are not),
    but ``besides`` (the watcher, which is one of them)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    import psutil

    members = []
    for pid in psutil.pids():
        try:
            if (
                pid != besides
                and os.getpgid(pid) == group
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            ):
                members.append(pid)
        except (OSError, psutil.Error):
            continue
    return members


def _stop_left_behind(group: int, grace: float, watcher: int | None) -> tuple[int, bool]:
    """SIGTERM the processes the script left in its group, SIGKILL those still there
    after ``grace`` seconds; how many there were, and whether SIGKILL was needed. The
    watcher, a member, is none of them (it takes SIGTERM without a word)."""
    left = _group_members(group, watcher)
    if not left:
        return 0, False
    try:
        os.killpg(group, signal.SIGTERM)
    except OSError:
        return len(left), False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_members(group, watcher):
            return len(left), False
        time.sleep(0.05)
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
    return len(left), True


def _stop(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the script's group, then SIGKILL after the grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
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
