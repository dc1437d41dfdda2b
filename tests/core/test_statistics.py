"""Statistics read from the journal: their meta, worked out when first asked."""

from __future__ import annotations

from kleio.core.statistics import statistics_of
from kleio.store.base import Event, event_key


def _statistic(seconds: float, data: dict, writer: str = "w") -> Event:
    return Event("t", "statistic", event_key(seconds, writer, int(seconds * 10)), seconds, data)


def _journal(store) -> list[Event]:
    start = Event("t", "execution", event_key(0.5, "w", 0), 0.5, {"phase": "start", "number": 1})
    logged = [_statistic(float(second), {"i": second}) for second in range(1, 6)]
    store.append_events([start, *logged])
    return logged


def test_meta_is_that_of_each_statistic_read(store):
    logged = _journal(store)
    statistics = statistics_of(store, {"_id": "t", "refers": {}})
    assert statistics == [event.data for event in logged]
    assert [statistics.meta(s) for s in statistics] == [("t", 1, e.time) for e in logged]


def test_meta_stays_right_when_statistics_arrive_among_those_read(store):
    # A spool replayed late writes statistics by their original keys, among those a
    # script already loaded: each loaded statistic keeps its own time.
    logged = _journal(store)
    statistics = statistics_of(store, {"_id": "t", "refers": {}})
    store.append_events([_statistic(1.5, {"i": 99}, "late"), _statistic(2.5, {"i": 2}, "late")])
    assert [statistics.meta(s).time for s in statistics] == [e.time for e in logged]
    assert [row["_time"] for row in statistics.with_meta()] == [e.time for e in logged]


def test_statistics_deleted_since_they_were_read_have_no_meta(store):
    _journal(store)
    statistics = statistics_of(store, {"_id": "t", "refers": {}})
    store.delete_events("t")
    assert [statistics.meta(s) for s in statistics] == [None] * 5
    assert statistics.with_meta()[0] == {"i": 1, "_trial": None, "_execution": None, "_time": None}
