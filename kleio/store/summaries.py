"""Summaries of events, worked out: those of a batch of events, and those of two
batches merged (see :class:`kleio.store.base.Summary` for what a summary holds).

Every backend keeps its summaries with this arithmetic, as it appends events and when it
recomputes them from the events.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kleio.codec import compact_json
from kleio.store.base import SUMMARY_VALUE_LIMIT, Event, Summary

_key_of = operator.itemgetter(2)  # an event's key
_data_of = operator.itemgetter(4)  # an event's data


def _bounded(value: Any) -> Any:
    """The value if a summary keeps it (see :data:`SUMMARY_VALUE_LIMIT`), else None."""
    if isinstance(value, str):
        return value if len(value) <= SUMMARY_VALUE_LIMIT else None
    if isinstance(value, (list, dict)):
        return value if len(compact_json(value)) <= SUMMARY_VALUE_LIMIT else None
    return value


def summarise_events(events: Iterable[Event]) -> dict[str, Summary]:
    """The summary of each top-level field of ``events`` (one trial, one kind), given in
    key order, as every store reads and appends them: first and last are the first and
    the last event holding the field."""
    summaries: dict[str, Summary] = {}
    # Field by field over pages of events: the builtins (min, max, map) then do per
    # value what a loop over every field of every event did in Python (3x faster for
    # statistics), and memory stays bounded for a journal summarised from its events.
    if isinstance(events, list):
        pages: Iterator[list[Event]] = _slices(events, SUMMARY_PAGE)
    else:
        rest = iter(events)
        pages = iter(lambda: list(itertools.islice(rest, SUMMARY_PAGE)), [])
    for batch in pages:
        summaries = merge_summaries(summaries, _summarise_page(batch))
    return summaries


def _slices(items: list, size: int) -> Iterator[list]:
    return (items[start : start + size] for start in range(0, len(items), size))


#: Events summarised together by :func:`summarise_events`.
SUMMARY_PAGE = 10_000
_NUMBERS = frozenset((int, float))
_OBJECTS = {dict}


def _summarise_page(events: list[Event]) -> dict[str, Summary]:
    return summarise_columns(list(map(_key_of, events)), list(map(_data_of, events)))


def summarise_columns(keys: list[str], datas: list[Any]) -> dict[str, Summary]:
    """:func:`summarise_events` of events given as columns (see
    :class:`~kleio.store.base.Columns`): their keys, in key order, and their data."""
    if datas and set(map(type, datas)) != _OBJECTS:
        # Data that is no object has no fields to summarise (another program wrote it:
        # the readers skip it). One pass in C over the types when there is none.
        kept = [index for index, data in enumerate(datas) if type(data) is dict]
        datas, keys = [datas[index] for index in kept], [keys[index] for index in kept]
    summaries = {}
    for name, values, field_keys in _field_columns(keys, datas):
        summaries[name] = field_summary(values, field_keys)
    return summaries


def field_summary(values: list, keys: list[str]) -> Summary:
    """The summary of one field's ``values`` (not empty) in events of these ``keys``."""
    first_key, last_key, first, last = keys[0], keys[-1], values[0], values[-1]
    if set(map(type, values)) <= _NUMBERS:
        # A sum is NaN when a value is (or when infinities of both signs meet): one
        # pass in C, and the values are looked at one by one only then.
        total = sum(values)
        numbers = values if total == total else [v for v in values if v == v]
    else:  # booleans and NaN are not numbers here
        numbers = [v for v in values if type(v) in _NUMBERS and v == v]
    low, high = (min(numbers), max(numbers)) if numbers else (None, None)
    return Summary(len(values), _bounded(first), _bounded(last), low, high, first_key, last_key)


def _field_columns(keys: list[str], datas: list[dict]) -> Iterator[tuple[str, list, list[str]]]:
    """Each field of ``datas`` in the order it first appears, with its values and the
    keys of the events holding it."""
    if not datas:
        return
    first = datas[0]
    if set(map(len, datas)) == {len(first)}:
        # A loop logs the same fields each time: events that each hold every field of the
        # first, and as many, hold those alone (a pass in C per field; the union of the
        # fields took as long as the rest of the summary).
        try:
            columns = [(name, list(map(operator.itemgetter(name), datas))) for name in first]
        except KeyError:
            pass
        else:
            for name, values in columns:
                yield name, values, keys
            return
    for name in dict.fromkeys(itertools.chain.from_iterable(datas)):
        try:
            values, field_keys = list(map(operator.itemgetter(name), datas)), keys
        except KeyError:  # not in every event
            held = [index for index, data in enumerate(datas) if name in data]
            values = [datas[index][name] for index in held]
            field_keys = [keys[index] for index in held]
        yield name, values, field_keys


def _merged(older: Summary, newer: Summary) -> Summary:
    first, first_key = (
        (newer.first, newer.first_key)
        if newer.first_key < older.first_key
        else (older.first, older.first_key)
    )
    last, last_key = (
        (newer.last, newer.last_key)
        if newer.last_key > older.last_key
        else (older.last, older.last_key)
    )
    lows = [value for value in (older.min, newer.min) if value is not None]
    highs = [value for value in (older.max, newer.max) if value is not None]
    return Summary(
        older.count + newer.count,
        first,
        last,
        min(lows) if lows else None,
        max(highs) if highs else None,
        first_key,
        last_key,
    )


def merge_summaries(*parts: Mapping[str, Summary]) -> dict[str, Summary]:
    """The summaries of the union of disjoint sets of events, field by field."""
    merged: dict[str, Summary] = {}
    for part in parts:
        for name, summary in part.items():
            known = merged.get(name)
            merged[name] = summary if known is None else _merged(known, summary)
    return merged
