"""Helpers shared by the fault tests: processes, waiting, and what a journal holds."""

from __future__ import annotations

import os
import select
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from kleio.core.model.commandline import configuration_of, split_command
from kleio.core.model.trial import TrialSpec
from kleio.store.base import Store


def trial_id_of(project: Path, argv: list[str]) -> str:
    """The id ``kleio`` gives the command ``argv`` run in ``project``."""
    configuration = configuration_of(split_command(argv), str(project))
    return TrialSpec(project.name, tuple(argv), configuration).id


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a recycled pid of another user
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid: int) -> set[int]:
    """The direct children of ``pid`` (Linux), from every thread that made one."""
    found: set[int] = set()
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as children:
                found.update(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


class Ending:
    """The moment a process (any, not only a child) ends, noted by a thread that waits on
    its pidfd from the start: what the test does meanwhile (reaping ``kleio``, reading
    the journal, a poll's interval) does not make the end seem later than it was."""

    def __init__(self, pid: int):
        self._pidfd = os.pidfd_open(pid)
        self.at: float | None = None
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        try:
            select.select([self._pidfd], [], [])
            self.at = time.time()
        finally:
            os.close(self._pidfd)

    def wait(self, timeout: float, what: str) -> float:
        """The time (``time.time()``) the process ended; AssertionError after ``timeout``."""
        self._thread.join(timeout)
        if self.at is None:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        return self.at


def wait_until(
    condition: Callable[[], object], timeout: float, interval: float = 0.01, what: str = ""
) -> object:
    """Poll ``condition`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(interval)


def events_of(store: Store, trial_id: str) -> dict[tuple[str, str], dict]:
    """Every event of a trial, by ``(kind, key)``; a key seen twice is an error."""
    counts = Counter()
    events = {}
    for event in store.read_events(trial_id):
        counts[(event.kind, event.key)] += 1
        events[(event.kind, event.key)] = event.data
    twice = [identity for identity, count in counts.items() if count > 1]
    assert not twice, f"events stored more than once: {twice[:5]}"
    return events


def missing_or_changed(
    before: dict[tuple[str, str], dict], after: dict[tuple[str, str], dict]
) -> list[str]:
    """What ``after`` lost or altered of ``before``."""
    problems = []
    for identity, data in before.items():
        if identity not in after:
            problems.append(f"{identity} disappeared")
        elif after[identity] != data:
            problems.append(f"{identity} changed")
    return problems


STORE_ERRORS = (
    "Traceback",
    "database is locked",
    "stayed locked",
    "could not be journalled",
    "StoreError",
    "StoreUnavailable",
    "OperationalError",
    "did not answer",
)


def store_errors_in(text: str) -> list[str]:
    """Lines of ``text`` that show a store error or a traceback."""
    return [line for line in text.splitlines() if any(sign in line for sign in STORE_ERRORS)]
