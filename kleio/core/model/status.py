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
from kleio.store.base import UNSET, Event, Store
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
        now = now if now is not None else clock.now()
        heartbeat = document.get("heartbeat") or 0.0
        if now - heartbeat > lease:
            return LOST
        # One rank of a parallel execution that vanished loses it, as a process would.
        for member in (document.get("members") or {}).values():
            if member.get("status") in ACTIVE and now - (member.get("heartbeat") or 0.0) > lease:
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
    group = document.get("group")
    ranks = f", {document.get('world_size')} ranks of launch {group}" if group else ""
    return (
        f"host {worker.get('host', '?')}, pid {worker.get('pid', '?')}, "
        f"since {clock.iso(worker.get('since'))} UTC{beat}{ranks}"
    )


class Member(Value):
    """One rank of a parallel launch (:mod:`kleio.core.capture.ranks`): several
    processes, each with its own :class:`Worker`, are members of one execution."""

    FIELDS = ("rank", "world_size", "group")

    def __init__(self, rank: int, world_size: int, group: str):
        self.rank, self.world_size, self.group = rank, world_size, group

    def as_document(self, worker: Worker, now: float) -> dict[str, Any]:
        """Its entry in the trial's ``members`` (keyed by rank): who, and its own lease."""
        return {**worker.as_document(), "rank": self.rank, "heartbeat": now, "status": RUNNING}


def _journal_status(
    store: Store,
    trial_id: str,
    status: str,
    previous: str,
    journal: list[Event] | None = None,
    **data: Any,
) -> None:
    """Journal a status change now, or add it to ``journal``: events its caller appends
    together a moment later (a run's start: one append, not one per event)."""
    event = status_event(trial_id, status, previous, **data)
    if journal is None:
        store.append_events([event])
    else:
        journal.append(event)


