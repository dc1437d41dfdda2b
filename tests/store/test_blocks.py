"""The summary of a block of events (kleio/store/blocks.py) against the same worked out
one event at a time: numbers only (NaN, infinities and booleans left out, as curves leave
them), records only (data that is no object skipped), each key's count, first, last,
lowest and highest with where they lie, and whether it rises."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kleio.store.base import Event
from kleio.store.blocks import block_summary
from tests.conftest import examples

VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)
DATA = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3),
    st.text(max_size=3),  # another program wrote it
)


def _number(value) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def expected_block(datas: list, times: list[float]) -> dict:
    """What a block of events of these data and times must say, worked out one by one."""
    records = [(data, time) for data, time in zip(datas, times, strict=True) if type(data) is dict]
    fields = {}
    for name in dict.fromkeys(name for data, _ in records for name in data):
        held = [
            (offset, data[name])
            for offset, (data, _) in enumerate(records)
            if name in data and _number(data[name])
        ]
        if not held:
            continue
        values = [value for _, value in held]
        low, high = min(values), max(values)
        fields[name] = [
            len(values),
            values[0],
            values[-1],
            low,
            held[values.index(low)][0],
            high,
            held[values.index(high)][0],
            int(all(a < b for a, b in zip(values, values[1:], strict=False))),
        ]
    kept = [time for _, time in records]
    rising = int(all(a < b for a, b in zip(kept, kept[1:], strict=False)))
    return {"r": len(records), "t": [kept[0], kept[-1], rising] if kept else None, "f": fields}


@settings(max_examples=examples(300))
@given(st.lists(st.tuples(DATA, st.sampled_from([0.0, 0.0, 1.0])), min_size=1, max_size=30))
def test_a_block_summarises_the_numbers_of_its_records(pairs):
    datas = [data for data, _ in pairs]
    times, now = [], 100.0
    for _, step in pairs:  # times that may stand still
        now += step
        times.append(now)
    events = [
        Event("t", "statistic", f"{index:06d}", time, data)
        for index, (data, time) in enumerate(zip(datas, times, strict=True))
    ]
    summary = json.loads(block_summary(events))
    expected = expected_block(datas, times)
    assert summary == json.loads(json.dumps(expected))
