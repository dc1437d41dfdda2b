"""Trials side by side: one row per trial, the columns that tell them apart; or one row
per group of trials (a study's point over its seeds).

The rows of ``kleio compare`` and ``kleio.compare``: short id, name (when a trial
compared has one), status, the configuration
keys two rows hold different values of (all of them when asked), statistic summaries
(the last value of every statistic key, or the keys chosen), and the run time. Sorting,
filtering and keys follow :mod:`kleio.core.reading.query`.

Grouped (:func:`compare_groups`, ``--group-by``), the rows are groups as
:mod:`kleio.core.reading.groups` defines them: the grouping keys' values, ``n`` (the
trials of the group) and the aggregates of each of those columns over the group's trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kleio.core.model.errors import SettingsError
from kleio.core.model.trial import canonical_json
from kleio.core.reading.groups import (
    DEFAULT_GROUP_AGGREGATES,
    EVERY_KEY,
    GROUP_AGGREGATES,
    aggregate_group,
    group_of,
    grouping_keys,
)
from kleio.core.reading.query import (
    Condition,
    Key,
    Query,
    QueryError,
    TrialFacts,
    Trials,
    is_missing,
    matching,
    parse_condition,
    parse_order,
    query_trials,
)
from kleio.core.reading.statistics import sort_value
from kleio.core.reading.summaries import AGGREGATES
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
    # The first trials by a statistic are found without reading every trial, unless
    # --keys names keys that resolve over every trial.
    trials = query_trials(store, query, lease, ranked=keys is None)
    return compared(trials, query, keys=keys, all_configuration=all_configuration)


def compared(
    trials: Trials,
    query: Query,
    *,
    keys: Sequence[str] | None = None,
    all_configuration: bool = False,
) -> Comparison:
    """The comparison of ``trials``, found by ``query`` (its orders give ``best``): its
    columns are those of these trials alone (:mod:`kleio.core.reading.paging` compares
    the trials of one page)."""
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


#: The column of a group's number of trials.
COUNT = "n"


@dataclass
class GroupComparison:
    """One row per group of trials (dicts by column label) and what the columns are.

    ``keys``: the grouping keys shown, each row holding its group's value (None for the
    group of the trials that lack the key); then :data:`COUNT`, its number of trials;
    then ``aggregated``, pairs (the label of a trial's column, an aggregate), each the
    column ``LABEL:AGGREGATE`` (``loss:min:mean``) of that aggregate over the group's
    trials. ``best`` gives, for each sorted column, its best value.
    """

    rows: list[dict[str, Any]]
    keys: list[str]
    aggregated: list[tuple[str, str]]
    best: dict[str, Any] = field(default_factory=dict)
    skipped: list = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*self.keys, COUNT, *(f"{label}:{how}" for label, how in self.aggregated)]


def compare_groups(
    store: Store,
    query: Query,
    lease: float,
    *,
    group_by: Sequence[str],
    seed_keys: Sequence[str] = (),
    aggregates: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    all_configuration: bool = False,
) -> GroupComparison:
    """The groups of the trials ``query`` selects, grouped by the configuration keys of
    ``group_by`` (:func:`~kleio.core.reading.groups.grouping_keys`; with ``*``, those of
    its keys whose values differ between the trials, or all with ``all_configuration``).

    The columns aggregated are those :func:`compare_trials` shows of each trial (the
    last value of every statistic, or ``keys``), each by every one of ``aggregates``
    (the mean and the standard deviation by default).

    The query reads in two steps: a condition on a group's column (``n``, or
    ``LABEL:AGGREGATE`` such as ``loss:min:mean``) keeps groups; any other (``lr=0.1``,
    ``loss:min<0.1``, ``status=completed``) keeps trials before they are grouped. The
    orders sort groups, by a grouping key, ``n`` or a group's column; the limit counts
    groups. A grouping key, a seed key or an aggregate that is not there is an error
    naming those that are.
    """
    aggregates = list(DEFAULT_GROUP_AGGREGATES if aggregates is None else aggregates)
    unknown = [how for how in aggregates if how not in GROUP_AGGREGATES]
    if unknown or not aggregates:
        said = f"unknown aggregate {unknown[0]!r}" if unknown else "no aggregate given"
        raise SettingsError(f"{said}: choose among {', '.join(GROUP_AGGREGATES)}")
    if query.limit is not None and query.limit < 0:
        raise QueryError(f"--limit takes a count of groups, not {query.limit}")
    if not group_by:
        raise SettingsError("--group-by needs a configuration key (or '*': every key but seeds)")
    trials = query_trials(store, Query(query.selection), lease)
    grouped = _grouping(trials, group_by, seed_keys)

    group_conditions: list[tuple[tuple[Key, str] | None, Condition]] = []
    trial_conditions = []
    for text in query.where:
        condition = parse_condition(text, summary=False)
        if condition.key == COUNT:
            group_conditions.append((None, condition))
            continue
        column = _group_column(trials, condition.key, f"--where {text!r}")
        if column is None:
            trial_conditions.append(parse_condition(text))
        else:
            group_conditions.append((column, condition))
    trials.keep_meeting(trial_conditions)
    facts = trials.facts
    names = grouped if all_configuration else _splitting(facts, grouped, group_by)

    trials.load_statistics()
    chosen = (
        [trials.resolve(text.strip(), "--keys") for text in keys if text.strip()]
        if keys is not None
        else [Key("statistic", name, "last") for name in _statistic_keys(facts)]
    )
    aggregated = [(key, how) for key in chosen for how in aggregates]
    orders = []
    for text in query.sort:
        order = parse_order(text, summary=False)
        column = None
        if order.key != COUNT and order.key not in names:
            column = _group_column(trials, order.key, f"--sort {text!r}")
            if column is None:
                # A trial's key: its group's column is that key and an aggregate.
                key = trials.resolve(order.key, f"--sort {text!r}")
                raise QueryError(
                    f"bad --sort {text!r}: groups sort by a grouping key "
                    f"({', '.join(names) or 'none'}), {COUNT} or a group's column "
                    f"KEY:AGGREGATE, such as {key.label}:{aggregates[0]}"
                )
            if column not in aggregated:
                aggregated.append(column)
        orders.append((order, column))
    needed = aggregated + [c for c, _ in group_conditions if c and c not in aggregated]

    members: dict[tuple[str, ...], list[TrialFacts]] = {}
    for f in facts:
        members.setdefault(group_of(f.configuration, names), []).append(f)
    every = [_group_row(group, names, needed) for group in members.values()]
    every.sort(key=lambda row: [sort_value(row[name]) for name in names])
    if group_conditions:
        test = matching([condition for _, condition in group_conditions])
        every = [row for row in every if test({k: v for k, v in row.items() if v is not None})]
    for order, column in reversed(orders):
        label = _label(column) if column else order.key
        present = [row for row in every if row.get(label) is not None]
        present.sort(key=lambda row: sort_value(row[label]), reverse=order.descending)
        every = present + [row for row in every if row.get(label) is None]
    if query.limit is not None:
        every = every[: query.limit]
    shown = {_label(column) for column in aggregated}
    rows = [
        {k: v for k, v in row.items() if k in names or k == COUNT or k in shown} for row in every
    ]
    best = {}
    for order, column in orders:
        label = _label(column) if column else order.key
        values = [row[label] for row in rows if row.get(label) is not None]
        if values:
            pick = max if order.descending else min
            best[label] = pick(values, key=sort_value)
    return GroupComparison(
        rows,
        names,
        [(key.label, how) for key, how in aggregated],
        best,
        trials.skipped,
    )


def _label(column: tuple[Key, str]) -> str:
    key, how = column
    return f"{key.label}:{how}"


def _grouping(trials: Trials, group_by: Sequence[str], seed_keys: Sequence[str]) -> list[str]:
    """The keys ``group_by`` names, each checked against the trials' configuration."""
    known = trials.configuration_keys()
    if trials.facts:  # nothing selected: any key is as good
        for option, names in (("--group-by", group_by), ("--seed-key", seed_keys)):
            for name in names:
                if name not in known and not (option == "--group-by" and name == EVERY_KEY):
                    raise QueryError(
                        f"no trial has the configuration key {name!r} ({option}); "
                        f"{trials.describe_configuration()}"
                    )
    names = grouping_keys(group_by, known, seed_keys)
    if COUNT in names:
        raise QueryError(
            f"cannot group by a configuration key named {COUNT!r}: it is the column of "
            "each group's number of trials"
        )
    return names