def status_event(trial_id: str, status: str, previous: str, **data: Any) -> Event:
    """The event that journals a trial's change from ``previous`` to ``status``."""
    return writer.event(trial_id, "status", {"status": status, "from": previous, **data})


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
    member: Member | None = None,
    journal: list[Event] | None = None,
) -> TrialDocument:
    """Take the trial for ``worker``; returns the reserved document.

    ``member``: ``worker`` is the first rank of a parallel launch to arrive; the other
    ranks of its launch join the execution (:func:`join_or_reserve`). A reservation
    without one leaves no members behind.

    Raises :class:`TrialNotReservable` if it is completed, broken (unless
    ``allow_broken`` or switched over) or held by a live process.

    ``read``: the whole trial document as the caller read or made it a moment ago. The
    reservation is tried from it without reading the trial again (a round trip of 20 ms
    or more to a hosted MongoDB); the compare-and-set still holds it to what is stored,
    and a trial it does not show reservable is read again before it is refused.

    ``journal``: the ``reserved`` status event is added to it rather than appended now
    (see :func:`_journal_status`); the reservation itself is stored when this returns.
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
            **_members(worker, member, now),
        }
        if store.update_trial(trial_id, changes, expected):
            _journal_status(
                store, trial_id, RESERVED, status, journal, host=worker.host, pid=worker.pid
            )
            document.update(changes)
            for name in [name for name, value in changes.items() if value is UNSET]:
                del document[name]
            return document
    raise TrialNotReservable(
        f"trial {short_id(trial_id)} keeps changing under us; try again", status
    )


def _members(worker: Worker, member: Member | None, now: float) -> dict[str, Any]:
    """The fields of a reservation that say which launch holds the trial, if parallel."""
    if member is None:
        return {"group": UNSET, "world_size": UNSET, "members": UNSET}
    return {
        "group": member.group,
        "world_size": member.world_size,
        "members": {str(member.rank): member.as_document(worker, now)},
    }


def join_or_reserve(
    store: Store,
    trial_id: str,
    worker: Worker,
    member: Member,
    *,
    lease: float,
    allow_broken: bool = False,
) -> tuple[TrialDocument, bool]:
    """Join the execution the launch of ``member`` holds, or reserve the trial for it as
    :func:`reserve_trial` does; the document and whether it joined.

    Exactly once still holds, per launch: a trial held by another launch, or whose
    slot for this rank is taken (a rank of a launch that ran before under the same id),
    is refused with :class:`TrialNotReservable`. Of two ranks arriving at once, one
    reserves; the other's reservation is refused, and it reads the trial again and joins.
    """
    slot = str(member.rank)
    for _ in range(10):
        document = store.get_trial(trial_id)
        if document is None:
            raise UnknownTrial(f"no trial with id {trial_id}")
        now = clock.now()
        status = observed_status(document, lease, now)
        if status in ACTIVE and document.get("group") == member.group:
            label = short_id(trial_id)
            if (
                slot in (document.get("members") or {})
                or document.get("world_size") != member.world_size
            ):
                raise TrialNotReservable(
                    f"trial {label} is {status} by another process "
                    f"({describe_holder(document, now)}): its rank {member.rank} "
                    "is already running",
                    status,
                )
            changes = {f"members.{slot}": member.as_document(worker, now), "heartbeat": now}
            expected = {
                "status": document["status"],  # the execution's number depends on it
                "group": member.group,
                "worker.token": (document.get("worker") or {}).get("token"),
                f"members.{slot}.token": None,
            }
            if store.update_trial(trial_id, changes, expected):
                document.setdefault("members", {})[slot] = changes[f"members.{slot}"]
                return document, True
            continue
        try:
            reserved = reserve_trial(
                store, trial_id, worker, lease=lease, allow_broken=allow_broken, member=member
            )
            return reserved, False
        except TrialNotReservable as refusal:
            if refusal.status not in ACTIVE:
                raise
            current = store.get_trial(trial_id) or {}
            if current.get("group") != member.group:
                raise  # another launch holds it
    raise TrialNotReservable(
        f"trial {short_id(trial_id)} keeps changing under us; try again", RUNNING
    )


def beat_member(store: Store, trial_id: str, worker: Worker, rank: int) -> bool:
    """Renew the lease of one rank (and the trial's); False if it is no longer a member
    (the trial was taken over after its lease expired)."""
    now = clock.now()
    return store.update_trial(
        trial_id,
        {"heartbeat": now, f"members.{rank}.heartbeat": now},
        {f"members.{rank}.token": worker.token},
    )


def execution_end(
    members: dict[str, Any], world_size: int
) -> tuple[str, int | None, int | None] | None:
    """The status, exit code and rank to blame of a parallel execution once every rank
    has ended, else None: completed (exit code 0) if all completed; broken, with the exit
    code and rank of the first rank to break (by end time, then rank), if one broke;
    else interrupted (the first rank interrupted: torchrun stops the others so)."""
    ended = [m for m in members.values() if m.get("status") not in (None, *ACTIVE)]
    if len(ended) < world_size:
        return None
    if all(member["status"] == COMPLETED for member in ended):
        return COMPLETED, 0, None
    for status in (BROKEN, INTERRUPTED):
        failed = [m for m in ended if m["status"] == status]
        if failed:
            first = min(failed, key=lambda m: (m.get("ended") or 0.0, m.get("rank", 0)))
            return status, first.get("exit_code"), first.get("rank")
    return BROKEN, None, None  # ended otherwise (a status no Kleio writes for a member)


def end_member(
    store: Store,
    trial_id: str,
    worker: Worker,
    rank: int,
    status: str,
    *,
    exit_code: int | None,
    ended: float,
    **changes: Any,
) -> tuple[str, int | None, int | None] | None:
    """Record that one rank ended with ``status``; the last rank to end records the
    execution's end (returned, as :func:`execution_end` gives it; None for the others).

    Each rank writes its own end, then reads the trial: whichever read sees every rank
    ended (the last writer's does, at least) tries to end the trial with a
    compare-and-set on the holder's token, so exactly one records it. ``changes`` go on
    the trial with its end (the files it wrote). Raises :class:`LeaseLost` if the rank is
    no longer a member.
    """
    slot = f"members.{rank}"
    mine = {f"{slot}.status": status, f"{slot}.exit_code": exit_code, f"{slot}.ended": ended}
    if not store.update_trial(trial_id, mine, {f"{slot}.token": worker.token}):
        raise LeaseLost(f"trial {short_id(trial_id)} was taken over by another process")
    for _ in range(10):
        document = store.get_trial(trial_id) or {}
        holder = (document.get("worker") or {}).get("token")
        if document.get("status") not in ACTIVE or holder is None:
            return None  # another rank recorded the end
        members = document.get("members") or {}
        if (members.get(str(rank)) or {}).get("token") != worker.token:
            return None  # taken over meanwhile
        end = execution_end(members, int(document.get("world_size") or 1))
        if end is None:
            return None  # ranks still running: the last of them records the end
        final, code, _ = end
        previous = document["status"]
        now = clock.now()
        last = max(member.get("ended") or 0.0 for member in members.values())
        update = {
            "status": final,
            "updated": now,
            "worker": None,
            "exit_code": code,
            "ended": last,
            # From the first rank's start to the last one's end.
            "run_time": float(document.get("run_time") or 0.0)
            + max(0.0, last - (document.get("started") or last)),
            **changes,
        }
        if store.update_trial(trial_id, update, {"status": previous, "worker.token": holder}):
            _journal_status(store, trial_id, final, previous)
            return end
    return None


def change_status(
    store: Store,
    trial_id: str,
    worker: Worker,
    status: str,
    *,
    previous: str,
    journal: list[Event] | None = None,
    journalled: bool = False,
    **changes: Any,
) -> None:
    """Move a trial held by ``worker`` from ``previous`` to ``status``.

    Leaving the active statuses releases the trial. Raises :class:`LeaseLost` if
    ``worker`` no longer holds it. ``journal``: as for :func:`reserve_trial`;
    ``journalled``: the caller journalled the change's :func:`status_event` already.
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
    if not journalled:
        _journal_status(store, trial_id, status, previous, journal)


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
