"""Trials side by side: one row per trial, the columns that tell them apart.

The rows of ``kleio compare`` and ``kleio.compare``: short id, name (when a trial
compared has one), status, the configuration
keys two rows hold different values of (all of them when asked), statistic summaries
(the last value of every statistic key, or the keys chosen), and the run time. Sorting,
filtering and keys follow :mod:`kleio.core.reading.query`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kleio.core.model.trial import canonical_json
from kleio.core.reading.query import Key, Query, TrialFacts, is_missing, parse_order, query_trials
from kleio.core.reading.statistics import sort_value
from kleio.store.base import Store

#: Columns every comparison starts with, and the one it ends with.
LEADING = ("id", "short_id", "status")
TRAILING = ("run_time",)
#: The column of trials' names, after the leading ones when a trial compared has one
#: (not ``name``: scripts often have a configuration key of that name).
NAME = "trial_name"


@dataclass
class Comparison:
    """Rows (dicts by column label) and what the columns are.

    ``configuration`` and ``statistics`` are the labels of the columns between the
    leading ones (``id``, ``short_id``, ``status``, then ``trial_name`` when ``named``: a
    trial compared has a name) and ``run_time``; ``best`` gives, for each sorted column, its
    best value (the first in the order asked).
    """

    rows: list[dict[str, Any]]
    configuration: list[str]
    statistics: list[str]
    best: dict[str, Any] = field(default_factory=dict)
    named: bool = False
    #: The trials whose documents could not be read (each a
    #: :class:`~kleio.core.reading.selection.Skipped`).
    skipped: list = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        named = [NAME] if self.named else []
        return [*LEADING, *named, *self.configuration, *self.statistics, *TRAILING]


def compare_trials(
    store: Store,
    query: Query,
    lease: float,
    *,
    keys: Sequence[str] | None = None,
    all_configuration: bool = False,
) -> Comparison:
    """The comparison of the trials ``query`` finds (see the module documentation)."""
    trials = query_trials(store, query, lease)
    trials.load_statistics()
    facts = trials.facts
    chosen = (
        [trials.resolve(text.strip(), "--keys") for text in keys if text.strip()]
        if keys is not None
        else [Key("statistic", name, "last") for name in _statistic_keys(facts)]
    )
    named = {key.name for key in chosen if key.source == "config"}
    # A configuration key --keys names is its column, once (`--keys lr,loss:min`).
    configuration = [
        name for name in _configuration_keys(facts, every=all_configuration) if name not in named
    ]
    orders = [(trials.resolve(o.key, f"--sort {o.key!r}"), o) for o in map(parse_order, query.sort)]
    shown = {key.label for key in chosen} | {f"config:{k}" for k in configuration}
    for key, _ in orders:
        taken = f"config:{key.label}" if key.source == "config" else key.label
        if taken in shown or key.label in (*LEADING, *TRAILING, NAME):
            continue
        if key.source == "config":
            configuration.append(key.name)
        else:
            chosen.append(key)
        shown.add(taken)
    config_keys = [Key("config", name) for name in configuration]
    named = any([f.document.get("name") for f in facts])
    rows = [_row(f, config_keys + chosen, named) for f in facts]
    best = {}
    for key, order in orders:
        label = key.label
        values = [row[label] for row in rows if row.get(label) is not None]
        if values:
            pick = max if order.descending else min
            best[label] = pick(values, key=sort_value)
    return Comparison(
        rows, configuration, [key.label for key in chosen], best, named, trials.skipped
    )


def _row(facts: TrialFacts, keys: list[Key], named: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": facts.id,
        "short_id": facts.short_id,
        "status": facts.status,
    }
    if named:
        row[NAME] = facts.document.get("name")
    for key in keys:
        value = facts.value(key)
        row[key.label] = None if is_missing(value) else value
    row["run_time"] = facts.field("run_time")
    return row


def _statistic_keys(facts: list[TrialFacts]) -> list[str]:
    """Every statistic key of the rows, each trial's in the order it first logged them."""
    return list(
        dict.fromkeys(
            name
            for f in facts
            for name, _ in sorted(
                f.statistics.items(), key=lambda item: (item[1].first_key, item[0])
            )
        )
    )


def _configuration_keys(facts: list[TrialFacts], every: bool) -> list[str]:
    """Configuration keys of the rows: those two trials hold different values of, or all.

    A trial that lacks a key (one that failed before its parser resolved the defaults,
    one of an older version of the script) makes no difference: it shows a blank, and
    25 unchanging defaults do not bury the 3 keys a sweep changes."""
    names = list(dict.fromkeys(name for f in facts for name in f.configuration))
    if every:
        return names
    return [
        name
        for name in names
        if len({canonical_json(f.configuration[name]) for f in facts if name in f.configuration})
        > 1
    ]
