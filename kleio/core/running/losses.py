"""What the processes of a trial could not journal, and how they tell their ``kleio``.

Before it starts the script, ``kleio`` opens a pipe and passes its write end to the
script (``KLEIO_REPORT=FD:INODE``). A process of the trial that could not journal
something (neither the database nor the spool took it, the database refused it, or
another execution took the trial over) writes one line of JSON there as it leaves::

    {"pid": 4242, "counts": {"statistic": 1200}, "reason": "database or disk is full"}

A line is shorter than ``PIPE_BUF``, so lines of many processes never interleave.
``kleio`` reads them once the script has ended: an incomplete journal changes the trial's
final status and ``kleio``'s exit code. A process that did not inherit the pipe (the
``spawn`` and ``forkserver`` start methods of multiprocessing pass only the descriptors
they need) opens it again through ``/proc/KLEIO_PID/fd`` on Linux. Telling is best
effort and never raises: each process also says it on its own stderr.
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from collections.abc import Mapping

#: The variable naming the pipe: ``FD:INODE``.
REPORT = "KLEIO_REPORT"
#: The variable naming the ``kleio`` process that runs the trial.
LAUNCHER = "KLEIO_PID"
#: Bytes a write to a pipe may have and still never interleave with another (POSIX).
_ATOMIC = 512


def describe(counts: Mapping[str, int]) -> str:
    """``1,200 statistic events and 1 stdout event``."""
    parts = [
        f"{count:,} {kind} event{'s' if count > 1 else ''}"
        for kind, count in sorted(counts.items())
        if count
    ]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


class LossReport:
    """``kleio``'s end of the pipe: made before the script starts, read after it ends."""

    def __init__(self) -> None:
        self._read, self.write_fd = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self.write_fd, False)  # a writer never waits for kleio
        self._inode = os.fstat(self.write_fd).st_ino
        self.counts: Counter[str] = Counter()
        self.reasons: list[str] = []
        self._partial = b""

    def environment(self) -> dict[str, str]:
        return {REPORT: f"{self.write_fd}:{self._inode}", LAUNCHER: str(os.getpid())}

    def collect(self) -> None:
        """Add what has been told so far to :attr:`counts` and :attr:`reasons`."""
        data = self._partial
        while True:
            try:
                chunk = os.read(self._read, 65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            try:
                told = json.loads(line)
                self.counts.update(
                    {str(k): int(v) for k, v in told["counts"].items() if int(v) > 0}
                )
                reason = str(told.get("reason") or "")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if reason and reason not in self.reasons:
                self.reasons.append(reason)

    def close(self) -> None:
        for fd in (self._read, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def tell_kleio(counts: Mapping[str, int], reason: str) -> None:
    """Tell this trial's ``kleio`` what this process could not journal (best effort)."""
    spec = os.environ.get(REPORT, "")
    try:
        fd, inode = (int(part) for part in spec.split(":"))
    except ValueError:
        return
    told = {"pid": os.getpid(), "counts": {k: int(v) for k, v in counts.items() if v}}
    line = json.dumps({**told, "reason": reason[:200]}).encode()
    if len(line) >= _ATOMIC:
        line = json.dumps(told).encode()
    reopened = None
    try:
        if not _is_the_pipe(fd, inode):
            reopened = _reopen(fd, inode)
            if reopened is None:
                return
        os.write(reopened if reopened is not None else fd, line + b"\n")
    except OSError:  # kleio is gone, or the pipe is full: stderr said it anyway
        pass
    finally:
        if reopened is not None:
            os.close(reopened)


def _is_the_pipe(fd: int, inode: int) -> bool:
    """Whether ``fd`` is still the pipe ``kleio`` passed (a process that did not inherit
    it may have another file under that number)."""
    try:
        status = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISFIFO(status.st_mode) and status.st_ino == inode


def _reopen(fd: int, inode: int) -> int | None:
    try:
        opened = os.open(f"/proc/{os.environ[LAUNCHER]}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
    except (KeyError, OSError):
        return None
    if _is_the_pipe(opened, inode):
        return opened
    os.close(opened)
    return None
