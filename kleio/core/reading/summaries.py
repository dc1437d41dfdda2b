"""Statistic summaries of a trial's view: what ``compare``, ``ls --sort`` and ``diff`` show.

The store keeps, per trial and statistic key, the count, first, last, min and max of the
trial's own statistics (:class:`kleio.store.base.Summary`). A branch's view is its
parent's statistics up to the branch point, then its own, so its summary merges the
ancestors' summaries, each cut at its branch point, with its own. An ancestor cut after
its last statistic (a branch made at the end of its parent, the usual case) brings its
whole summary; one cut in the middle is summarised from its events up to the cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kleio.core.model.trial import TrialDocument
from kleio.core.model.view import lineage
from kleio.store.base import Store, Summary
from kleio.store.keys import key_range
from kleio.store.summaries import merge_summaries, summarise_events

STATISTIC = "statistic"
#: What a statistic column shows of its key: ``loss:min``. ``last`` when not said.
AGGREGATES = ("last", "first", "min", "max", "count")
DEFAULT_AGGREGATE = "last"


def aggregate(summary: Summary | None, name: str) -> Any:
    """One aggregate of a summary: ``aggregate(summary, "min")``; None without one."""
    if summary is None:
        return None
    return summary.count if name == "count" else getattr(summary, name)


def view_summaries(
    store: Store, documents: Sequence[TrialDocument], kind: str = STATISTIC
) -> dict[str, dict[str, Summary]]:
    """For each trial, its view's summary of each statistic key (see the module
    documentation); one round trip for the trials' own summaries."""
    ids = [document["_id"] for document in documents]
    own = store.read_summaries(ids, kind)
    cache: dict[tuple[str, float | None], dict[str, Summary]] = {}
    views: dict[str, dict[str, Summary]] = {}
    for document in documents:
        if not (document.get("refers") or {}).get("parent"):
            views[document["_id"]] = own[document["_id"]]
            continue
        segments = lineage(store, document)
        parts = [
            _cut_summary(store, segment.trial, segment.until, kind, cache)
            for segment in segments[:-1]
        ]
        views[document["_id"]] = merge_summaries(*parts, own[document["_id"]])
    return views


def _cut_summary(
    store: Store,
    trial: str,
    until: float | None,
    kind: str,
    cache: dict[tuple[str, float | None], dict[str, Summary]],
) -> dict[str, Summary]:
    """The summary of the trial's own events up to ``until`` (inclusive)."""
    if (trial, until) in cache:
        return cache[(trial, until)]
    whole = cache.get((trial, None))
    if whole is None:
        whole = cache[(trial, None)] = store.read_summaries([trial], kind)[trial]
    high = key_range(None, until)[1]
    if high is None or all(summary.last_key < high for summary in whole.values()):
        cut = whole
    else:
        cut = summarise_events(store.read_events(trial, [kind], until=until, page_size=10_000))
    cache[(trial, until)] = cut
    return cut
