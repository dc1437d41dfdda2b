"""Choosing trials: the filters that ``kleio ls`` and ``kleio.list_trials`` share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kleio.core.status import observed_status, stored_statuses
from kleio.core.trial import TrialDocument
from kleio.store.base import Store


@dataclass(frozen=True)
class Selection:
    """Trials with all of ``tags``, one of ``statuses`` (as observed: ``lost``
    included), of ``project`` and child of ``parent``; a filter left empty takes all."""

    tags: Sequence[str] = ()
    statuses: Sequence[str] = ()
    project: str | None = None
    parent: str | None = None


def select_trials(
    store: Store,
    selection: Selection,
    lease: float,
    fields: Sequence[str] | None = None,
) -> list[tuple[TrialDocument, str]]:
    """``(document, observed status)`` of the selected trials, newest first.

    ``fields`` limits what is read of each document (``status`` and ``heartbeat`` are
    needed to observe the status).
    """
    wanted = list(selection.statuses)
    documents = store.find_trials(
        tags=list(selection.tags) or None,
        status=stored_statuses(wanted) if wanted else None,
        project=selection.project,
        parent=selection.parent,
        fields=fields,
    )
    observed = [(document, observed_status(document, lease)) for document in documents]
    return [(document, status) for document, status in observed if not wanted or status in wanted]
