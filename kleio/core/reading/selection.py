"""Choosing trials: the filters that ``kleio ls``, ``compare``, ``rm``, ``export`` and
``kleio.list_trials`` share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from kleio.core.model import clock
from kleio.core.model.errors import SettingsError
from kleio.core.model.schema import reading_problem
from kleio.core.model.status import STATUSES, observed_status, stored_statuses
from kleio.core.model.trial import (
    INCOMPLETE,
    NO_TRIALS,
    TrialDocument,
    has_trials,
    readable_document,
    resolve_trial,
    short_id,
)
from kleio.store.base import Store
from kleio.value import Value

#: What selecting needs of each document, whatever else the caller reads.
_NEEDED = ("status", "heartbeat", "members", "created", INCOMPLETE)


class Selection(Value):
    """Trials with all of ``tags``, one of ``statuses`` (as observed: ``lost``
    included), of ``project``, child of ``parent``, of the study ``study``, created at
    or after ``since`` (seconds since the epoch) and, when ``ids`` are given, among
    those ids or unique prefixes; a filter left empty takes all."""

    FIELDS = ("tags", "statuses", "project", "parent", "ids", "since", "study")

    def __init__(
        self,
        tags: Sequence[str] = (),
        statuses: Sequence[str] = (),
        project: str | None = None,
        parent: str | None = None,
        ids: Sequence[str] = (),
        since: float | None = None,
        study: str | None = None,
    ):
        self.tags, self.statuses, self.project = tags, statuses, project
        self.parent, self.ids, self.since, self.study = parent, ids, since, study


def split_statuses(text: str | None) -> list[str]:
    """``"lost,broken"`` -> ``["lost", "broken"]``; an unknown status is an error."""
    wanted = [status.strip() for status in (text or "").split(",") if status.strip()]
    unknown = [status for status in wanted if status not in STATUSES]
    if unknown:
        raise SettingsError(f"unknown status {unknown[0]!r}: choose among {', '.join(STATUSES)}")
    return wanted


class Skipped(NamedTuple):
    """A trial document a reader skipped: its id (as stored: not always text) and what
    is wrong with it."""

    trial: Any
    problem: str


def describe_skipped(skipped: Sequence[Skipped], shown: int = 5) -> str:
    """The one warning of a listing that skipped documents: ``skipped 2 trials whose
    documents cannot be read: 4a76189 (refers is text, not an object), ...``."""
    named = [
        f"{short_id(s.trial) if isinstance(s.trial, str) else repr(s.trial)} ({s.problem})"
        for s in skipped[:shown]
    ]
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    count = (
        "1 trial whose document" if len(skipped) == 1 else f"{len(skipped)} trials whose documents"
    )
    return (
        f"skipped {count} cannot be read (another program wrote them): "
        f"{', '.join(named)}{more}; `kleio rm ID` deletes one"
    )


def select_trials(
    store: Store,
    selection: Selection,
    lease: float,
    fields: Sequence[str] | None = None,
    limit: int | None = None,
    named_incomplete: bool = False,
    skipped: list[Skipped] | None = None,
    damaged: bool = False,
) -> list[tuple[TrialDocument, str]]:
    """``(document, observed status)`` of the selected trials, newest first, at most
    ``limit``. A trial half deleted or half imported is never selected, unless named by
    its id with ``named_incomplete`` (``kleio rm`` deletes a half-imported trial).

    A document whose fields do not hold (:func:`~kleio.core.model.schema.reading_problem`:
    a buggy or hostile writer wrote it) is skipped and added to ``skipped`` (the caller
    warns), or, with ``damaged`` (``kleio rm``), selected without its wrong fields
    (:func:`~kleio.core.model.trial.readable_document`). A damaged trial named by its
    id raises :class:`~kleio.core.model.errors.DamagedTrial` unless ``damaged``.

    ``fields`` limits what is read of each document (what selecting needs is added).
    Unknown or ambiguous ids are errors (:class:`~kleio.core.model.errors.UnknownTrial`...).
    """
    wanted = list(selection.statuses)
    if fields is not None:
        fields = list(dict.fromkeys([*fields, *_NEEDED]))
    if selection.ids:
        named = {}
        for text in selection.ids:
            document = resolve_trial(store, text, damaged=damaged)
            named[document["_id"]] = document
        documents = sorted(
            (d for d in named.values() if _matches(d, selection)),
            key=lambda d: (-(d.get("created") or 0.0), d["_id"]),
        )
    else:
        # The store can stop early only when nothing is filtered after it.
        early = limit if not wanted and selection.since is None else None
        documents = store.find_trials(
            tags=list(selection.tags) or None,
            status=stored_statuses(wanted) if wanted else None,
            project=selection.project,
            parent=selection.parent,
            study=selection.study,
            fields=fields,
            limit=early,
        )
    selected = []
    now = clock.now()  # one time for them all
    for document in documents:
        problem = reading_problem(document)
        if problem is not None:
            if not damaged:
                if skipped is not None:
                    skipped.append(Skipped(document.get("_id"), problem))
                continue
            document = readable_document(document)
        if document.get(INCOMPLETE) and not (named_incomplete and selection.ids):
            continue
        if selection.since is not None and (document.get("created") or 0.0) < selection.since:
            continue
        status = observed_status(document, lease, now)
        if not wanted or status in wanted:
            selected.append((document, status))
    return selected[:limit] if limit is not None else selected


def _matches(document: TrialDocument, selection: Selection) -> bool:
    """Whether a document named by id passes the other filters."""
    tags = set(document.get("tags") or ())
    return (
        set(selection.tags) <= tags
        and (selection.project is None or document.get("project") == selection.project)
        and (selection.study is None or document.get("study") == selection.study)
        and (
            selection.parent is None
            or (document.get("refers") or {}).get("parent") == selection.parent
        )
    )


def nothing_selected(store: Store, consequence: str = "") -> str:
    """What to say when a selection finds no trial: that none matches (then
    ``consequence``: ``"nothing to draw"``), or, in a journal without a trial, how to
    make one. A listing that shows nothing must not look like a journal that lost its
    trials."""
    if not has_trials(store):
        return NO_TRIALS
    return "no trial matches" + (f": {consequence}" if consequence else "")