def _splitting(facts: list[TrialFacts], names: list[str], group_by: Sequence[str]) -> list[str]:
    """The keys of ``names`` that tell groups apart: all those ``group_by`` names, and
    of those ``*`` stands for, the ones two trials hold different values of (a trial
    lacking a key counts: it is a group of its own). A key with one value everywhere
    makes the same groups with or without it: 25 unchanging defaults stay out of a table
    whose sweep changes 2 keys."""
    return [
        name
        for name in names
        if name in group_by or len({group_of(f.configuration, [name]) for f in facts}) > 1
    ]


def _group_column(trials: Trials, text: str, option: str) -> tuple[Key, str] | None:
    """The group's column ``text`` names (``loss:min:mean``: the mean of the column
    ``loss:min`` over the group's trials), or None if it names a trial's key. (``n``,
    the group's number of trials, is read before.)"""
    prefix, colon, how = text.rpartition(":")
    if not colon or not prefix or how not in GROUP_AGGREGATES:
        return None
    # `loss:min`: the smallest loss of a trial, not the smallest last loss of a group.
    of_trials = how in AGGREGATES
    try:
        key = trials.resolve(prefix, option)
    except QueryError:
        if of_trials:
            return None
        raise
    if key.label != prefix:
        if of_trials:
            return None
        raise QueryError(
            f"bad {option}: a group's column is a trial's column and an aggregate, such "
            f"as {key.label}:{how}"
        )
    return (key, how)


def _group_row(
    group: list[TrialFacts], names: list[str], aggregated: list[tuple[Key, str]]
) -> dict[str, Any]:
    first = group[0].configuration
    row: dict[str, Any] = {name: first.get(name) for name in names}
    row[COUNT] = len(group)
    values: dict[Key, list[Any]] = {}
    for key, how in aggregated:
        if key not in values:
            values[key] = [f.value(key) for f in group]
        row[f"{key.label}:{how}"] = aggregate_group(values[key], how)
    return row
