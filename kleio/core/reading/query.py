"""Asking for trials by what they hold: the keys, ``--where`` conditions and ``--sort``
orders that ``kleio ls``, ``kleio compare`` and ``kleio.compare`` share.

A key names one value of a trial:

* a field of the trial: ``id``, ``status``, ``tags``, ``project``, ``created``,
  ``run_time``, ``command``, ``parent``, and the batch job of its latest execution,
  ``job.FACT`` (``job.job_id``, ``job.array_task_id``, ``job.restart_count``,
  ``job.partition``, ``job.nodes``, ``job.scheduler``);
* a configuration key: ``lr``, or ``model.depth`` inside a configuration file (nested
  keys joined by dots);
* a statistic summary, ``KEY:AGGREGATE`` with an aggregate among ``last``, ``first``,
  ``min``, ``max`` and ``count`` (``loss:min``, ``epoch:count``); a bare key that is no
  configuration key but a statistic means its last value (``loss`` is ``loss:last``).

A condition is ``KEY OP VALUE`` with ``OP`` among ``=``, ``!=``, ``<``, ``<=``, ``>``,
``>=`` and ``~`` (``lr=0.1``, ``loss:min<0.02``, ``tags~sweep``). ``VALUE`` is typed like a
command-line value (``0.1``, ``3``, ``true``, text), except against a value that is text,
which it matches as written; for ``created`` it is a date or time
(ISO 8601, UTC unless it says otherwise). Order comparisons hold between numbers or
between texts; ``~`` searches a regular expression in the text of the value (Python's
syntax, run by the ``regex`` engine, which does not backtrack without end: all the
``~`` conditions of a query get :data:`MATCH_BUDGET` seconds, after which the query is
refused rather than left to hold a dashboard or a terminal). For a list
(``tags``), ``=`` holds if an item equals ``VALUE``, ``!=`` if none does, ``~`` if an item
matches. A trial without the key never matches.

A sort key is ``KEY`` (ascending) or ``-KEY`` (descending); trials without the key come
last either way.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from kleio.core.capture.resolved import resolved_configuration
from kleio.core.model import clock
from kleio.core.model.catalogue import LISTED_FIELDS
from kleio.core.model.commandline import shell_join, typed
from kleio.core.model.errors import SettingsError
from kleio.core.model.status import run_time
from kleio.core.model.trial import TrialDocument, short_id
from kleio.core.reading.selection import Selection, Skipped, select_trials
from kleio.core.reading.statistics import sort_value
from kleio.core.reading.summaries import AGGREGATES, DEFAULT_AGGREGATE, aggregate, view_summaries
from kleio.store.base import Store, Summary
from kleio.value import Value

#: Fields of a trial a key may name (any other name is a configuration or statistic key).
FIELDS = ("id", "status", "tags", "project", "created", "run_time", "command", "parent")
#: The prefix of the facts of the latest execution's batch job (``job.partition``).
JOB = "job."
#: What a query reads of each trial document: what a listing shows, and what a condition
#: or an order may name.
DOCUMENT_FIELDS = [*LISTED_FIELDS, "configuration", "resolved"]
OPERATORS = ("<=", ">=", "!=", "=", "<", ">", "~")
_CONDITION = re.compile(r"\s*(?P<key>[^=!<>~]*?)\s*(?P<op><=|>=|!=|=|<|>|~)(?P<value>.*)", re.S)
_RELATIVE = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Seconds the ``~`` conditions of one query may spend matching, over all trials: a
#: pattern written to backtrack without end (``(a+)+$``) is refused, never left to run.
MATCH_BUDGET = 2.0


class QueryError(SettingsError):
    """A key, condition or order the user wrote cannot be used."""


_MISSING = object()


class Key(Value):
    """Where a value comes from: a trial ``field``, the ``config`` or a ``statistic``."""

    FIELDS = ("source", "name", "aggregate")

    def __init__(self, source: str, name: str, aggregate: str | None = None):
        self.source, self.name, self.aggregate = source, name, aggregate

    @property
    def label(self) -> str:
        return f"{self.name}:{self.aggregate}" if self.aggregate else self.name


class Condition(Value):
    """One ``--where`` condition, as written and parsed."""

    FIELDS = ("text", "key", "operator", "value")

    def __init__(self, text: str, key: str, operator: str, value: str):
        self.text, self.key, self.operator, self.value = text, key, operator, value


class Query(Value):
    """Which trials, filtered by conditions, in which order, how many: what ``ls``,
    ``compare``, ``export`` and ``kleio.compare`` ask for."""

    FIELDS = ("selection", "where", "sort", "limit")

    def __init__(
        self,
        selection: Selection | None = None,
        where: Sequence[str] = (),
        sort: Sequence[str] = (),
        limit: int | None = None,
    ):
        self.selection = Selection() if selection is None else selection
        self.where, self.sort, self.limit = where, sort, limit


class Order(Value):
    """One ``--sort`` key, ascending unless ``descending``."""

    FIELDS = ("key", "descending")

    def __init__(self, key: str, descending: bool = False):
        self.key, self.descending = key, descending


def parse_condition(text: str, *, summary: bool = True) -> Condition:
    """``"loss:min<0.02"`` -> ``Condition(key="loss:min", operator="<", value="0.02")``.

    ``summary``: a key ``NAME:WORD`` must name a statistic summary (``WORD`` among
    :data:`AGGREGATES`); False for a key of another grammar (a group's column,
    ``loss:min:mean``), which its reader checks."""
    match = _CONDITION.fullmatch(text)
    if match is None:
        raise QueryError(
            f"bad --where {text!r}: expected KEY OP VALUE with OP one of {' '.join(OPERATORS)}"
        )
    key, operator, value = match["key"], match["op"], match["value"].strip()
    if not key:
        raise QueryError(f"bad --where {text!r}: no key before {operator!r}")
    if not value:
        raise QueryError(f"bad --where {text!r}: no value after {operator!r}")
    if operator != "~" and value[0] in "=<>!~":
        raise QueryError(f"bad --where {text!r}: the value {value!r} starts with an operator")
    if operator == "~":
        try:
            _pattern(value)
        except Exception as error:  # regex.error, and what its compiler may raise
            raise QueryError(f"bad --where {text!r}: bad regular expression ({error})") from None
    if summary:
        _check_aggregate(key, f"--where {text!r}")
    return Condition(text, key, operator, value)


def parse_order(text: str, *, summary: bool = True) -> Order:
    """``"-loss:min"`` -> ``Order("loss:min", descending=True)``; ``summary`` as
    :func:`parse_condition` takes it."""
    stripped = text.strip()
    descending = stripped.startswith("-")
    key = stripped[1:].strip() if descending or stripped.startswith("+") else stripped
    if not key:
        raise QueryError(f"bad --sort {text!r}: no key")
    if summary:
        _check_aggregate(key, f"--sort {text!r}")
    return Order(key, descending)


def parse_since(text: str, now: float | None = None) -> float:
    """``2026-11-01``, ``2026-11-01T12:00``, or a time ago: ``30m``, ``12h``, ``7d``, ``2w``."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        ago = float(relative["amount"]) * _SECONDS[relative["unit"]]
        return (clock.now() if now is None else now) - ago
    try:
        return clock.parse_iso(text)
    except ValueError:
        raise QueryError(
            f"bad date {text!r}: give an ISO date or time (2026-11-01, 2026-11-01T12:00)"
            " or a time ago (30m, 12h, 7d, 2w)"
        ) from None


