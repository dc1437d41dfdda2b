"""The studies of a journal, each in one row: what ``kleio studies`` lists.

A study is the trials whose ``study`` field holds its name (see
:mod:`kleio.core.running.study`). Its row counts them by observed status and names the
best trial so far by a sort key (``loss:min`` by default, an adaptive study's objective
for it; ``-acc:max`` for the highest),
among the trials that hold it, so a study half run already tells what it found.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kleio.core.model.search import read_search
from kleio.core.model.status import STATUSES
from kleio.core.reading.query import (
    Order,
    Query,
    QueryError,
    is_missing,
    parse_order,
    query_trials,
    sort_by,
)
from kleio.core.reading.selection import Selection, Skipped, select_trials
from kleio.store.base import Store

#: What a study's best trial is by default: the lowest loss it reached.
DEFAULT_BEST = "loss:min"


def list_studies(
    store: Store,
    lease: float,
    best: str | None = None,
    study: str | None = None,
    skipped: list[Skipped] | None = None,
) -> list[dict[str, Any]]:
    """A row per study (or only ``study``), by name: ``study``, ``trials``, a count of
    each status (those of :data:`~kleio.core.model.status.STATUSES`), ``best`` (the
    value of the sort key ``best`` of its best trial, None when no trial holds it),
    ``best_trial`` (that trial's id) and ``best_key`` (the key)."""
    order = parse_order(best or DEFAULT_BEST)
    found = select_trials(store, Selection(study=study), lease, fields=["study"], skipped=skipped)
    counts: dict[str, Counter] = {}
    for document, status in found:
        name = document.get("study")
        if isinstance(name, str):
            counts.setdefault(name, Counter())[status] += 1
    rows = []
    for name in sorted(counts):
        row: dict[str, Any] = {"study": name, "trials": sum(counts[name].values())}
        row.update({status: counts[name][status] for status in STATUSES})
        chosen = order if best is not None else _objective(store, name) or order
        row.update(_best(store, lease, name, chosen.key, best is not None, chosen.descending))
        rows.append(row)
    return rows


def _objective(store: Store, study: str) -> Order | None:
    """The objective of an adaptive study (one read), None for a study of saved points."""
    search = read_search(store, study)
    return None if search is None else parse_order(search.best_key)


def _best(
    store: Store, lease: float, study: str, key: str, asked: bool, descending: bool
) -> dict[str, Any]:
    """The best trial of a study by ``key``: ``best``, ``best_trial`` and ``best_key``.
    A key no trial of the study holds is an error when ``asked`` (the keys there are
    are named), and no best otherwise (the default key of a study logging no loss)."""
    from kleio.core.reading.ranking import ranked_trials

    # By a statistic summary (loss:min), the best is found from that summary of each
    # trial, without reading every trial's document (kleio.core.reading.ranking).
    order = f"-{key}" if descending else key
    first = ranked_trials(store, Query(Selection(study=study), [], [order], 1), lease, None)
    if first is not None:
        value = first.facts[0].value(first.resolve(key, "--best")) if first.facts else None
        if first.facts and not is_missing(value):
            return {"best": value, "best_trial": first.facts[0].id, "best_key": key}
        return {"best": None, "best_trial": None, "best_key": key}
    trials = query_trials(store, Query(Selection(study=study), [], [], None), lease)
    try:
        resolved = trials.resolve(key, "--best")
    except QueryError:
        if asked:
            raise
        return {"best": None, "best_trial": None, "best_key": key}
    if resolved.source == "statistic":
        trials.load_statistics()
    for facts in sort_by(trials.facts, resolved, descending):
        value = facts.value(resolved)
        if not is_missing(value):
            return {"best": value, "best_trial": facts.id, "best_key": key}
    return {"best": None, "best_trial": None, "best_key": key}
    for facts in trials.facts:
        value = facts.value(trials.resolve(key, "--best"))
        if not is_missing(value):
            return {"best": value, "best_trial": facts.id, "best_key": key}
    return {"best": None, "best_trial": None, "best_key": key}
