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

from kleio.codec import compact_array, decode_array
from kleio.codec import compact_json as _dumps
from kleio.store.base import Event, EventPage, Summary
from kleio.store.blocks import summarise_block
from kleio.store.sqlite.schema import ROW_EVENTS, ROW_TEXT

# The columns of an event (a named tuple), for the loops over every event that the
# builtins run faster than a comprehension.
_key_of, _time_of, _data_of = itemgetter(2), itemgetter(3), itemgetter(4)


def rows_of(events: list[Event], blocks: list[tuple] | None = None) -> Iterator[tuple]:
    """The rows (``trial, kind, first_key, last_key, count, keys, times, data``) of
    events of one trial and kind in key order: ``ROW_EVENTS`` at most, split further
    while their data is longer than ``ROW_TEXT``. With ``blocks``, each row's block
    (``trial, kind, first_key, last_key, count, summary``: see :mod:`kleio.store.blocks`)
    is added to it, with the summaries of the row's events."""
    for start in range(0, len(events), ROW_EVENTS):
        yield from _row_of(events[start : start + ROW_EVENTS], blocks)


def _row_of(events: list[Event], blocks: list[tuple] | None) -> Iterator[tuple]:
    data = compact_array(list(map(_data_of, events)))
    if len(data) > ROW_TEXT and len(events) > 1:
        middle = len(events) // 2
        yield from _row_of(events[:middle], blocks)
        yield from _row_of(events[middle:], blocks)
        return
    first, last = events[0], events[-1]
    keys = compact_array(list(map(_key_of, events)))
    times = compact_array(list(map(_time_of, events)))
    if blocks is not None:
        summary, summaries = summarise_block(events)
        block = (first.trial, first.kind, first.key, last.key, len(events), summary)
        blocks.append((block, summaries))
    yield first.trial, first.kind, first.key, last.key, len(events), keys, times, data


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