def _check_aggregate(key: str, where: str) -> None:
    name, colon, wanted = key.rpartition(":")
    if colon and wanted not in AGGREGATES:
        raise QueryError(
            f"bad {where}: unknown summary {wanted!r} of {name!r}; use {', '.join(AGGREGATES)}"
        )


def flatten(configuration: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings (a configuration file's content) as dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in configuration.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def tags_of(document: TrialDocument) -> list[str]:
    """The ``tags`` field of a trial (a list of its own)."""
    return list(document.get("tags") or ())


def command_of(document: TrialDocument) -> str:
    """The ``command`` field of a trial: its command line as a shell would take it."""
    return shell_join(document.get("commandline") or ())


def parent_of(document: TrialDocument) -> str | None:
    """The ``parent`` field of a trial: the id of the trial it branches from."""
    return (document.get("refers") or {}).get("parent")


#: Each field as a listing (:meth:`TrialFacts.listing`) names it.
_LISTED_AS = {name: "commandline" if name == "command" else name for name in FIELDS}


class TrialFacts:
    """One trial as a query sees it: its fields, its flattened configuration and, once
    loaded, its view's statistic summaries. ``now`` is the time a running trial's run
    time counts to: one for every trial of a query, so their run times agree."""

    def __init__(self, document: TrialDocument, status: str, now: float):
        self.document = document
        self.status = status
        self.id: str = document["_id"]
        self.now = now
        self.statistics: dict[str, Summary] = {}
        self._listing: dict[str, Any] | None = None

    @cached_property
    def configuration(self) -> dict[str, Any]:
        """What the script ran with, flattened: the defaults its parser filled in count
        too. Made when first asked for (`kleio ls` shows none: 10 % of its time)."""
        return flatten(resolved_configuration(self.document))

    def listing(self) -> dict[str, Any]:
        """The trial's :data:`FIELDS` as a listing shows them (a row of ``kleio ls``; not
        to be changed): ``short_id`` after the ``id``, the ``command`` field as
        ``commandline``. Made once, in one expression: with a call for each field, making
        10,000 listings took a third longer."""
        listing = self._listing
        if listing is None:
            document, status = self.document, self.status
            listing = self._listing = {
                "id": self.id,
                "short_id": short_id(self.id),
                "status": status,
                "created": document.get("created"),
                "run_time": run_time(document, status, self.now),
                "tags": tags_of(document),
                "commandline": command_of(document),
                "parent": parent_of(document),
                "project": document.get("project"),
                "name": document.get("name"),
            }
        return listing

    def field(self, name: str) -> Any:
        listed = _LISTED_AS.get(name)
        if listed is not None:
            return self.listing()[listed]
        if name.startswith(JOB):
            return (self.document.get("job") or {}).get(name[len(JOB) :])
        return self.document.get(name)

    def value(self, key: Key) -> Any:
        """The value ``key`` names, or :data:`_MISSING`."""
        if key.source == "field":
            found = self.field(key.name)
            return _MISSING if found is None else found
        if key.source == "config":
            return self.configuration.get(key.name, _MISSING)
        found = aggregate(self.statistics.get(key.name), key.aggregate or DEFAULT_AGGREGATE)
        return _MISSING if found is None else found

    @property
    def short_id(self) -> str:
        return short_id(self.id)


class Trials:
    """Trials found by :func:`query_trials`, and how their keys resolve."""

    def __init__(
        self,
        store: Store,
        facts: list[TrialFacts],
        _pool: list[TrialFacts],
        skipped: list[Skipped] | None = None,
    ):
        self.store, self.facts, self._pool = store, facts, _pool
        #: The documents that could not be read, for the one warning a face gives.
        self.skipped: list[Skipped] = [] if skipped is None else skipped
        self.statistics_loaded = False
        #: Keys already resolved over every trial selected, by their text (see
        #: :mod:`kleio.core.reading.ranking`, which keeps fewer trials than it sorted).
        self.known: dict[str, Key] = {}
        #: How many trials were ranked to find these (ranking's), else None.
        self.ranked: int | None = None

    def load_statistics(self) -> None:
        """Read the summaries of every trial considered (once)."""
        if self.statistics_loaded:
            return
        summaries = view_summaries(self.store, [f.document for f in self._pool])
        for facts in self._pool:
            facts.statistics = summaries[facts.id]
        self.statistics_loaded = True

    def configuration_keys(self) -> list[str]:
        return list(dict.fromkeys(k for f in self._pool for k in f.configuration))

    def statistic_keys(self) -> list[str]:
        self.load_statistics()
        return list(dict.fromkeys(k for f in self._pool for k in f.statistics))

    def resolve(self, text: str, option: str) -> Key:
        """The key ``text`` names; an unknown one is an error listing those that exist."""
        known = self.known.get(text)
        if known is not None:
            return known
        name, colon, wanted = text.rpartition(":")
        if colon and wanted in AGGREGATES:
            if name in self.statistic_keys():
                return Key("statistic", name, wanted)
        elif text in FIELDS or text.startswith(JOB) and text not in self.configuration_keys():
            return Key("field", text)
        elif text in self.configuration_keys():
            return Key("config", text)
        elif text in self.statistic_keys():
            return Key("statistic", text, DEFAULT_AGGREGATE)
        if not self._pool:  # nothing to compare: any key is as good
            return Key("config", text)
        raise QueryError(f"no trial has the key {text!r} ({option}); {self.describe_keys()}")

    def keep_meeting(self, conditions: Sequence[Condition]) -> None:
        """Keep, of the trials found, those that meet every condition (their keys
        resolved, an unknown one an error); the ``~`` conditions get
        :data:`MATCH_BUDGET` seconds over all the trials."""
        tests = [(self.resolve(c.key, f"--where {c.text!r}"), c) for c in conditions]
        if any(key.source == "statistic" for key, _ in tests):
            self.load_statistics()
        deadline = time.monotonic() + MATCH_BUDGET
        try:
            self.facts = [
                f for f in self.facts if all(_holds(f.value(key), c, deadline) for key, c in tests)
            ]
        except TimeoutError:
            searched = next(c.text for c in conditions if c.operator == "~")
            raise QueryError(
                f"--where {searched!r}: the regular expression took over {MATCH_BUDGET:g} s"
                f" to search {len(self.facts)} trials; write a simpler one"
            ) from None

    def describe_configuration(self) -> str:
        """The configuration keys there are, for an error about one."""
        return f"configuration: {_some(self.configuration_keys())}"

    def describe_keys(self) -> str:
        statistics = sorted(self.statistic_keys())
        parts = [
            f"fields: {', '.join(FIELDS)}, {JOB}FACT",
            f"configuration: {_some(self.configuration_keys())}",
        ]
        parts.append(
            f"statistics: {_some(statistics)} (add :{', :'.join(AGGREGATES)})"
            if statistics
            else "statistics: none"
        )
        return "; ".join(parts)


def _some(names: Sequence[str], shown: int = 25) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def query_trials(
    store: Store,
    query: Query,
    lease: float,
    fields: Sequence[str] | None = DOCUMENT_FIELDS,
    named_incomplete: bool = False,
    damaged: bool = False,
    ranked: bool = False,
) -> Trials:
    """The selected trials that meet every condition, in the order asked (newest first
    otherwise), at most ``limit``; ``fields`` of each document (None: all). Bad
    conditions and unknown keys raise :class:`QueryError` before anything is returned.
    ``named_incomplete`` and ``damaged``: as
    :func:`~kleio.core.reading.selection.select_trials` takes them.

    ``ranked``: the caller resolves no key over every trial selected but the query's own,
    so the first trials by a statistic may be found without reading every trial
    (:mod:`kleio.core.reading.ranking`): the same trials, in the same order."""
    if ranked and not named_incomplete and not damaged:
        from kleio.core.reading.ranking import ranked_trials

        found = ranked_trials(store, query, lease, fields)
        if found is not None:
            return found
    conditions = [parse_condition(text) for text in query.where]
    orders = [parse_order(text) for text in query.sort]
    limit = query.limit
    if limit is not None and limit < 0:
        raise QueryError(f"--limit takes a count of trials, not {limit}")
    simple = not conditions and not orders
    skipped: list[Skipped] = []
    selected = select_trials(
        store,
        query.selection,
        lease,
        fields,
        limit=limit if simple else None,
        named_incomplete=named_incomplete,
        skipped=skipped,
        damaged=damaged,
    )
    now = clock.now()
    pool = [TrialFacts(document, status, now) for document, status in selected]
    trials = Trials(store, pool, _pool=pool, skipped=skipped)
    for condition in conditions:  # every key resolved before any statistic is read
        trials.resolve(condition.key, f"--where {condition.text!r}")
    keys = [(trials.resolve(o.key, f"--sort {o.key!r}"), o) for o in orders]
    if any(key.source == "statistic" for key, _ in keys):
        trials.load_statistics()
    trials.keep_meeting(conditions)
    kept = trials.facts
    for key, order in reversed(keys):
        kept = sort_by(kept, key, order.descending)
    trials.facts = kept[:limit] if limit is not None else kept
    return trials


def sort_by(facts: list[TrialFacts], key: Key, descending: bool) -> list[TrialFacts]:
    """Stable sort by one key; trials without it last, in either direction."""
    present = [f for f in facts if f.value(key) is not _MISSING]
    absent = [f for f in facts if f.value(key) is _MISSING]
    present.sort(key=lambda f: sort_value(f.value(key)), reverse=descending)
    return present + absent


def is_missing(value: Any) -> bool:
    return value is _MISSING


def matching(conditions: Sequence[Condition]):
    """A test of a record (a statistic, a sample: a dict of keys) against ``conditions``,
    with the budget of ``~`` conditions that a query of trials has (:data:`MATCH_BUDGET`
    for all the records it tests): ``kleio stats --where 'loss<0.02'`` reads as ``kleio
    ls --where`` does."""
    deadline = time.monotonic() + MATCH_BUDGET

    def test(record: Mapping[str, Any]) -> bool:
        try:
            return all(_holds(record.get(c.key, _MISSING), c, deadline) for c in conditions)
        except TimeoutError:
            searched = next(c.text for c in conditions if c.operator == "~")
            raise QueryError(
                f"--where {searched!r}: the regular expression took over {MATCH_BUDGET:g} s;"
                " write a simpler one"
            ) from None

    return test


@functools.lru_cache(maxsize=64)
def _pattern(text: str):
    import regex  # here: only a `~` condition needs it

    return regex.compile(text)


def _holds(value: Any, condition: Condition, deadline: float | None = None) -> bool:
    """Whether ``value`` meets ``condition``; a ``~`` search that runs past ``deadline``
    (a ``time.monotonic()``) raises :class:`TimeoutError`."""
    if value is _MISSING:
        return False
    operator, text = condition.operator, condition.value
    if isinstance(value, list):
        if operator == "!=":
            return not any(_compare(item, "=", text, condition.key, deadline) for item in value)
        if operator in ("=", "~"):
            return any(_compare(item, operator, text, condition.key, deadline) for item in value)
    return _compare(value, operator, text, condition.key, deadline)


def _compare(value: Any, operator: str, text: str, key: str, deadline: float | None) -> bool:
    if operator == "~":
        shown = (
            value
            if isinstance(value, str)
            else repr(value)
            if isinstance(value, float)
            else str(value)
        )
        # `concurrent`: the engine lets go of the GIL, so a dashboard answers others
        # meanwhile.
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise TimeoutError
        return _pattern(text).search(shown, concurrent=True, timeout=timeout) is not None
    # Text equals the text as written (`job.job_id=12.pbs`, `tags=0001`); an order
    # compares like with like, so text is never smaller than a number.
    wanted: Any = text if isinstance(value, str) and operator in ("=", "!=") else typed(text)
    if key == "created":
        wanted = parse_since(text)
    elif key in ("id", "parent", "status", "project", "command", "tags"):
        wanted = text
    if isinstance(value, bool) != isinstance(wanted, bool):
        same_kind = False
    else:
        numbers = isinstance(value, (int, float)) and isinstance(wanted, (int, float))
        same_kind = numbers or (isinstance(value, str) and isinstance(wanted, str))
    if operator == "=":
        return same_kind and value == wanted
    if operator == "!=":
        return not (same_kind and value == wanted)
    if not same_kind or isinstance(value, bool):
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return {
        "<": value < wanted,
        "<=": value <= wanted,
        ">": value > wanted,
        ">=": value >= wanted,
    }[operator]
