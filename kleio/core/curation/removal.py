"""Deleting trials, resumably, and giving the space back.

A trial is deleted in four steps: its document is marked ``incomplete: deleting`` (by a
compare-and-set that fails if the trial was reserved meanwhile), then its blobs, its
events and last its document are deleted. From the mark on, no listing shows it and no
run reserves it, so an interruption leaves nothing that looks whole; ``kleio rm`` and
``kleio gc`` finish what an interrupted deletion left. Children are deleted before their
parents: a child's history reads its parent's journal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from kleio.core.model import clock
from kleio.core.model.errors import KleioError
from kleio.core.model.status import ACTIVE, describe_holder, observed_status
from kleio.core.model.trial import INCOMPLETE, TrialDocument, is_study_log, short_id
from kleio.store.base import UNSET, Store
from kleio.store.blobs import blob_age

DELETING = "deleting"
IMPORTING = "importing"
#: Blobs naming a trial that does not exist are kept this long (seconds): a run stores a
#: large diff before it creates its trial.
ORPHAN_BLOB_AGE = 3600.0


class RemovalRefused(KleioError):
    """A trial cannot be deleted as asked (running, or with children)."""


@dataclass
class Plan:
    """The trials to delete, children before parents, and what they hold."""

    trials: list[TrialDocument]
    events: int = 0
    artifacts: int = 0
    bytes: int = 0


def plan_removal(
    store: Store, documents: Sequence[TrialDocument], lease: float, with_children: bool
) -> Plan:
    """The trials to delete for ``documents`` (with their descendants when
    ``with_children``); refuses a running trial and, without ``with_children``, a trial
    with children not deleted with it."""
    chosen = {document["_id"]: document for document in documents}
    if with_children:
        queue = list(chosen)
        while queue:
            for child in store.find_trials(parent=queue.pop()):
                if child["_id"] not in chosen:
                    chosen[child["_id"]] = child
                    queue.append(child["_id"])
    else:
        for trial_id in list(chosen):
            children = [c for c in store.find_trials(parent=trial_id) if c["_id"] not in chosen]
            if children:
                names = ", ".join(short_id(c["_id"]) for c in children[:5])
                count = f"{len(children)} children" if len(children) > 1 else "a child"
                raise RemovalRefused(
                    f"trial {short_id(trial_id)} has {count} ({names}) whose history reads "
                    "its journal; add --with-children to delete them too"
                )
    for document in chosen.values():
        status = observed_status(document, lease)
        if status in ACTIVE:
            raise RemovalRefused(
                f"trial {short_id(document['_id'])} is {status} "
                f"({describe_holder(document)}); stop it first (a lost trial may be deleted)"
            )
    plan = Plan(_children_first(chosen))
    for document in plan.trials:
        plan.events += store.count_events(document["_id"])
        for blob in store.find_blobs({"trial": document["_id"]}):
            plan.artifacts += blob.metadata.get("kind") == "artifact"
            plan.bytes += blob.length
    return plan


def _children_first(chosen: dict[str, TrialDocument]) -> list[TrialDocument]:
    def depth(document: TrialDocument) -> int:
        count, parent = 0, (document.get("refers") or {}).get("parent")
        while parent in chosen and count < len(chosen):
            count, parent = count + 1, (chosen[parent].get("refers") or {}).get("parent")
        return count

    return sorted(chosen.values(), key=depth, reverse=True)


def remove_trials(
    store: Store,
    plan: Plan,
    lease: float,
    progress: Callable[[TrialDocument], None] | None = None,
) -> int:
    """Delete the planned trials; returns how many. Every trial is marked before any is
    deleted, so an interruption leaves each one either untouched or hidden."""
    for document in plan.trials:
        _mark(store, document, lease)
    for document in plan.trials:
        finish_deletion(store, document["_id"])
        if progress is not None:
            progress(document)
    return len(plan.trials)


def _mark(store: Store, document: TrialDocument, lease: float) -> None:
    if document.get(INCOMPLETE) == DELETING:
        return
    # A damaged document (kleio.core.model.trial.readable_document) lacks its fields that
    # do not hold: those are not expected (a store may not compare them as written).
    expected = {
        name: document.get(name)
        for name in ("status", "heartbeat")
        if name in document or not hasattr(document, "raw")
    }
    if not store.update_trial(document["_id"], {INCOMPLETE: DELETING}, expected):
        current = store.get_trial(document["_id"])
        if current is None:
            return  # deleted meanwhile
        if observed_status(current, lease) in ACTIVE:
            raise RemovalRefused(
                f"trial {short_id(document['_id'])} started running meanwhile; nothing was "
                "deleted of it"
            )
        raise KleioError(f"trial {short_id(document['_id'])} changed meanwhile; try again")


def finish_deletion(store: Store, trial_id: str) -> None:
    """Delete what is left of a trial marked for deletion: blobs, events, document."""
    for blob in store.find_blobs({"trial": trial_id}):
        store.delete_blob(blob.id)
    store.delete_events(trial_id)
    store.delete_trial(trial_id)


def incomplete_trials(store: Store, state: str) -> list[TrialDocument]:
    """Trials a deletion or an import (``state``) left unfinished."""
    return [
        document
        for document in store.find_trials(fields=[INCOMPLETE, "created", "commandline"])
        if document.get(INCOMPLETE) == state
    ]


def finish_pending_deletions(store: Store) -> list[str]:
    """Finish deletions an interrupted ``kleio rm`` left; returns their ids."""
    pending = [document["_id"] for document in incomplete_trials(store, DELETING)]
    for trial_id in pending:
        finish_deletion(store, trial_id)
    return pending


def mark_complete(store: Store, trial_id: str) -> None:
    """An imported trial is whole: list it (see :mod:`kleio.core.curation.transfer`)."""
    store.update_trial(trial_id, {INCOMPLETE: UNSET})


@dataclass
class Collected:
    """What ``kleio gc`` removed."""

    deletions: list[str] = field(default_factory=list)
    orphan_trials: list[str] = field(default_factory=list)
    orphan_events: int = 0
    orphan_blobs: int = 0
    abandoned_chunks: int = 0
    half_imported: list[str] = field(default_factory=list)
    size_before: int | None = None
    size_after: int | None = None


def collect_garbage(
    store: Store, now: float | None = None, on_wait: Callable[[], None] | None = None
) -> Collected:
    """Finish interrupted deletions, remove events and blobs of trials that no longer
    exist (a study's log, owned by no trial, is kept), then give the space back (see
    :meth:`kleio.store.base.Store.reclaim`). One collection at a time per journal
    (:meth:`kleio.store.base.Store.maintenance`; another under way, ``on_wait`` is called
    and this one waits for it): the sizes it reports are its own, never the other's log
    nor the space the other gave back."""
    with store.maintenance(on_wait):
        return _collect_garbage(store, clock.now() if now is None else now)


def _collect_garbage(store: Store, now: float) -> Collected:
    collected = Collected(size_before=store.size())
    collected.deletions = finish_pending_deletions(store)
    documents = store.find_trials(fields=[INCOMPLETE])
    existing = {document["_id"] for document in documents}
    collected.half_imported = [d["_id"] for d in documents if d.get(INCOMPLETE) == IMPORTING]
    for trial_id in sorted(store.event_trials() - existing):
        if is_study_log(trial_id):
            continue  # a study's log: no document owns it, it is no orphan
        collected.orphan_trials.append(trial_id)
        collected.orphan_events += store.delete_events(trial_id)
    for blob in _orphan_blobs(store, existing, now):
        store.delete_blob(blob)
        collected.orphan_blobs += 1
    collected.abandoned_chunks = store.reclaim()
    collected.size_after = store.size()
    return collected


def _orphan_blobs(store: Store, existing: set[str], now: float) -> Iterable[str]:
    for blob in store.find_blobs({}):
        trial = blob.metadata.get("trial")
        if not trial or trial in existing:
            continue
        age = now - blob.uploaded if blob.uploaded is not None else blob_age(blob.id, now)
        if age < ORPHAN_BLOB_AGE:
            continue
        yield blob.id
