"""Block summaries of events, worked out: what a run of consecutive events (one trial,
one kind, in key order) holds, so that a curve of millions of points is drawn from a few
thousand blocks rather than from every point (see :class:`kleio.store.base.Block`).

A block's summary is a small JSON object::

    {"r": records, "t": [first time, last time, strictly ascending],
     "f": {field: [count, first, last, min, offset of min, max, offset of max,
                   strictly ascending]}}

``records`` are the events whose data is an object (the readers skip others); a field is
summarised over its numbers alone (``int`` or ``float``, finite: what a curve draws;
booleans, NaN and infinities are left out, as the readers leave them out), ``count``
saying how many; offsets count records from the block's first; "strictly ascending" (1
or 0) says whether those numbers rise from each to the next. A field without a number is
left out. Every backend computes its blocks with :func:`block_summary`, in the write of
the events it summarises (SQLite) or right after it (MongoDB).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from typing import Any

from kleio.codec import compact_json
from kleio.store.base import Event, Summary
from kleio.store.summaries import field_summary

#: Events per block at most where a backend chooses (MongoDB); SQLite's blocks are its
#: rows of events (``ROW_EVENTS``, the same number).
BLOCK_EVENTS = 1_000

_key_of = operator.itemgetter(2)  # an event's key
_time_of = operator.itemgetter(3)  # an event's time
_data_of = operator.itemgetter(4)  # an event's data
_NUMBERS = frozenset((int, float))
_OBJECTS = {dict}


def _rising(values: Sequence[Any]) -> int:
    return int(all(map(operator.lt, values, itertools.islice(values, 1, None))))


def _finite(total: float) -> bool:
    """Whether a sum of numbers is finite (an integer past a float's range is)."""
    return type(total) is int or math.isfinite(total)


def block_summary(events: Sequence[Event]) -> str:
    """The summary (JSON text, see the module documentation) of consecutive events of
    one trial and kind, given in key order."""
    return summarise_block(events)[0]


def summarise_block(events: Sequence[Event]) -> tuple[str, dict[str, Summary]]:
    """The block summary of consecutive events of one trial and kind, given in key
    order (JSON text, see the module documentation), and their summaries
    (:func:`kleio.store.summaries.summarise_events` of the same events), worked out
    together: each field's values are gathered once for both, and a field of finite
    numbers (the usual statistic) has its summary from the block's ends, lowest and
    highest. Done field by field with the builtins, which run the loop over the values
    in C."""
    return summarise_columns_block(
        list(map(_key_of, events)), list(map(_time_of, events)), list(map(_data_of, events))
    )


def summarise_columns_block(
    keys: list[str], times: list[float], datas: list[Any]
) -> tuple[str, dict[str, Summary]]:
    """:func:`summarise_block` of events given as columns (see
    :class:`~kleio.store.base.Columns`): their keys in key order, times and data."""
    if datas and set(map(type, datas)) != _OBJECTS:  # another program wrote some
        kept = [index for index, data in enumerate(datas) if type(data) is dict]
        datas, times = [datas[i] for i in kept], [times[i] for i in kept]
        keys = [keys[i] for i in kept]
    # Records holding as many keys as the first, each of the first's (the usual case),
    # hold the same keys: told by their lengths, in a third of the time of gathering
    # every key of every record.
    columns = None
    if datas and set(map(len, datas)) == {len(datas[0])}:
        try:
            columns = {name: list(map(operator.itemgetter(name), datas)) for name in datas[0]}
        except KeyError:
            columns = None
    fields: dict[str, list] = {}
    summaries: dict[str, Summary] = {}
    for name in columns or dict.fromkeys(itertools.chain.from_iterable(datas)):
        if columns is not None:
            values, offsets = columns[name], None
        else:
            offsets = [index for index, data in enumerate(datas) if name in data]
            values = [datas[index][name] for index in offsets]
            if len(offsets) == len(datas):
                offsets = None
        # A sum that is finite: no NaN nor infinity (one pass in C, twice as fast as
        # testing each value); an overflow takes the slow way, which finds none.
        finite = set(map(type, values)) <= _NUMBERS and _finite(sum(values))
        if not finite:
            held = keys if offsets is None else [keys[index] for index in offsets]
            summaries[name] = field_summary(values, held)
            numbers = [
                (index, value)
                for index, value in enumerate(values)
                if type(value) is int or (type(value) is float and math.isfinite(value))
            ]
            if offsets is not None:
                numbers = [(offsets[index], value) for index, value in numbers]
            offsets = [index for index, _ in numbers]
            values = [value for _, value in numbers]
            if not values:
                continue
        low, high = min(values), max(values)
        at_low, at_high = values.index(low), values.index(high)
        if offsets is not None:
            at_low, at_high = offsets[at_low], offsets[at_high]
        if finite:  # every value a finite number: the summary is the block's
            first_key = keys[0] if offsets is None else keys[offsets[0]]
            last_key = keys[-1] if offsets is None else keys[offsets[-1]]
            summaries[name] = Summary(
                len(values), values[0], values[-1], low, high, first_key, last_key
            )
        fields[name] = [
            len(values),
            values[0],
            values[-1],
            low,
            at_low,
            high,
            at_high,
            _rising(values),
        ]
    summary = {"r": len(datas), "t": [times[0], times[-1], _rising(times)] if times else None}
    summary["f"] = fields
    return compact_json(summary), summaries
