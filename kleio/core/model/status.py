"""The life of a trial, each step a compare-and-set on its document.

::

    new -> reserved -> running -> completed | broken | interrupted
              ^                                 |          |
              +---------- (switchover) ---------+----------+

A trial ``reserved`` or ``running`` whose heartbeat is older than the lease is
``lost``: its holder is presumed dead. ``lost`` is observed, never stored; reserving a
lost trial replaces its holder, and the old holder's next heartbeat finds its lease
taken. Reservable: ``new``, ``interrupted``, ``lost``, and ``broken`` once switched
over. ``completed`` is final.

Every change expects the values it read (status, holder token, heartbeat) to still
hold, so of several processes racing for one trial exactly one wins; the others get
:class:`TrialNotReservable` naming the holder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from kleio.core.model import clock
from kleio.core.model.errors import KleioError, TrialNotReservable, UnknownTrial
from kleio.core.model.journal import writer
from kleio.core.model.trial import INCOMPLETE, TrialDocument, short_id
from kleio.store.base import Store
from kleio.value import Value

NEW = "new"
RESERVED = "reserved"
RUNNING = "running"
COMPLETED = "completed"
BROKEN = "broken"
INTERRUPTED = "interrupted"
LOST = "lost"

STATUSES = (NEW, RESERVED, RUNNING, COMPLETED, BROKEN, INTERRUPTED, LOST)
#: Statuses held by a live process.
ACTIVE = (RESERVED, RUNNING)
#: Stored status -> statuses it may change to.
TRANSITIONS = {
    NEW: {RESERVED},
    RESERVED: {RUNNING, NEW, BROKEN, INTERRUPTED},
    RUNNING: {COMPLETED, BROKEN, INTERRUPTED},
    INTERRUPTED: {RESERVED},
    BROKEN: {RESERVED},
    COMPLETED: set(),
}


class Worker(Value):
    """Who holds a trial: the token proves it, host and pid explain it."""

    FIELDS = ("host", "pid", "token", "since")

    def __init__(
        self,
        host: str | None = None,
        pid: int | None = None,
        token: str | None = None,
        since: float | None = None,
    ):
        # gethostname(2) is uname's node name: the socket module (and secrets) cost a
        # run's start 8 ms of imports.
        self.host = os.uname().nodename if host is None else host
        self.pid = os.getpid() if pid is None else pid
        self.token = os.urandom(8).hex() if token is None else token
        self.since = clock.now() if since is None else since

    def as_document(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}


def observed_status(document: TrialDocument, lease: float, now: float | None = None) -> str:
    """The stored status, or ``lost`` for an active trial whose heartbeat expired."""
    status = document.get("status", NEW)
    if status in ACTIVE:
        heartbeat = document.get("heartbeat") or 0.0
        if (now if now is not None else clock.now()) - heartbeat > lease:
            return LOST
    return status


def stored_statuses(wanted: Sequence[str]) -> list[str]:
    """The stored statuses of trials that show as one of ``wanted``: ``lost`` is observed
    on active trials, never stored."""
    return sorted({*wanted, *(ACTIVE if LOST in wanted else ())} - {LOST})


def run_time(document: TrialDocument, status: str, now: float | None = None) -> float:
    """Seconds spent running over every execution, the current one included (``status``
    is the observed one: a lost trial's last execution does not count)."""
    total = float(document.get("run_time") or 0.0)
    if status in ACTIVE and document.get("started"):
        total += max(0.0, (now if now is not None else clock.now()) - document["started"])
    return total


def describe_holder(document: TrialDocument, now: float | None = None) -> str:
    """``host node1, pid 4242, since 2026-11-26 04:00:00 UTC (heartbeat 3.0s ago)``."""
    worker = document.get("worker") or {}
    now = now if now is not None else clock.now()
    heartbeat = document.get("heartbeat")
    beat = f", heartbeat {clock.duration(now - heartbeat)} ago" if heartbeat else ""
    return (
        f"host {worker.get('host', '?')}, pid {worker.get('pid', '?')}, "
        f"since {clock.iso(worker.get('since'))} UTC{beat}"
    )


def _journal_status(store: Store, trial_id: str, status: str, previous: str, **data: Any) -> None:
    store.append_events(
        [writer.event(trial_id, "status", {"status": status, "from": previous, **data})]
    )


def _refusal(
    document: TrialDocument, status: str, now: float, allow_broken: bool
) -> TrialNotReservable | None:
    """Why the trial, observed ``status`` at ``now``, cannot be reserved; None if it can."""
    label = short_id(document["_id"])
    if document.get(INCOMPLETE):
        doing = "deleted" if document[INCOMPLETE] == "deleting" else "imported"
        return TrialNotReservable(f"trial {label} is being {doing}", status)
    if status == COMPLETED:
        return TrialNotReservable(f"trial {label} is already completed", status)
    if status in ACTIVE:
        return TrialNotReservable(
            f"trial {label} is {status} by another process ({describe_holder(document, now)})",
            status,
        )
    if status == BROKEN and not (allow_broken or document.get("switchover")):
        return TrialNotReservable(
            f"trial {label} is broken; run `kleio switchover {label}` or add --switch-over"
            " to run it again",
            status,
        )
    return None


def reserve_trial(
    store: Store,
    trial_id: str,
    worker: Worker,
    *,
    lease: float,
    allow_broken: bool = False,
    read: TrialDocument | None = None,
) -> TrialDocument:
    """Take the trial for ``worker``; returns the reserved document.

    Raises :class:`TrialNotReservable` if it is completed, broken (unless
    ``allow_broken`` or switched over) or held by a live process.

    ``read``: the whole trial document as the caller read or made it a moment ago. The
    reservation is tried from it without reading the trial again (a round trip of 20 ms
    or more to a hosted MongoDB); the compare-and-set still holds it to what is stored,
    and a trial it does not show reservable is read again before it is refused.
    """
    given = None if read is None else dict(read)
    for _ in range(5 if given is None else 6):
        fresh = given is None
        document, given = store.get_trial(trial_id) if fresh else given, None
        if document is None:
            raise UnknownTrial(f"no trial with id {trial_id}")
        now = clock.now()
        status = observed_status(document, lease, now)
        refusal = _refusal(document, status, now, allow_broken)
        if refusal is not None:
            if not fresh:
                continue  # decided on what is stored now, not on what the caller read
            raise refusal
        holder = document.get("worker")
        expected = {
            "status": document["status"],
            "heartbeat": document.get("heartbeat"),
            INCOMPLETE: None,  # not marked for deletion meanwhile
        }
        if holder:
            expected["worker.token"] = holder.get("token")
        else:
            expected["worker"] = None
        changes = {
            "status": RESERVED,
            "worker": worker.as_document(),
            "heartbeat": now,
            "updated": now,
            "switchover": False,
        }
        if store.update_trial(trial_id, changes, expected):
            _journal_status(store, trial_id, RESERVED, status, host=worker.host, pid=worker.pid)
            document.update(changes)
            return document
    raise TrialNotReservable(
        f"trial {short_id(trial_id)} keeps changing under us; try again", status
    )


def change_status(
    store: Store,
    trial_id: str,
    worker: Worker,
    status: str,
    *,
    previous: str,
    **changes: Any,
) -> None:
    """Move a trial held by ``worker`` from ``previous`` to ``status``.

    Leaving the active statuses releases the trial. Raises :class:`LeaseLost` if
    ``worker`` no longer holds it.
    """
    if status not in TRANSITIONS.get(previous, ()):
        raise ValueError(f"a trial cannot go from {previous} to {status}")
    now = clock.now()
    update: dict[str, Any] = {"status": status, "updated": now, **changes}
    if status in ACTIVE:
        update["heartbeat"] = now
    else:
        update["worker"] = None
    expected = {"status": previous, "worker.token": worker.token}
    if not store.update_trial(trial_id, update, expected):
        raise LeaseLost(f"trial {short_id(trial_id)} was taken over by another process")
    _journal_status(store, trial_id, status, previous)


def beat(store: Store, trial_id: str, worker: Worker) -> bool:
    """Renew the lease; False if ``worker`` no longer holds the trial."""
    now = clock.now()
    return store.update_trial(trial_id, {"heartbeat": now}, {"worker.token": worker.token})


def switch_over(store: Store, trial_id: str) -> None:
    """Allow a broken trial to be reserved once more."""
    document = store.get_trial(trial_id)
    if document is None:
        raise UnknownTrial(f"no trial with id {trial_id}")
    if document.get("status") != BROKEN:
        raise KleioError(
            f"trial {short_id(trial_id)} is {document.get('status')}, not broken:"
            " nothing to switch over"
        )
    if not store.update_trial(trial_id, {"switchover": True}, {"status": BROKEN}):
        raise KleioError(f"trial {short_id(trial_id)} changed meanwhile; try again")


class LeaseLost(KleioError):
    """Another process took over a trial this worker held (its heartbeat was too late)."""
