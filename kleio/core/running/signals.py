"""Signals sent to ``kleio`` while its script runs: passed on to the script, and what the
script made of each.

Every signal a user or a scheduler sends that a script may want (:data:`FORWARDED`:
Ctrl-C, ``kill``, SLURM's ``--signal=USR1@60`` or ``scancel --signal``, a terminal that
hangs up or is resized) goes to the script's process group; ``kleio`` itself never dies of
one while the script runs, so it is there to journal how the script ends. SIGTSTP
suspends both (``kleio`` after the script); SIGCONT resumes both.

Kleio keeps the dispositions it inherited: a signal ignored when ``kleio`` started (the
background jobs of a non-interactive shell ignore SIGINT and SIGQUIT) is ignored by the
script too, as it would be without Kleio. When it passes a signal on, Kleio reads from
``/proc/PID/status`` (Linux) whether the script ignores it, catches it or takes the
default action, and records each delivery with its effect: a signal the script ignored
never makes its trial ``interrupted``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kleio.value import Value

#: Signals that ask a program to stop: one the script died of, or caught and answered by
#: ending, interrupts its trial.
STOPPING = frozenset(
    {
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGQUIT,
    }
)
#: Signals passed on to the script's process group: the stopping ones, and those that
#: resize, suspend or resume it.
FORWARDED = (*sorted(STOPPING), signal.SIGWINCH, signal.SIGCONT, signal.SIGTSTP)
#: Seconds after a stopping signal it caught within which a script that ends answered it
#: (checkpointed and left); a script ending later went on with its work and finished.
ANSWER_WINDOW = 60.0
#: Deliveries recorded per execution at most (a terminal resized many times...).
MOST_RECORDED = 100


def disposition(pid: int, signum: int) -> str:
    """What process ``pid`` does with ``signum``: ``ignored``, ``caught``, ``default``,
    ``ended`` when it has exited (a zombie), or ``unknown`` where ``/proc`` does not
    tell (no such process: reaped, or never was)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:  # bytes: no codec to import
            masks = {
                name: value.strip()
                for name, _, value in (line.partition(b":") for line in status)
                if name in (b"SigIgn", b"SigCgt", b"State")
            }
        ignored, caught = int(masks.get(b"SigIgn", b"0"), 16), int(masks.get(b"SigCgt", b"0"), 16)
    except (OSError, ValueError):  # no such process, or no /proc
        return "unknown"
    if masks.get(b"State", b"").startswith(b"Z"):
        return "ended"
    bit = 1 << (signum - 1)
    if ignored & bit:
        return "ignored"
    if caught & bit:
        return "caught"
    return "default" if b"SigIgn" in masks and b"SigCgt" in masks else "unknown"


def _is_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped now (``T`` in ``/proc/PID/stat``); True where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return True


class Delivery(Value):
    """A signal the script got, and what it did with it: its ``disposition`` when it was
    delivered (``ignored``, ``caught``, ``default`` or ``unknown``), whether it died of
    it (``fatal``), and whom it was sent to (``to``): ``kleio``, which passed it on, or
    the script's ``group`` alone (the terminal's Ctrl-C, ``kill -INT -PGID``), which
    Kleio learns from its watcher, a member of the group."""

    FIELDS = ("signum", "time", "disposition", "fatal", "to")

    def __init__(
        self, signum: int, time: float, disposition: str, fatal: bool = False, to: str = "kleio"
    ):
        self.signum, self.time, self.disposition, self.fatal = signum, time, disposition, fatal
        self.to = to

    @property
    def effect(self) -> str:
        """``died``, ``ignored``, ``caught``, ``default`` (no handler, yet it did not die:
        another process of its group took it), ``ended`` (it came once the script had
        exited) or ``unknown``."""
        return "died" if self.fatal else self.disposition

    def as_data(self) -> dict[str, Any]:
        return {
            "signal": signal.Signals(self.signum).name,
            "time": self.time,
            "disposition": self.disposition,
            "effect": self.effect,
            "to": self.to,
        }


class Terminal:
    """Give the terminal to the script while it runs, so Ctrl-C, Ctrl-Z and reading stdin
    go to it as they would without Kleio; take it back afterwards."""

    def __init__(self) -> None:
        self.fd = None
        try:
            if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
                self.fd = 0
        except OSError:
            self.fd = None

    def give(self, pgid: int) -> None:
        """The terminal to ``pgid``, if ``kleio`` holds it (not when continued in the
        background with ``bg``: the shell keeps it)."""
        if self.fd is None:
            return
        try:
            if os.tcgetpgrp(self.fd) != os.getpgrp():
                return
        except OSError:
            return
        self._set(pgid)
        try:
            os.killpg(pgid, signal.SIGCONT)  # in case it read the terminal too early
        except OSError:
            pass

    def take_back(self) -> None:
        if self.fd is not None:
            self._set(os.getpgrp())

    def _set(self, pgid: int) -> None:
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(self.fd, pgid)
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, previous)


@contextlib.contextmanager
def stopping_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Call ``handler`` for the stopping signals instead of dying of them (in the main
    thread; elsewhere nothing changes), until the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOPPING}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


