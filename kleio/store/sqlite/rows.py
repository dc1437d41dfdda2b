"""The row codec: events and summaries as the rows SQLite keeps them in.

A batch of events of one trial and kind becomes rows of up to
:data:`~kleio.store.sqlite.schema.ROW_EVENTS` consecutive events (their keys, times and
data as three JSON arrays), and a row gives back its events in a page's key range; a
summary is the row of its field.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

from kleio.codec import compact_array, decode_array
from kleio.codec import compact_json as _dumps
from kleio.store.base import Columns, Event, EventPage, Summary
from kleio.store.blocks import summarise_columns_block
from kleio.store.sqlite.schema import ROW_EVENTS, ROW_TEXT

# The columns of an event (a named tuple), for the loops over every event that the
# builtins run faster than a comprehension.
_key_of, _time_of, _data_of = itemgetter(2), itemgetter(3), itemgetter(4)


def rows_of(events: Sequence[Event], blocks: list[tuple] | None = None) -> Iterator[tuple]:
    """The rows (``trial, kind, first_key, last_key, count, keys, times, data``) of
    events of one trial and kind in key order: ``ROW_EVENTS`` at most, split further
    while their data is longer than ``ROW_TEXT``. Events given as
    :class:`~kleio.store.base.Columns` are encoded as they are, without an event made.
    With ``blocks``, each row's block (``trial, kind, first_key, last_key, count,
    summary``: see :mod:`kleio.store.blocks`) is added to it, with the summaries of the
    row's events."""
    if not isinstance(events, Columns):
        if not events:
            return iter(())
        first = events[0]
        keys, times = list(map(_key_of, events)), list(map(_time_of, events))
        events = Columns(first.trial, first.kind, keys, times, list(map(_data_of, events)))
    return _rows_of(events, blocks)


def _rows_of(columns: Columns, blocks: list[tuple] | None) -> Iterator[tuple]:
    trial, kind, keys = columns.trial, columns.kind, columns.keys
    times, datas = columns.times, columns.datas
    for start in range(0, len(keys), ROW_EVENTS):
        stop = start + ROW_EVENTS
        yield from _row_of(
            trial, kind, keys[start:stop], times[start:stop], datas[start:stop], blocks
        )


def _row_of(
    trial: str,
    kind: str,
    keys: list[str],
    times: list[float],
    datas: list[Any],
    blocks: list[tuple] | None,
) -> Iterator[tuple]:
    data = compact_array(datas)
    if len(data) > ROW_TEXT and len(keys) > 1:
        middle = len(keys) // 2
        yield from _row_of(trial, kind, keys[:middle], times[:middle], datas[:middle], blocks)
        yield from _row_of(trial, kind, keys[middle:], times[middle:], datas[middle:], blocks)
        return
    if blocks is not None:
        summary, summaries = summarise_columns_block(keys, times, datas)
        blocks.append(((trial, kind, keys[0], keys[-1], len(keys), summary), summaries))
    yield trial, kind, keys[0], keys[-1], len(keys), compact_array(keys), compact_array(times), data


def bounds(page: EventPage, keys: list[str]) -> tuple[int, int]:
    """The slice of a row's sorted ``keys`` that lies in ``page``'s key range."""
    start = 0
    if page.low is not None:
        start = (bisect_right if page.strict else bisect_left)(keys, page.low)
    stop = len(keys) if page.high is None else bisect_left(keys, page.high)
    return start, stop


def inside(page: EventPage, first: str, last: str) -> bool:
    """Whether a row's keys, ``first`` to ``last``, all lie in ``page``'s key range."""
    above = page.low is None or first > page.low or (first == page.low and not page.strict)
    return above and (page.high is None or last < page.high)


def row_events(page: EventPage, row: Sequence) -> list[Event]:
    """The events of a row (``first_key, last_key, count, keys, times, data``) in
    ``page``'s key range."""
    count = row[2]
    keys = decode_array(row[3], count)
    start, stop = bounds(page, keys)
    if start >= stop:
        return []
    times, datas = decode_array(row[4], count), decode_array(row[5], count)
    return list(
        map(
            Event,
            repeat(page.trial),
            repeat(page.kind),
            keys[start:stop],
            times[start:stop],
            datas[start:stop],
        )
    )


#: The columns of a summary's row after its trial, kind and field, as :func:`summary_of`
#: reads them.
SUMMARY_COLUMNS = "count, first_key, first, last_key, last, min, max"


def summary_row(trial: str, kind: str, field: str, summary: Summary) -> tuple:
    """The row of one field's summary (``trial, kind, field`` and
    :data:`SUMMARY_COLUMNS`)."""
    return (
        trial,
        kind,
        field,
        summary.count,
        summary.first_key,
        _dumps(summary.first),
        summary.last_key,
        _dumps(summary.last),
        summary.min,
        summary.max,
    )


def summary_of(row: Sequence) -> Summary:
    """A summary from the values of :data:`SUMMARY_COLUMNS`."""
    count, first_key, first, last_key, last, low, high = row
    return Summary(count, json.loads(first), json.loads(last), low, high, first_key, last_key)
