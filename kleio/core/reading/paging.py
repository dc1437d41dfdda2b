"""The dashboard's first pages of trials over 100,000 trials: the trials of the page
read alone, the total counted.

``/api/trials?offset=0&limit=50`` answered by :func:`~kleio.core.reading.comparison.compare_trials`
reads every trial's document and statistic summaries (13.6 s of processor time over
100,000 trials), then shows 50. When the page asks for the newest trials (no ``sort``, no
``where``, no ``keys``) of a selection the store filters itself (tags, project, study),
:func:`newest_page` reads the listed fields of the newest ``offset + limit`` trials
(through the index on ``created``), the documents and summaries of the page's trials
alone, and counts the trials the selection finds
(:meth:`~kleio.store.base.Store.count_trials`). The rows are those the general path
shows, in the same order; what is taken over the page's trials rather than over every
trial is said in docs/dashboard.rst:

- the configuration columns are the keys whose values differ between the page's
  trials, the statistic columns the keys the page's trials logged, ``trial_name`` is
  shown when a trial of the page has a name;
- ``total`` counts every trial the selection finds, a half-imported or damaged one too
  (the general path leaves those out); ``skipped`` names the damaged trials met on the
  way to the page.

The first page sorted by one statistic's smallest or largest value (``sort=loss:min``,
``sort=-acc:max``) is :mod:`kleio.core.reading.ranking`'s: the listed fields and that
summary of every trial selected, the documents and summaries of the page's trials alone;
its columns are the page's too, its ``best`` is every trial's (the page's first row).
"""

from __future__ import annotations

from kleio.core.model import clock
from kleio.core.model.catalogue import LISTED_FIELDS
from kleio.core.reading.comparison import Comparison, compared
from kleio.core.reading.query import DOCUMENT_FIELDS, Query, TrialFacts, Trials
from kleio.core.reading.ranking import readable_first
from kleio.core.reading.selection import Skipped, select_trials
from kleio.store.base import Store


def newest_page(
    store: Store, query: Query, lease: float, offset: int, limit: int
) -> tuple[Comparison, int] | None:
    """The comparison of the trials of one page (at ``offset``, at most ``limit``) of
    the newest trials ``query`` selects, and how many trials it selects; None for a
    query the module documentation does not name (the general path answers it)."""
    selection = query.selection
    if query.sort:
        return _best_page(store, query, lease, offset, limit)
    if query.where or query.limit is not None:
        return None
    if selection.ids or selection.statuses or selection.since is not None or selection.parent:
        return None
    wanted = offset + limit
    skipped: list[Skipped] = []
    asked = wanted
    while True:
        # A damaged or half-imported trial is left out after the store's limit: ask for
        # more until the page is full or every trial selected was read.
        skipped.clear()
        selected = select_trials(
            store, selection, lease, LISTED_FIELDS, limit=asked, skipped=skipped
        )
        if len(selected) >= wanted or len(selected) + len(skipped) < asked:
            break
        asked *= 2
    now = clock.now()
    pool = [TrialFacts(document, status, now) for document, status in selected]
    kept = readable_first(store, pool, wanted, DOCUMENT_FIELDS, skipped)
    # Every trial selected was read (a journal of fewer trials than the page asks): the
    # total is theirs, exact; else the store counts the trials the selection finds.
    ended = len(selected) + len(skipped) < asked and len(pool) <= wanted
    page = kept[offset:]
    trials = Trials(store, page, _pool=page, skipped=skipped)
    comparison = compared(trials, query)
    return comparison, len(kept) if ended else _count(store, query)


def _count(store: Store, query: Query) -> int:
    selection = query.selection
    return store.count_trials(
        tags=list(selection.tags) or None, project=selection.project, study=selection.study
    )


def _best_page(
    store: Store, query: Query, lease: float, offset: int, limit: int
) -> tuple[Comparison, int] | None:
    """The first page of trials sorted by one statistic's smallest or largest value
    (``sort=loss:min``), found by :mod:`kleio.core.reading.ranking`; None for another.
    Its first row is the best of every trial selected, so that the page's ``best`` is
    theirs (a later page's would be its own: the general path answers those)."""
    from kleio.core.reading.query import parse_order
    from kleio.core.reading.ranking import ranked_trials

    if offset or query.where or query.limit is not None or len(query.sort) != 1:
        return None
    if parse_order(query.sort[0]).key.rpartition(":")[2] not in ("min", "max"):
        return None
    first = Query(query.selection, [], query.sort, limit)
    trials = ranked_trials(store, first, lease, DOCUMENT_FIELDS)
    if trials is None:
        return None
    return compared(trials, query), trials.ranked
