"""A trial's statistic summaries cover its view: its ancestors' statistics up to each
branch point, then its own, exactly as if every statistic of the view were read."""

from __future__ import annotations

import pytest

from kleio.core.model.view import read_view
from kleio.core.reading.summaries import view_summaries
from kleio.store.base import Event
from kleio.store.keys import event_key
from kleio.store.summaries import summarise_events


def _trial(store, trial_id, parent=None, until=None):
    refers = {"parent": parent, "time": until} if parent else {}
    document = {"_id": trial_id, "created": 1.0, "status": "completed", "refers": refers}
    store.create_trial(document)
    return document


def _log(store, trial_id, start_time, values, writer="w"):
    store.append_events(
        [
            Event(trial_id, "statistic", event_key(start_time + i, writer, i), start_time + i, data)
            for i, data in enumerate(values)
        ]
    )


def _from_every_event(store, document):
    return summarise_events(read_view(store, document, ["statistic"]))


def test_a_branch_in_the_middle_of_its_parent_takes_the_parent_up_to_the_point(store):
    parent = _trial(store, "p")
    _log(store, "p", 100.0, [{"epoch": e, "loss": 1.0 / (e + 1)} for e in range(10)])
    child = _trial(store, "c", parent="p", until=103.0)  # after epochs 0..3
    _log(store, "c", 200.0, [{"epoch": e, "loss": 2.0 - e / 10} for e in range(4, 8)], "x")
    views = view_summaries(store, [parent, child])
    assert views["c"] == _from_every_event(store, child)
    assert views["c"]["epoch"][:5] == (8, 0, 7, 0, 7)
    assert views["c"]["loss"].min == 0.25 and views["c"]["loss"].last == pytest.approx(1.3)
    assert views["p"]["loss"].min == 0.1  # the parent's own view is whole


def test_a_branch_at_the_end_of_its_parent_reads_no_statistic_of_it(store, monkeypatch):
    _trial(store, "p")
    _log(store, "p", 100.0, [{"loss": 0.5}, {"loss": 0.2}])
    child = _trial(store, "c", parent="p", until=150.0)
    _log(store, "c", 200.0, [{"loss": 0.1, "note": "x"}], "x")
    expected = _from_every_event(store, child)
    read = []
    original = type(store).read_events
    monkeypatch.setattr(
        type(store), "read_events", lambda self, *a, **k: read.append(a) or original(self, *a, **k)
    )
    assert view_summaries(store, [child])["c"] == expected
    assert read == []


def test_generations_are_cut_at_the_earliest_branch_point_below_them(store):
    _trial(store, "g")
    _log(store, "g", 100.0, [{"step": s, "value": s * 10} for s in range(10)])
    _trial(store, "p", parent="g", until=107.0)
    _log(store, "p", 200.0, [{"step": s} for s in range(8, 12)], "x")
    child = _trial(store, "c", parent="p", until=201.0)  # cuts p at its 2nd statistic
    _log(store, "c", 300.0, [{"step": 99, "value": -1}], "y")
    views = view_summaries(store, [child])
    assert views["c"] == _from_every_event(store, child)
    assert views["c"]["step"].count == 8 + 2 + 1
    assert (views["c"]["value"].min, views["c"]["value"].max) == (-1, 70)


def test_a_branch_whose_parent_was_deleted_starts_with_its_own(store):
    _trial(store, "p")
    _log(store, "p", 100.0, [{"loss": 0.1}])
    child = _trial(store, "c", parent="p", until=150.0)
    _log(store, "c", 200.0, [{"loss": 0.5}], "x")
    store.delete_events("p")
    store.delete_trial("p")
    assert view_summaries(store, [child])["c"]["loss"][:3] == (1, 0.5, 0.5)


def test_a_field_some_events_lack_is_summarised_over_those_that_hold_it():
    values = [{"loss": 0.5}, {"loss": 0.2, "note": "a"}, {"note": "b"}, {"loss": 0.9, "x": [1]}]
    events = [
        Event("t", "statistic", event_key(100.0 + i, "w", i), 100.0 + i, data)
        for i, data in enumerate(values)
    ]
    summaries = summarise_events(events)
    assert summaries["loss"] == (3, 0.5, 0.9, 0.2, 0.9, events[0].key, events[3].key)
    assert summaries["note"] == (2, "a", "b", None, None, events[1].key, events[2].key)
    assert summaries["x"][:3] == (1, [1], [1])
