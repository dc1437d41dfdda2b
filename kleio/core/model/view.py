"""A trial's view of the journal: its ancestors' events up to each branch point, then its own.

A branch continues its parent: for the branch, the parent's statistics, output and
artifacts up to the branch point are its own past. Through several generations, each
ancestor is cut at the earliest branch point below it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from kleio.core.model.trial import TrialDocument
from kleio.store.base import EVENT_PAGE_SIZE, Event, Store

#: Generations followed at most (a guard against a corrupted, cyclic lineage).
MAX_DEPTH = 1000


class Segment(NamedTuple):
    """The events of ``trial`` up to ``until`` (inclusive; None: all of them)."""

    trial: str
    until: float | None


def lineage(store: Store, document: TrialDocument) -> list[Segment]:
    """Segments of the trial's view, oldest ancestor first, the trial itself last."""
    segments = [Segment(document["_id"], None)]
    seen = {document["_id"]}
    bound: float | None = None
    child = document
    while len(segments) < MAX_DEPTH:
        refers = child.get("refers") or {}
        parent_id, point = refers.get("parent"), refers.get("time")
        if not parent_id or parent_id in seen:
            break
        parent = store.get_trial(parent_id)
        if parent is None:  # the parent was removed: the view starts here
            break
        if point is not None:
            bound = point if bound is None else min(bound, point)
        segments.append(Segment(parent_id, bound))
        seen.add(parent_id)
        child = parent
    segments.reverse()
    return segments


def read_view(
    store: Store,
    document: TrialDocument,
    kinds: Sequence[str] | None = None,
    segments: list[Segment] | None = None,
    page_size: int = EVENT_PAGE_SIZE,
) -> Iterator[Event]:
    """Events of the trial's whole view, in order: ancestors' first, then its own."""
    for segment in segments if segments is not None else lineage(store, document):
        yield from store.read_events(segment.trial, kinds, until=segment.until, page_size=page_size)