class Forwarder:
    """While installed, signals sent to ``kleio`` go to the script's process group ``pid``
    (see the module documentation); :attr:`deliveries` records them."""

    def __init__(self, pid: int, terminal: Terminal):
        self.pid, self.terminal = pid, terminal
        self.deliveries: list[Delivery] = []
        self._previous: dict[int, Any] = {}
        #: What the script's process used, as the kernel counted it (``os.wait4``).
        self.rusage: Any = None

    def install(self) -> None:
        for signum in FORWARDED:
            self._previous[signum] = signal.signal(signum, self._forward)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _forward(self, signum: int, _frame: Any) -> None:
        # Another signal may come while this runs and run this again inside it (SLURM
        # sends SIGCONT then SIGTERM to requeue a job): nothing here imports or raises,
        # since an exception would leave ``wait`` and ``kleio`` with it, the script alive.
        if len(self.deliveries) < MOST_RECORDED:
            try:
                effect = disposition(self.pid, signum)
                if effect == "unknown" and self._reaped():
                    effect = "ended"
            except Exception:  # recorded as unknown; the signal is still passed on
                effect = "unknown"
            self.deliveries.append(Delivery(signum, time.time(), effect))
        if signum == signal.SIGCONT:
            self.terminal.give(self.pid)  # which continues the script too
        try:
            os.killpg(self.pid, signum)
        except OSError:
            pass
        if signum == signal.SIGTSTP:
            self.suspend()

    def _reaped(self) -> bool:
        """Whether the script is gone from ``/proc`` (where there is one): Kleio reaped
        it, so a signal now came after its end."""
        return not os.path.exists(f"/proc/{self.pid}") and os.path.exists("/proc/self")

    def suspend(self) -> None:
        """Stop ``kleio`` too, the terminal handed back to the shell; SIGCONT resumes."""
        self.terminal.take_back()
        os.kill(os.getpid(), signal.SIGSTOP)

    def wait(self, process: subprocess.Popen) -> int:
        """Wait for the script's end and return its status as ``Popen.returncode`` does.

        A script stopped from the terminal (Ctrl-Z goes to its group, not to ``kleio``)
        stops ``kleio`` too, so the shell takes its terminal back, as without Kleio.
        """
        # os.wait4 imports `resource` for its account, once the script ended: 0.4 ms of
        # every run's end. Imported here, it is done while the script starts.
        import resource  # noqa: F401

        while True:
            try:
                # wait4: the kernel's account of the script's resources comes with it.
                _, status, self.rusage = os.wait4(self.pid, os.WUNTRACED)
            except ChildProcessError:  # reaped by another thread's process.wait()
                return process.wait()
            if os.WIFSTOPPED(status):
                if _is_stopped(self.pid):  # not continued already by our own SIGCONT
                    self.suspend()
                continue
            return os.waitstatus_to_exitcode(status)

    def add_group_signals(self, seen: list[tuple[int, float, str]]) -> None:
        """Record the stopping signals the script's group was sent that did not come
        through Kleio (``(signal, time, disposition)``, as the watcher saw them): one
        Kleio passed on reached the watcher too, within a second of its delivery."""
        for signum, moment, effect in seen:
            if signum not in STOPPING or len(self.deliveries) >= MOST_RECORDED:
                continue
            passed_on = any(
                d.signum == signum and d.to == "kleio" and -1.0 <= moment - d.time <= 1.0
                for d in self.deliveries
            )
            if not passed_on:
                self.deliveries.append(Delivery(signum, moment, effect, to="group"))
        self.deliveries.sort(key=lambda delivery: delivery.time)

    def interrupted_by(self, returncode: int, ended: float) -> int | None:
        """The stopping signal that ended the script, if one did: it died of it, or it
        caught it and ended within :data:`ANSWER_WINDOW` seconds, whatever its exit code
        (a script that catches Ctrl-C, saves and exits 0 was interrupted: running it again
        must resume it). Marks the fatal one. A signal that came once the script had
        ended, or that the script ignored, or left to its default action and lived
        through, ended nothing."""
        stopping = [d for d in self.deliveries if d.signum in STOPPING and d.time <= ended]
        died_of = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
        for delivery in reversed(stopping):
            if delivery.signum == died_of and delivery.disposition != "ignored":
                delivery.fatal = True
                return delivery.signum
        for delivery in reversed(stopping):
            if delivery.disposition in ("caught", "unknown") and (
                ended - delivery.time <= ANSWER_WINDOW
            ):
                return delivery.signum
        return None

    def settle(self) -> LateSignals:
        """The script has ended: stop passing signals on, and keep the stopping ones
        sent to Kleio from now on until :meth:`LateSignals.release`, so the record of the
        end is made whole (a Ctrl-C as the script ends once cut it short, with a
        traceback and an execution left without its end)."""
        late = LateSignals(self._previous)
        self._previous = {}
        for signum in FORWARDED:
            signal.signal(signum, late.handler(signum))
        return late


class LateSignals:
    """Stopping signals that came once the script ended, kept until the end is recorded."""

    def __init__(self, previous: dict[int, Any]):
        self._previous = previous
        self.received: list[int] = []

    def handler(self, signum: int) -> Any:
        if signum in STOPPING:
            return self._keep
        # Resizing, suspending and resuming matter no more: Kleio's own handling.
        return self._previous.get(signum, signal.SIG_DFL)

    def _keep(self, signum: int, _frame: Any) -> None:
        self.received.append(signum)

    def release(self) -> list[int]:
        """Kleio's own handlers back; the stopping signals that came meanwhile."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return self.received
