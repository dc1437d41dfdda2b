"""Statistics read from the journal: their meta, worked out when first asked."""

from __future__ import annotations

import threading
import time

import pytest

from kleio.core.model.view import Segment
from kleio.core.reading.statistics import STATISTICS_PAGE, statistic_pages, statistics_of
from kleio.store.base import Event, StoreUnavailable
from kleio.store.keys import event_key


def _statistic(seconds: float, data: dict, writer: str = "w", counter: int = 0) -> Event:
    return Event("t", "statistic", event_key(seconds, writer, counter), seconds, data)


def _journal(store) -> list[Event]:
    start = Event("t", "execution", event_key(0.5, "w", 0), 0.5, {"phase": "start", "number": 1})
    logged = [_statistic(float(second), {"i": second}) for second in range(1, 6)]
    store.append_events([start, *logged])
    return logged


@pytest.mark.parametrize("meta", [False, True], ids=["meta-when-asked", "meta-read-with"])
def test_meta_is_that_of_each_statistic_read(store, meta):
    logged = _journal(store)
    statistics = statistics_of(store, {"_id": "t", "refers": {}}, meta=meta)
    assert statistics == [event.data for event in logged]
    assert [statistics.meta(s) for s in statistics] == [("t", 1, e.time) for e in logged]
    assert len(statistics._meta) == len(logged)  # read with them or worked out later


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


def _many(store, count: int) -> list[dict]:
    logged = [_statistic(1.0 + n / 1e5, {"n": n}, "w", n) for n in range(count)]
    store.append_events(logged)
    return [event.data for event in logged]


def test_statistics_read_ahead_come_in_order_and_the_reader_stops_with_the_caller(store):
    logged = _many(store, 3 * STATISTICS_PAGE + 5)
    segments = [Segment("t", None)]
    pages = statistic_pages(store, segments, ahead=True)
    assert [data for page in pages for data in page.datas] == logged

    before = threading.active_count()
    pages = statistic_pages(store, segments, ahead=True)
    next(pages), next(pages)  # the reader is started, and stopped when the caller stops
    pages.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before


def test_an_error_reading_ahead_is_raised_to_the_caller(store, monkeypatch):
    _many(store, 3 * STATISTICS_PAGE)
    read, calls = store._fetch_data, []

    def failing(page):
        calls.append(page)
        if len(calls) == 3:
            raise StoreUnavailable("the database went away")
        return read(page)

    monkeypatch.setattr(store, "_fetch_data", failing)
    pages = statistic_pages(store, [Segment("t", None)], ahead=True)
    assert len(next(pages).datas) == len(next(pages).datas) == STATISTICS_PAGE
    with pytest.raises(StoreUnavailable, match="went away"):
        next(pages)
