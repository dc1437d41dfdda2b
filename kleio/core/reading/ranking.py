"""The first trials by a statistic, without reading every trial: ``kleio compare --sort
loss:min -n 20`` and ``kleio ls --sort loss:min -n 5`` over 100,000 trials.

:func:`~kleio.core.reading.query.query_trials` reads the configuration and every
statistic summary of every trial it selects, then sorts them all. When a query only
sorts by statistic summaries (``NAME:AGGREGATE``) and keeps the first ``limit``, the same
trials in the same order come from less: the listed fields of the trials selected (what
a listing reads: the stored status and heartbeat give the observed one), one summary of
each sort key for every trial (:meth:`~kleio.store.base.Store.read_field_summaries`:
one round trip, no document), the views of branches (their parents' statistics), the
same stable sort as the general path; then the configuration and every summary of the
``limit`` trials kept alone.

:func:`ranked_trials` answers None for any other query, which the general path answers:
``--where`` conditions, keys without an aggregate (``loss`` may be a configuration
key), ids named, no limit, a key no trial holds (the general path's error names the keys
there are).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from kleio.core.model import clock
from kleio.core.model.catalogue import LISTED_FIELDS
from kleio.core.model.schema import reading_problem
from kleio.core.model.trial import TrialDocument
from kleio.core.reading.query import (
    Key,
    Query,
    TrialFacts,
    Trials,
    parse_order,
)
from kleio.core.reading.selection import Skipped, select_trials
from kleio.core.reading.statistics import sort_value
from kleio.core.reading.summaries import (
    AGGREGATES,
    DEFAULT_AGGREGATE,
    STATISTIC,
    aggregate,
    view_summaries,
)
from kleio.store.base import Store


def ranked_trials(
    store: Store, query: Query, lease: float, fields: Sequence[str] | None
) -> Trials | None:
    """What :func:`~kleio.core.reading.query.query_trials` answers for ``query``, read
    as the module documentation says; None when the query is not one of those.

    The :class:`~kleio.core.reading.query.Trials` answered knows the trials kept alone
    (their configuration, their statistics): its sort keys resolve as over every trial,
    but a caller that resolves other keys over every trial (``compare --keys``) must
    not ask for it."""
    if query.where or not query.sort or query.selection.ids or not (query.limit or 0) > 0:
        return None
    keys: list[tuple[Key, bool]] = []
    for text in query.sort:
        order = parse_order(text)
        name, colon, wanted = order.key.rpartition(":")
        if not colon or wanted not in AGGREGATES:
            return None
        keys.append((Key("statistic", name, wanted), order.descending))
    names = list(dict.fromkeys(key.name for key, _ in keys))
    summaries = {name: store.read_field_summaries(STATISTIC, name) for name in names}
    if not all(summaries.values()):  # a key no trial holds: the general path says so
        return None
    skipped: list[Skipped] = []
    selected = select_trials(store, query.selection, lease, LISTED_FIELDS, skipped=skipped)
    now = clock.now()
    pool = [TrialFacts(document, status, now) for document, status in selected]
    branches = [f.document for f in pool if (f.document.get("refers") or {}).get("parent")]
    views = view_summaries(store, branches) if branches else {}
    held = set()
    for facts in pool:
        view = views.get(facts.id)
        if view is None:
            own = (summaries[n].get(facts.id) for n in names)
            facts.statistics = {n: s for n, s in zip(names, own, strict=True) if s is not None}
        else:
            facts.statistics = {n: view[n] for n in names if n in view}
        held.update(facts.statistics)
    if not held.issuperset(names):  # a key no trial holds: the general path's error
        return None
    ranked = pool
    for key, descending in reversed(keys):
        ranked = _sorted(ranked, key, descending)
    kept = readable_first(store, ranked, query.limit, fields, skipped)
    for facts, statistics in zip(kept, _statistics(store, kept), strict=True):
        facts.statistics = statistics
    trials = Trials(store, kept, _pool=kept, skipped=skipped)
    trials.statistics_loaded = True
    # The sort keys resolve as they did over every trial, not over the ones kept.
    trials.known = {key.label: key for key, _ in keys}
    trials.ranked = len(pool)
    return trials


def _sorted(facts: list[TrialFacts], key: Key, descending: bool) -> list[TrialFacts]:
    """:func:`~kleio.core.reading.query.sort_by`, each trial's value taken once (three
    times there: a third of sorting 100,000 trials)."""
    name, wanted = key.name, key.aggregate or DEFAULT_AGGREGATE
    present, absent = [], []
    for f in facts:
        value = aggregate(f.statistics.get(name), wanted)
        if value is None:
            absent.append(f)
        else:
            present.append((value, f))
    # Numbers alone (a minimum or a maximum always: neither is NaN nor a boolean) sort
    # as sort_value sorts them, by themselves: a tuple made for each of 100,000 values
    # took as long as the rest of the sort.
    if not {value.__class__ for value, _ in present} <= {int, float} or any(
        [value != value for value, _ in present]  # NaN sorts last: sort_value knows how
    ):
        present = [(sort_value(value), f) for value, f in present]
    present.sort(key=itemgetter(0), reverse=descending)
    return [f for _, f in present] + absent


def readable_first(
    store: Store,
    ranked: list[TrialFacts],
    limit: int,
    fields: Sequence[str] | None,
    skipped: list[Skipped],
) -> list[TrialFacts]:
    """The first ``limit`` trials of ``ranked`` whose documents (their ``fields``) can
    be read; those that cannot are skipped, as the general path skips them."""
    kept: list[TrialFacts] = []
    start = 0
    while len(kept) < limit and start < len(ranked):
        some = ranked[start : start + limit - len(kept)]
        start += len(some)
        documents = store.get_trials([f.id for f in some])
        for facts in some:
            document = documents.get(facts.id)
            if document is None:  # deleted meanwhile
                continue
            document = _cut(document, fields)
            problem = reading_problem(document)
            if problem is not None:
                skipped.append(Skipped(facts.id, problem))
                continue
            facts.document = document
            kept.append(facts)
    return kept


def _cut(document: TrialDocument, fields: Sequence[str] | None) -> TrialDocument:
    if fields is None:
        return document
    keep = {"_id", *fields}
    return {k: v for k, v in document.items() if k in keep}  # type: ignore[return-value]


def _statistics(store: Store, kept: list[TrialFacts]):
    """Every statistic summary of each trial kept, in order."""
    views = view_summaries(store, [f.document for f in kept])
    return [views[f.id] for f in kept]
