"""The store contract (kleio/store/base.py), checked on every backend."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import multiprocessing
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kleio.store.base import (
    BLOB_CHUNK_SIZE,
    EVENT_PAGE_SIZE,
    SUMMARY_VALUE_LIMIT,
    UNSET,
    BlobNotFound,
    Catalogue,
    Columns,
    DuplicateTrialError,
    Event,
    StoreError,
    Summary,
)
from kleio.store.blobs import new_blob_id
from kleio.store.keys import event_key
from kleio.store.summaries import summarise_events
from tests.conftest import examples
from tests.mongo_server import WIRE_DIFFERENCES
from tests.store.test_blocks import expected_block

SPAWN = multiprocessing.get_context("spawn")
#: Events per page in the tests of paging: two pages of 100 test what two pages of the
#: default 1,000 did, and mongomock inserts in quadratic time (1,500 events took 9 s).
PAGE = 100
#: Events each of the four concurrent writers logs: their reader crosses four pages of
#: the default size (4 x 10,000 over the wire stand-in took 35 s and tested no more).
EACH = EVENT_PAGE_SIZE


def trial(trial_id: str, created: float = 1.0, **fields) -> dict:
    return {
        "_id": trial_id,
        "created": created,
        "status": "new",
        "tags": [],
        "project": "p",
        "refers": {},
        "worker": None,
        **fields,
    }


def events(trial_id: str, kind: str, times, writer: str = "w0", start: int = 0) -> list[Event]:
    return [
        Event(trial_id, kind, event_key(t, writer, start + i), t, {"i": start + i})
        for i, t in enumerate(times)
    ]


# -- trial documents -------------------------------------------------------------------


def test_a_field_changed_to_unset_is_removed(store):
    store.create_trial(trial("a1", importing=5.0, worker={"token": "t", "pid": 1}))
    assert store.update_trial("a1", {"importing": UNSET, "worker.pid": UNSET}, {"importing": 5.0})
    document = store.get_trial("a1")
    assert "importing" not in document and document["worker"] == {"token": "t"}
    assert store.update_trial("a1", {"absent": UNSET})  # nothing to remove: still applied


def test_a_deleted_trial_document_is_gone_and_its_id_free_again(store):
    store.create_trial(trial("a1", tags=["x"]))
    store.create_trial(trial("a2", tags=["x"]))
    assert store.delete_trial("a1")
    assert not store.delete_trial("a1")
    assert store.get_trial("a1") is None
    assert [d["_id"] for d in store.find_trials(tags=["x"])] == ["a2"]
    store.create_trial(trial("a1", status="completed"))
    assert store.get_trial("a1")["status"] == "completed"


def test_creating_a_trial_twice_raises_the_duplicate_error(store):
    store.create_trial(trial("a1"))
    with pytest.raises(DuplicateTrialError) as raised:
        store.create_trial(trial("a1", status="completed"))
    assert raised.value.trial_id == "a1"
    assert store.get_trial("a1")["status"] == "new"


def test_a_trial_document_comes_back_as_stored(store):
    document = trial(
        "a1", configuration={"lr": 0.1, "layers": [1, 2], "name": "é"}, tags=["x"], heartbeat=None
    )
    store.create_trial(document)
    assert store.get_trial("a1") == document
    assert store.get_trial("missing") is None


def test_trials_are_read_by_their_ids_at_once(store):
    first, second = trial("a1", 1.0, tags=["x"]), trial("b2", 2.0, configuration={"lr": 0.1})
    store.create_trial(first)
    store.create_trial(second)
    assert store.get_trials(["b2", "missing", "a1", "b2"]) == {"a1": first, "b2": second}
    assert store.get_trials(["missing"]) == {} and store.get_trials([]) == {}
    assert store.get_trials(["a"]) == {}  # exact ids, not prefixes


def test_trials_are_filtered_by_tags_status_prefix_project_and_parent(store):
    store.create_trial(trial("abc1", 1.0, tags=["cnn", "mnist"]))
    store.create_trial(trial("abc2", 2.0, tags=["cnn"], status="completed"))
    store.create_trial(
        trial("abd3", 3.0, tags=["rnn", "mnist"], project="q", refers={"parent": "abc1"})
    )
    store.create_trial(trial("bcd4", 4.0, status="broken"))

    def ids(**filters):
        return [document["_id"] for document in store.find_trials(**filters)]

    assert ids() == ["bcd4", "abd3", "abc2", "abc1"]  # newest first
    assert ids(tags=["cnn"]) == ["abc2", "abc1"]
    assert ids(tags=["cnn", "mnist"]) == ["abc1"]
    assert ids(tags=["nothing"]) == []
    assert ids(status=["completed", "broken"]) == ["bcd4", "abc2"]
    assert ids(id_prefix="ab") == ["abd3", "abc2", "abc1"]
    assert ids(id_prefix="abc") == ["abc2", "abc1"]
    assert ids(id_prefix="abc1") == ["abc1"]
    assert ids(project="q") == ["abd3"]
    assert ids(parent="abc1") == ["abd3"]
    assert ids(id_prefix="ab", tags=["mnist"], status=["new"]) == ["abd3", "abc1"]
    assert ids(limit=2) == ["bcd4", "abd3"]
    # Counted without reading them: as many as are found, whatever the limit.
    for filters in (
        {},
        {"tags": ["cnn"]},
        {"tags": ["cnn", "mnist"]},
        {"tags": ["nothing"]},
        {"status": ["completed", "broken"]},
        {"status": "new"},
        {"id_prefix": "abc"},
        {"project": "q"},
        {"parent": "abc1"},
        {"id_prefix": "ab", "tags": ["mnist"], "status": ["new"]},
    ):
        assert store.count_trials(**filters) == len(ids(**filters)), filters
    assert store.count_trials(limit=2, fields=["status"]) == 4


def test_listing_only_some_fields_returns_those_fields(store):
    store.create_trial(
        trial(
            "a1",
            1.0,
            tags=["x"],
            environment={"packages": {"numpy": "2"}},
            refers={"parent": "p0", "time": 3.5},
        )
    )
    store.create_trial(trial("a2", 2.0, status="completed"))
    listed = store.find_trials(fields=["status", "tags", "refers", "created"])
    assert [d["_id"] for d in listed] == ["a2", "a1"]
    assert listed[1]["tags"] == ["x"] and listed[1]["refers"] == {"parent": "p0", "time": 3.5}
    assert listed[0]["status"] == "completed" and listed[1]["created"] == 1.0
    assert all("environment" not in d and "project" not in d for d in listed)
    assert store.find_trials(status=["completed"], fields=["status"]) == [
        {"_id": "a2", "status": "completed"}
    ]


def test_listing_some_fields_keeps_their_exact_values(store):
    """`kleio ls --format json` shows a trial's times as stored, to the last digit."""
    created, point = 1795804302.5903437, 0.30000000000000004
    store.create_trial(trial("a1", created, refers={"parent": "p0", "time": point}))
    (listed,) = store.find_trials(fields=["created", "refers"])
    assert listed["created"] == created and listed["refers"]["time"] == point
    (one,) = store.find_trials(fields=["created"])
    assert one == {"_id": "a1", "created": created}


def test_compare_and_set_applies_only_while_expected_values_hold(store):
    store.create_trial(trial("a1"))
    assert store.update_trial(
        "a1",
        {"status": "reserved", "worker": {"token": "t1", "pid": 1}},
        {"status": "new", "worker": None},
    )
    # The same expectation no longer holds: a second reserver loses.
    assert not store.update_trial(
        "a1", {"status": "reserved", "worker": {"token": "t2"}}, {"status": "new", "worker": None}
    )
    assert store.get_trial("a1")["worker"] == {"token": "t1", "pid": 1}
    # Field paths reach into documents, for expectations and changes.
    assert store.update_trial("a1", {"worker.pid": 7, "heartbeat": 2.5}, {"worker.token": "t1"})
    assert not store.update_trial("a1", {"heartbeat": 3.0}, {"worker.token": "t2"})
    document = store.get_trial("a1")
    assert document["worker"] == {"token": "t1", "pid": 7}
    assert document["heartbeat"] == 2.5
    # A missing field equals None; an unknown trial is never updated.
    assert store.update_trial("a1", {"note": "x"}, {"absent": None})
    assert not store.update_trial("nope", {"status": "x"})
    assert store.update_trial("a1", {"status": "running"})


def test_changed_tags_and_status_are_found_by_the_filters(store):
    store.create_trial(trial("a1", tags=["old"]))
    assert store.update_trial("a1", {"tags": ["new", "more"], "status": "running"})
    assert [d["_id"] for d in store.find_trials(tags=["new"], status=["running"])] == ["a1"]
    assert store.find_trials(tags=["old"]) == []


#: A catalogue that is not Kleio's: the store knows only what it is told.
SHELVES = Catalogue(listed=("kind", "size"), indexed={"owner": "meta.owner", "kind": "kind"})


def test_documents_are_listed_and_found_by_the_fields_of_the_stores_catalogue(backend):
    store = backend.open(SHELVES)
    try:
        store.create_trial({"_id": "d1", "created": 1.0, "kind": "a", "size": 3, "meta": {}})
        store.create_trial({"_id": "d2", "created": 2.0, "kind": "b", "meta": {"owner": "ann"}})
        assert [d["_id"] for d in store.find_trials(owner="ann")] == ["d2"]
        assert [d["_id"] for d in store.find_trials(kind=["a", "b"])] == ["d2", "d1"]
        assert [d["_id"] for d in store.find_trials(where={"kind": "a"}, owner=None)] == ["d1"]
        listed = store.find_trials(fields=["kind", "size"])
        assert [{k: v for k, v in d.items() if v is not None} for d in listed] == [
            {"_id": "d2", "kind": "b"},
            {"_id": "d1", "kind": "a", "size": 3},
        ]
        assert store.update_trial("d1", {"meta.owner": "ann", "kind": "c"})
        assert [d["_id"] for d in store.find_trials(owner="ann", kind="c")] == ["d1"]
        with pytest.raises(ValueError, match="not an indexed field of this store: parent"):
            store.find_trials(parent="d1")
    finally:
        store.close()


def test_a_catalogue_names_its_indexed_fields_as_every_backend_can_keep_them():
    for name in ("Owner", "owner-name", "é", "1st", "limit", "tags", ""):
        with pytest.raises(ValueError, match="cannot name an indexed field"):
            Catalogue(indexed={name: "meta.owner"})


def _reserve(address: str, db_name: str, trial_id: str, token: str, go, results) -> None:
    from kleio.core.model.catalogue import open_journal

    store = open_journal(address, db_name)
    store.get_trial(trial_id)  # connect before the start signal
    go.wait(30)
    won = store.update_trial(
        trial_id,
        {"status": "reserved", "worker": {"token": token}},
        {"status": "new", "worker": None},
    )
    results.put((token, won))
    store.close()


@pytest.mark.slow
def test_processes_racing_to_reserve_a_trial_have_exactly_one_winner(shared_backend):
    shared_backend.store.create_trial(trial("race"))
    go, results = SPAWN.Event(), SPAWN.Queue()
    racers = [
        SPAWN.Process(
            target=_reserve,
            args=(shared_backend.address, shared_backend.db_name, "race", f"token{i}", go, results),
        )
        for i in range(8)
    ]
    for racer in racers:
        racer.start()
    go.set()
    outcomes = dict(results.get(timeout=120) for _ in racers)
    for racer in racers:
        racer.join(30)
    winners = [token for token, won in outcomes.items() if won]
    assert len(outcomes) == 8
    assert len(winners) == 1
    assert shared_backend.store.get_trial("race")["worker"]["token"] == winners[0]


# -- events ----------------------------------------------------------------------------


def test_events_are_read_back_by_kind_and_time_range_in_order(store):
    stats = events("t", "statistic", [10.0, 11.0, 12.0, 13.0, 14.0])
    output = events("t", "stdout", [10.5, 11.5, 12.5], start=100)
    store.append_events(stats[::2] + output + stats[1::2])  # out of order on purpose
    store.append_events(events("other", "statistic", [11.0, 12.0]))

    assert list(store.read_events("t", ["statistic"])) == stats
    assert list(store.read_events("t")) == sorted(stats + output, key=lambda e: e.time)
    assert [
        e.time for e in store.read_events("t", ["statistic", "stdout"], since=11.0, until=12.5)
    ] == [11.0, 11.5, 12.0, 12.5]
    assert [e.time for e in store.read_events("t", ["statistic"], until=11.0)] == [10.0, 11.0]
    assert [e.time for e in store.read_events("t", ["statistic"], since=13.5)] == [14.0]
    assert list(store.read_events("t", ["nothing"])) == []
    assert store.count_events("t") == 8
    assert store.count_events("t", ["stdout"]) == 3
    assert store.count_events("missing") == 0


def test_reading_resumes_strictly_after_a_key_across_pages(store):
    many = events("t", "statistic", [100.0 + i / 1000 for i in range(150)])  # two pages
    store.append_events(many)
    assert list(store.read_events("t", page_size=PAGE)) == many
    assert list(store.read_events("t", after=many[40].key, page_size=PAGE)) == many[41:]
    assert (
        list(store.read_events("t", since=many[10].time, after=many[119].key, page_size=PAGE))
        == many[120:]
    )


def test_data_are_read_in_key_order_page_by_page_and_each_page_finds_its_events(store):
    many = events("t", "statistic", [100.0 + i / 1000 for i in range(250)])
    many[7] = many[7]._replace(data={"nested": [1, {"a": None}], "text": 'é, "}]'})
    store.append_events(many[::-1])  # stored last first: the order is the keys'
    store.append_events(events("t", "stdout", [100.1]) + events("other", "statistic", [100.1]))

    pages = list(store.read_data("t", "statistic", page_size=100))
    assert [len(page.datas) for page in pages] == [100, 100, 50]
    assert [data for page in pages for data in page.datas] == [e.data for e in many]
    assert list(store.read_data("t", "statistic", page_size=100, ahead=True)) == pages
    assert [page.last for page in pages] == [many[99].key, many[199].key, many[249].key]
    assert [store.read_page(page.page) for page in pages] == [
        many[:100],
        many[100:200],
        many[200:],
    ]
    until = list(store.read_data("t", "statistic", until=many[4].time, page_size=100))
    assert [page.datas for page in until] == [[e.data for e in many[:5]]]
    exact = list(store.read_data("t", "statistic", page_size=125))
    assert [len(page.datas) for page in exact] == [125, 125, 0]
    assert exact[-1].last is None
    assert [page.datas for page in store.read_data("missing", "statistic")] == [[]]


def test_events_of_writers_whose_batches_interleave_are_read_in_key_order(store):
    # Two processes logging at once: each batch's keys fall among the other's.
    first = [
        Event("t", "statistic", event_key(100 + i / 50, "a", i), 100 + i / 50, {"i": i})
        for i in range(60)
    ]
    second = [
        Event("t", "statistic", event_key(100.01 + i / 50, "b", i), 100.01 + i / 50, {"i": -i})
        for i in range(60)
    ]
    for start in range(0, 60, 15):
        store.append_events(first[start : start + 15])
        store.append_events(second[start : start + 15][::-1])
    ordered = sorted(first + second, key=lambda e: e.key)

    assert list(store.read_events("t", page_size=5)) == ordered
    assert list(store.read_events("t", after=ordered[23].key, page_size=8)) == ordered[24:]
    window = [e for e in ordered if 100.5 <= e.time <= 101.5]
    assert list(store.read_events("t", since=100.5, until=101.5, page_size=6)) == window
    pages = list(store.read_data("t", "statistic", page_size=7))
    assert [data for page in pages for data in page.datas] == [e.data for e in ordered]
    assert [store.read_page(page.page) for page in pages[:3]] == [
        ordered[:7],
        ordered[7:14],
        ordered[14:21],
    ]
    assert store.count_events("t") == 120
    assert store.append_events(ordered[20:70]) == 0  # replayed, cut otherwise: nothing new
    summary = store.read_summaries(["t"], "statistic")["t"]["i"]
    assert (summary.count, summary.first, summary.last) == (120, 0, -59)


def test_appending_events_again_adds_nothing(store):
    batch = events("t", "statistic", [1.0, 2.0, 3.0])
    store.append_events(batch)
    store.append_events(batch + events("t", "statistic", [4.0], start=3))
    assert [e.data["i"] for e in store.read_events("t")] == [0, 1, 2, 3]


def test_events_of_one_time_keep_their_writer_order(store):
    same_time = [Event("t", "statistic", event_key(5.0, "w", i), 5.0, {"i": i}) for i in range(20)]
    store.append_events(same_time[::-1])
    assert [e.data["i"] for e in store.read_events("t")] == list(range(20))


def test_event_data_round_trips_unchanged(store):
    data = {
        "int": 2**62,
        "neg": -3,
        "float": 0.1,
        "str": "é\u2603\n\r",
        "bool": True,
        "none": None,
        "list": [1, "a", [2.5, None]],
        "dict": {"a": {"b": [False]}},
        "empty": {},
    }
    store.append_events([Event("t", "statistic", event_key(1.0, "w", 0), 1.0, data)])
    (event,) = store.read_events("t")
    assert event.data == data
    assert isinstance(event.data["int"], int) and isinstance(event.data["float"], float)
    assert not isinstance(event.data["bool"], float) and event.data["bool"] is True


def test_nan_and_infinities_round_trip(store, backend, request):
    if backend.name == "wire":
        request.applymarker(
            pytest.mark.xfail(reason=WIRE_DIFFERENCES["nan"], strict=True, raises=StoreError)
        )
    data = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
    store.append_events([Event("t", "statistic", event_key(1.0, "w", 0), 1.0, data)])
    (event,) = store.read_events("t")
    assert math.isnan(event.data["nan"])
    assert event.data["inf"] == math.inf and event.data["-inf"] == -math.inf


# -- summaries -------------------------------------------------------------------------


def statistic(trial_id: str, seconds: float, counter: int, writer: str = "w", **data) -> Event:
    return Event(trial_id, "statistic", event_key(seconds, writer, counter), seconds, data)


def test_summaries_hold_count_first_last_min_and_max_of_each_field(store):
    store.append_events(
        [
            statistic("t", 1.0, 0, epoch=1, loss=0.9, split="train", best=False),
            statistic("t", 2.0, 1, epoch=2, loss=0.25, split="valid"),
            statistic("t", 3.0, 2, epoch=3, loss=0.5, split="train", best=True),
        ]
    )
    store.append_events([statistic("other", 1.0, 0, loss=7)])
    summaries = store.read_summaries(["t", "other", "nothing"], "statistic")
    t = summaries["t"]
    assert set(t) == {"epoch", "loss", "split", "best"}
    assert t["loss"][:5] == (3, 0.9, 0.5, 0.25, 0.9)
    assert t["epoch"][:5] == (3, 1, 3, 1, 3)
    assert isinstance(t["epoch"].max, int) and isinstance(t["loss"].min, float)
    assert t["split"][:5] == (3, "train", "train", None, None)  # text: no min or max
    assert t["best"][:5] == (2, False, True, None, None)  # booleans are not numbers
    assert summaries["other"]["loss"][:5] == (1, 7, 7, 7, 7)
    assert summaries["nothing"] == {}
    assert store.read_summaries(["t"], "stdout") == {"t": {}}


def test_summaries_take_first_and_last_by_key_whatever_the_order_of_appending(store):
    late = [statistic("t", 10.0 + i, i, step=i) for i in range(5, 10)]
    early = [statistic("t", 10.0 + i, i, step=i) for i in range(5)]
    store.append_events(late)
    store.append_events(early[::-1])
    (summary,) = store.read_summaries(["t"], "statistic")["t"].values()
    assert summary[:5] == (10, 0, 9, 0, 9)
    assert summary.first_key == early[0].key and summary.last_key == late[-1].key


def test_appending_again_or_replaying_never_counts_an_event_twice(store):
    batch = [statistic("t", 1.0 + i, i, loss=1.0 / (i + 1)) for i in range(6)]
    store.append_events(batch[:4])
    store.append_events(batch[:4])  # a retry after an uncertain failure
    store.append_events(batch[2:] + batch[2:])  # a spool replayed, overlapping, twice
    loss = store.read_summaries(["t"], "statistic")["t"]["loss"]
    assert loss.count == 6 == store.count_events("t")
    assert (loss.first, loss.last, loss.min, loss.max) == (1.0, 1 / 6, 1 / 6, 1.0)


def test_large_values_are_counted_but_not_kept_in_summaries(store):
    long_text = "x" * (SUMMARY_VALUE_LIMIT + 1)
    store.append_events(
        [
            statistic("t", 1.0, 0, note="short", matrix=[[1, 2], [3, 4]]),
            statistic("t", 2.0, 1, note=long_text, matrix=[0] * SUMMARY_VALUE_LIMIT),
        ]
    )
    summary = store.read_summaries(["t"], "statistic")["t"]
    assert summary["note"][:3] == (2, "short", None)
    assert summary["matrix"][:3] == (2, [[1, 2], [3, 4]], None)


def test_nan_is_counted_but_is_no_minimum_or_maximum(store, backend, request):
    if backend.name == "wire":
        request.applymarker(
            pytest.mark.xfail(reason=WIRE_DIFFERENCES["nan"], strict=True, raises=StoreError)
        )
    store.append_events(
        [
            statistic("t", 1.0, 0, loss=math.nan),
            statistic("t", 2.0, 1, loss=0.5),
            statistic("t", 3.0, 2, loss=math.inf),
            statistic("t", 4.0, 3, loss=math.nan),
        ]
    )
    loss = store.read_summaries(["t"], "statistic")["t"]["loss"]
    assert loss.count == 4 and math.isnan(loss.first) and math.isnan(loss.last)
    assert (loss.min, loss.max) == (0.5, math.inf)


def test_field_names_of_any_text_are_summarised(store):
    store.append_events([statistic("t", 1.0, 0, **{"val.loss": 1, "$x": 2, "a%2Eb": 3, "": 4})])
    summary = store.read_summaries(["t"], "statistic")["t"]
    assert {name: s.last for name, s in summary.items()} == {
        "val.loss": 1,
        "$x": 2,
        "a%2Eb": 3,
        "": 4,
    }


def test_one_fields_summaries_of_every_trial_are_those_read_trial_by_trial(store):
    # What sorting 100,000 trials by loss:min reads: one field of every trial's summaries.
    store.append_events(
        [
            statistic("t", 1.0, 0, loss=0.9, epoch=1),
            statistic("t", 2.0, 1, loss=0.25, epoch=2, **{"val.loss": 3, "$x": 1}),
            statistic("u", 1.0, 0, loss=7),
            statistic("v", 1.0, 0, epoch=1, loss="text"),
        ]
        + events("w", "stdout", [1.0])
    )
    store.append_events([Event("u", "usage", event_key(1.0, "w", 0), 1.0, {"loss": 1})])
    summaries = store.read_summaries(["t", "u", "v", "w"], "statistic")
    for field in ("loss", "epoch", "val.loss", "$x"):
        assert store.read_field_summaries("statistic", field) == {
            trial: found[field] for trial, found in summaries.items() if field in found
        }
    assert store.read_field_summaries("statistic", "nothing") == {}
    assert store.read_field_summaries("usage", "loss") == {
        "u": store.read_summaries(["u"], "usage")["u"]["loss"]
    }


def test_deleting_a_trials_events_deletes_its_summaries_and_nothing_else(store):
    store.append_events(events("t", "statistic", [1.0, 2.0]) + events("t", "stdout", [1.5]))
    store.append_events(events("u", "statistic", [1.0]))
    assert store.event_trials() == {"t", "u"}
    assert store.delete_events("t") == 3
    assert store.count_events("t") == 0 and list(store.read_events("t")) == []
    assert store.read_summaries(["t", "u"], "statistic") == {
        "t": {},
        "u": {"i": Summary(1, 0, 0, 0, 0, *[events("u", "statistic", [1.0])[0].key] * 2)},
    }
    assert store.event_trials() == {"u"}
    store.append_events(events("t", "statistic", [5.0]))  # a late spool replay
    assert store.read_summaries(["t"], "statistic")["t"]["i"].count == 1


# -- events given as columns ------------------------------------------------------------


def columns_of(batch: list[Event]) -> Columns:
    trial_id, kind = batch[0].trial, batch[0].kind
    return Columns(trial_id, kind, *([e[field] for e in batch] for field in (2, 3, 4)))


def test_columns_appended_again_add_nothing_and_are_counted_once(store):
    batch = [statistic("t", 1.0 + i, i, loss=1.0 / (i + 1), step=i) for i in range(8)]
    assert store.append_columns(columns_of(batch[:5])) == 5
    assert store.append_columns(columns_of(batch[:5])) == 0  # a retry after a timeout
    assert store.append_columns(columns_of(batch[3:])) == 3  # a spool replayed, in part new
    assert store.append_events(batch[6:]) == 0
    assert store.append_columns(columns_of(batch)[2:4]) == 0  # a slice is columns too
    assert store.append_columns(Columns("t", "statistic", [], [], [])) == 0
    assert list(store.read_events("t")) == batch
    loss = store.read_summaries(["t"], "statistic")["t"]["loss"]
    assert loss.count == 8 == store.count_events("t")
    assert (loss.first, loss.last, loss.min, loss.max) == (1.0, 1 / 8, 1 / 8, 1.0)


def test_columns_not_in_key_order_are_stored_as_their_events_are(store):
    batch = [statistic("t", 5.0, i, step=i) for i in range(6)]
    shuffled = [batch[i] for i in (3, 0, 5, 1, 1, 4, 2)]  # and one given twice
    assert store.append_columns(columns_of(shuffled)) == 6
    assert list(store.read_events("t")) == batch
    assert store.read_summaries(["t"], "statistic")["t"]["step"][:5] == (6, 0, 5, 0, 5)


def test_columns_are_a_sequence_of_their_events():
    batch = [statistic("t", 1.0 + i, i, step=i) for i in range(4)]
    columns = columns_of(batch)
    assert len(columns) == 4 and list(columns) == batch and columns[-1] == batch[-1]
    assert list(columns[1:3]) == batch[1:3] and isinstance(columns[1:3], Columns)
    with pytest.raises(ValueError, match="one length"):
        Columns("t", "statistic", ["k"], [], [{}])


def test_columns_of_writers_whose_batches_interleave_are_read_in_key_order(store):
    # Two loggers at once: each batch of columns falls among the other's stored rows.
    first = [statistic("t", 100 + i / 50, i, "a", i=i) for i in range(60)]
    second = [statistic("t", 100.01 + i / 50, i, "b", i=-i) for i in range(60)]
    for start in range(0, 60, 15):
        assert store.append_columns(columns_of(first[start : start + 15])) == 15
        assert store.append_columns(columns_of(second[start : start + 15])) == 15
    ordered = sorted(first + second, key=lambda e: e.key)
    assert list(store.read_events("t", page_size=7)) == ordered
    assert [d for page in store.read_data("t", "statistic", page_size=9) for d in page.datas] == [
        e.data for e in ordered
    ]
    assert store.read_summaries(["t"], "statistic")["t"]["i"][:5] == (120, 0, -59, -59, 59)


_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.lists(st.integers(0, 9), max_size=3),
)
_SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, -0.0])


def _text(value) -> str:
    """Values compared as text: NaN equals NaN, and 1 differs from 1.0."""
    return json.dumps(value)


def _stored(store, trial_id: str) -> tuple[list, list]:
    events = [(e.key, e.time, _text(e.data)) for e in store.read_events(trial_id)]
    summaries = store.read_summaries([trial_id], "statistic")[trial_id]
    return events, sorted((name, _text(list(summary))) for name, summary in summaries.items())


_EXAMPLES = itertools.count()


@settings(max_examples=examples(40), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_statistics_given_as_columns_are_stored_as_the_same_events_are(store, backend, data):
    """Whatever the statistics, their batches and the batches appended again, the same
    events, keys and summaries are kept whether they are appended as events or as
    columns (on every backend)."""
    values = _VALUES if backend.name == "wire" else st.one_of(_VALUES, _SPECIAL)
    datas = data.draw(
        st.lists(
            st.dictionaries(st.sampled_from(["loss", "acc", "step", "note"]), values, max_size=4),
            min_size=1,
            max_size=30,
        )
    )
    steps = data.draw(st.lists(st.sampled_from([0.0, 1e-6, 0.5]), min_size=len(datas)))
    times = list(itertools.accumulate(steps[: len(datas)], initial=1_700_000_000.0))[1:]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(datas)), max_size=4)) | {len(datas)})
    again = data.draw(st.lists(st.integers(0, len(cuts) - 1), max_size=3))
    number = next(_EXAMPLES)
    by_events, by_columns = f"e{number}", f"c{number}"
    for trial_id in (by_events, by_columns):
        every = [
            Event(trial_id, "statistic", event_key(t, "w", i), t, value)
            for i, (t, value) in enumerate(zip(times, datas, strict=True))
        ]
        batches = [every[start:stop] for start, stop in itertools.pairwise([0, *cuts])]
        for batch in [*batches, *(batches[index] for index in again)]:
            if trial_id == by_events:
                store.append_events(batch)
            else:
                store.append_columns(columns_of(batch))
    assert _stored(store, by_columns) == _stored(store, by_events)
    assert store.count_events(by_columns) == len(datas)
    expected = summarise_events(every)
    summaries = store.read_summaries([by_columns], "statistic")[by_columns]
    assert sorted((n, _text(list(s))) for n, s in summaries.items()) == sorted(
        (n, _text(list(s))) for n, s in expected.items()
    )


def _append(address: str, db_name: str, writer: str, count: int, go) -> None:
    import time

    from kleio.core.model.catalogue import open_journal
    from kleio.store.base import Event
    from kleio.store.keys import event_key

    store = open_journal(address, db_name)
    go.wait(30)
    batch = []
    for i in range(count):
        now = time.time()
        batch.append(
            Event("shared", "statistic", event_key(now, writer, i), now, {"writer": writer, "i": i})
        )
        if len(batch) == 100:
            store.append_events(batch)
            batch = []
    store.append_events(batch)
    store.close()


@pytest.mark.slow
def test_concurrent_writers_lose_nothing_and_keep_their_order(shared_backend):
    go = SPAWN.Event()
    writers = [
        SPAWN.Process(
            target=_append,
            args=(shared_backend.address, shared_backend.db_name, f"w{n}", EACH, go),
        )
        for n in range(4)
    ]
    for process in writers:
        process.start()
    go.set()
    for process in writers:
        process.join(300)
        assert process.exitcode == 0
    seen: dict[str, list[int]] = {f"w{n}": [] for n in range(4)}
    for event in shared_backend.store.read_events("shared", ["statistic"]):
        seen[event.data["writer"]].append(event.data["i"])
    assert shared_backend.store.count_events("shared") == 4 * EACH
    for order in seen.values():
        assert order == list(range(EACH))
    summary = shared_backend.store.read_summaries(["shared"], "statistic")["shared"]
    assert summary["i"].count == summary["writer"].count == 4 * EACH
    assert (summary["i"].min, summary["i"].max) == (0, EACH - 1)


def test_threads_sharing_a_store_lose_nothing(store):
    def append(writer: str) -> None:
        for start in range(0, 250, 50):
            store.append_events(
                events(
                    "t",
                    "statistic",
                    [1.0 + i for i in range(start, start + 50)],
                    writer=writer,
                    start=start,
                )
            )

    threads = [threading.Thread(target=append, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_events("t") == 1000


def test_threads_appending_several_kinds_at_once_keep_every_summary_whole(store):
    """Appends of several kinds (a run's start journals statuses and its execution
    together) racing on the same summaries: each summary counts every event once."""

    def append(writer: str) -> None:
        for start in range(0, 100, 10):
            times = [1.0 + i for i in range(start, start + 10)]
            store.append_events(
                [
                    *events("t", "statistic", times, writer=writer, start=start),
                    *events("t", "usage", times, writer=writer, start=start),
                    *events(writer, "status", times, writer=writer, start=start),
                ]
            )

    threads = [threading.Thread(target=append, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_events("t") == 800
    for kind in ("statistic", "usage"):
        summary = store.read_summaries(["t"], kind)["t"]["i"]
        assert (summary.count, summary.min, summary.max) == (400, 0, 99), kind
    for writer in ("w0", "w3"):
        assert store.read_summaries([writer], "status")[writer]["i"].count == 100


# -- blocks ----------------------------------------------------------------------------
def _statistics(trial_id: str, values, start: int = 0, writer: str = "w0") -> list[Event]:
    """Statistics ``{"step", "loss"}`` (and ``"text"`` every third) at one per second."""
    return [
        Event(
            trial_id,
            "statistic",
            event_key(1.0 + start + i, writer, start + i),
            1.0 + start + i,
            {"step": start + i, "loss": value, **({"text": "x"} if i % 3 == 0 else {})},
        )
        for i, value in enumerate(values)
    ]


def _exact_block(events: list[Event]) -> dict:
    """What a block of ``events`` must say, worked out from the events one by one."""
    return expected_block([event.data for event in events], [event.time for event in events])


def _checked_blocks(store, trial_id: str) -> list:
    """The trial's blocks of statistics, checked: they partition its events in key
    order, each summarising exactly the consecutive events it spans."""
    blocks = store.read_blocks(trial_id, "statistic")
    every = list(store.read_events(trial_id, ["statistic"], page_size=2_000))
    assert sum(block.count for block in blocks) == len(every)
    at = 0
    for block in blocks:
        inside = every[at : at + block.count]
        assert (inside[0].key, inside[-1].key) == (block.first_key, block.last_key)
        assert json.loads(block.summary) == _exact_block(inside)
        at += block.count
    return blocks


def test_blocks_account_for_every_event_in_key_order(store):
    # Batches of several sizes, one of them past 1,000 events (two blocks at least).
    sizes = [5, 1, 1_200, 37]
    start = 0
    for size in sizes:
        values = [math.sin(start + i) * (start + i) for i in range(size)]
        values[size // 2] = True  # not a number a curve draws (NaN: see test_blocks.py)
        store.append_events(_statistics("t", values, start))
        start += size
    store.append_events(events("t", "stdout", [0.5]))  # another kind, blocked apart
    blocks = _checked_blocks(store, "t")
    assert sum(block.count for block in blocks) == start
    assert len(blocks) >= 2 and all(block.count <= 1_000 for block in blocks)
    assert store.read_blocks("t", "nothing") == []
    assert store.read_blocks("nobody", "statistic") == []


def test_blocks_of_events_appended_again_are_not_made_twice(store):
    batch = _statistics("t", [3.0, 1.0, 2.0])
    store.append_events(batch)
    store.append_events(batch)
    store.append_events(batch[1:] + _statistics("t", [4.0], start=3))
    blocks = _checked_blocks(store, "t")
    assert sum(block.count for block in blocks) == 4


def test_blocks_of_writers_whose_keys_interleave_are_never_wrong(store):
    # Two writers at once: each batch spans the other's keys, so no block a writer made
    # is a run of consecutive events: the store says it has no blocks (SQLite), or
    # gives blocks of the events in key order (made by the reader).
    store.append_events(_statistics("t", [1.0, 2.0, 3.0], writer="w0")[::2])
    store.append_events(
        [
            Event("t", "statistic", event_key(2.0, "w1", 0), 2.0, {"loss": 5.0}),
            Event("t", "statistic", event_key(9.0, "w1", 1), 9.0, {"loss": 6.0}),
        ]
    )
    if store.read_blocks("t", "statistic") is not None:
        _checked_blocks(store, "t")


def test_deleting_a_trials_events_deletes_its_blocks(store):
    store.append_events(_statistics("t", [1.0, 2.0]) + _statistics("u", [3.0]))
    store.delete_events("t")
    assert store.read_blocks("t", "statistic") == []
    assert [json.loads(b.summary)["f"]["loss"][1] for b in store.read_blocks("u", "statistic")] == [
        3.0
    ]
    store.append_events(_statistics("t", [7.0]))  # the trial made again
    assert [json.loads(b.summary)["f"]["loss"][1] for b in store.read_blocks("t", "statistic")] == [
        7.0
    ]


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12),
        min_size=8,
        max_size=40,
    ),
    cut=st.tuples(st.integers(0, 1_000), st.integers(0, 1_000)),
    buckets=st.integers(1, 10),
    x=st.sampled_from(["step", "time", "position"]),
)
def test_a_curve_read_through_blocks_has_the_exact_points_min_and_max_per_pixel(
    store, batches, cut, buckets, x
):
    """At random ranges (runs of blocks) and widths, each pixel of a curve drawn from the
    blocks has the first, lowest, highest and last value of the exact points whose block
    starts in it (the pixels as kleio.core.reading.curves defines them)."""
    from kleio.core.reading.curves import (
        BLOCKS_PER_PIXEL,
        BlockedColumns,
        blocked_pixels,
        fits_pixels,
        pixel_of,
    )
    from kleio.core.reading.series import PER_BUCKET, downsample

    trial_id = f"t{next(_PROPERTY_TRIALS)}"
    start = 0
    with pytest.MonkeyPatch.context() as patch:
        # MongoDB's blocks of 5 events at most (1,000 in use): its writer makes those of
        # batches of 5 or more, its reader the others'. SQLite's are its rows, a batch each.
        patch.setattr("kleio.store.mongodb.BLOCK_EVENTS", 5)
        for values in batches:  # blocks of 1 to 12 events
            store.append_events(_statistics(trial_id, values, start))
            start += len(values)
        blocks = _checked_blocks(store, trial_id)
    summaries = [json.loads(block.summary) for block in blocks]
    columns = BlockedColumns(trial_id, blocks, summaries, exact=lambda: None)
    axis = {"position": "step", "step": "step", "time": "time"}[x]
    if x == "position":  # the record number, not the key: no key named step
        for summary in summaries:
            summary["f"].pop("step")
        columns.columns.pop("step")
    parts = columns.parts(axis, "loss")
    assert parts is not None
    low, high = sorted(cut)
    parts = parts[low % len(parts) : max(high % len(parts), low % len(parts)) + 1]
    pixels = blocked_pixels(parts, buckets)
    first_x, last_x = parts[0].x0, parts[-1].x1
    width = (last_x - first_x) / buckets
    records = sum(part.records for part in parts)
    if len(parts) < BLOCKS_PER_PIXEL * buckets and (
        len(parts) < buckets or not fits_pixels(parts, width) or records <= PER_BUCKET * buckets
    ):
        assert pixels is None
        return
    points = [event.data["loss"] for event in store.read_events(trial_id, ["statistic"])]
    xs = {"step": lambda r: float(r), "position": lambda r: float(r), "time": lambda r: float(r)}
    if all(
        pixel_of(part.x0, first_x, width, buckets) == pixel_of(part.x1, first_x, width, buckets)
        for part in parts
    ):  # every pixel a whole number of blocks: the pixels and points of the exact curve
        ranged = [float(r) for r in range(parts[0].start, parts[-1].start + parts[-1].records)]
        exact = downsample(ranged, points[parts[0].start : parts[0].start + records], buckets)
        drawn = [(x, y) for pixel in pixels for _, x, y in pixel.points]
        if x != "time":  # against time, a lowest or highest x is placed in its block
            assert [x for x, _ in drawn] == exact[0]
        assert [y for _, y in drawn] == exact[1]
    expected: dict[int, list[int]] = {}  # pixel -> its records
    for part in parts:
        pixel = pixel_of(part.x0, first_x, width, buckets)
        expected.setdefault(pixel, []).extend(range(part.start, part.start + part.records))
    assert len(pixels) == len(expected)
    for pixel, records in zip(pixels, expected.values(), strict=True):
        assert list(range(pixel.start, pixel.stop)) == records
        ys = [points[record] for record in records]
        drawn = [y for _, _, y in pixel.points]
        assert (drawn[0], min(drawn), max(drawn), drawn[-1]) == (ys[0], min(ys), max(ys), ys[-1])
        lowest, highest = ys.index(min(ys)), ys.index(max(ys))
        assert [record for record, _, _ in pixel.points] == sorted(
            {records[0], records[lowest], records[highest], records[-1]}
        )
        assert all(xs[x](records[0]) <= px <= xs[x](records[-1]) for _, px, _ in pixel.points)


_PROPERTY_TRIALS = itertools.count()


# -- blobs -----------------------------------------------------------------------------


def _pattern(size: int):
    block = hashlib.sha256(b"kleio").digest() * (1 << 15)  # 1 MiB of non-repeating-looking bytes
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


def test_a_50_mb_blob_is_streamed_in_and_out_in_chunks_and_found_by_metadata(store):
    size = 50 * 1024 * 1024
    expected = hashlib.sha256()
    for piece in _pattern(size):
        expected.update(piece)
    info = store.put_blob(_pattern(size), {"trial": "t", "filename": "weights", "epoch": 10})
    store.put_blob(b"other", {"trial": "t", "filename": "weights", "epoch": 20})
    assert info.length == size

    (found,) = store.find_blobs({"trial": "t", "filename": "weights", "epoch": 10})
    assert found.id == info.id and found.length == size
    assert found.metadata == {"trial": "t", "filename": "weights", "epoch": 10}

    received, largest, count = hashlib.sha256(), 0, 0
    for chunk in store.read_blob(found.id):
        received.update(chunk)
        largest = max(largest, len(chunk))
        count += 1
    assert received.hexdigest() == expected.hexdigest()
    assert largest <= BLOB_CHUNK_SIZE
    assert count == math.ceil(size / BLOB_CHUNK_SIZE)


def test_blobs_come_from_bytes_files_or_iterables(store):
    for source in (b"abc" * 1000, io.BytesIO(b"abc" * 1000), [b"abc" * 500, b"abc" * 500]):
        info = store.put_blob(source, {"kind": "x"})
        assert b"".join(store.read_blob(info.id)) == b"abc" * 1000
    empty = store.put_blob(b"", {"kind": "empty"})
    assert empty.length == 0 and b"".join(store.read_blob(empty.id)) == b""
    with pytest.raises(TypeError):
        store.put_blob(io.StringIO("text"), {"kind": "text"})


def test_blobs_are_found_by_several_metadata_fields(store):
    store.put_blob(b"1", {"trial": "a", "filename": "w", "epoch": 1, "best": True})
    store.put_blob(b"2", {"trial": "a", "filename": "w", "epoch": 2, "best": False})
    store.put_blob(b"3", {"trial": "b", "filename": "w", "epoch": 1})

    def contents(where):
        return sorted(b"".join(store.read_blob(info.id)) for info in store.find_blobs(where))

    assert contents({"trial": "a"}) == [b"1", b"2"]
    assert contents({"filename": "w", "epoch": 1}) == [b"1", b"3"]
    assert contents({"trial": "a", "best": True}) == [b"1"]
    assert contents({"trial": "c"}) == []


def test_an_interrupted_upload_leaves_no_visible_blob(store):
    def failing():
        yield b"x" * BLOB_CHUNK_SIZE * 20
        raise OSError("disk gone")

    with pytest.raises(OSError):
        store.put_blob(failing(), {"trial": "t", "filename": "partial"})
    assert store.find_blobs({"filename": "partial"}) == []


def test_reading_an_unknown_blob_raises(store):
    with pytest.raises(BlobNotFound):
        store.read_blob("0" * 32)


def test_a_blob_keeps_a_given_id_once_and_is_deleted_whole(store):
    blob_id = new_blob_id()
    first = store.put_blob(b"abc" * 100_000, {"trial": "t", "filename": "w"}, blob_id=blob_id)
    again = store.put_blob(b"other", {"trial": "t", "filename": "w"}, blob_id=blob_id)
    assert first.id == again.id == blob_id and again.length == 300_000
    assert b"".join(store.read_blob(blob_id)) == b"abc" * 100_000
    assert store.delete_blob(blob_id)
    assert store.find_blobs({"trial": "t"}) == []
    with pytest.raises(BlobNotFound):
        store.read_blob(blob_id)


def test_a_blob_knows_when_it_was_uploaded(store, backend, request):
    if backend.name == "wire":
        request.applymarker(pytest.mark.xfail(reason=WIRE_DIFFERENCES["upload_date"], strict=True))
    started = time.time()
    info = store.put_blob(b"abc", {"trial": "t"})
    (found,) = store.find_blobs({"trial": "t"})
    assert found.uploaded is not None and started - 1 <= found.uploaded <= time.time() + 1
    assert store.blob_info(info.id) == found


def test_deleting_an_unknown_blob_deletes_nothing(store, backend, request):
    if backend.name == "wire":
        request.applymarker(
            pytest.mark.xfail(
                reason=WIRE_DIFFERENCES["missing_file"], strict=True, raises=StoreError
            )
        )
    kept = store.put_blob(b"kept", {"trial": "t"})
    assert not store.delete_blob(new_blob_id())
    assert b"".join(store.read_blob(kept.id)) == b"kept"


def test_reclaiming_removes_abandoned_uploads_but_not_one_in_progress(store, backend, request):
    if backend.name == "wire":
        request.applymarker(
            pytest.mark.xfail(reason=WIRE_DIFFERENCES["chunks"], strict=True, raises=AssertionError)
        )
    old = "0" * 12 + new_blob_id()[12:]  # started in 1970
    store._write_chunks(old, 0, [b"x" * 100] * 3)
    recent = new_blob_id()
    store._write_chunks(recent, 0, [b"y" * 100])
    kept = store.put_blob(b"z" * 1000, {"trial": "t"})
    assert store.reclaim() == 3
    assert store._chunk_page(old, 0, 10) == []
    assert store._chunk_page(recent, 0, 10) == [b"y" * 100]
    assert b"".join(store.read_blob(kept.id)) == b"z" * 1000
    assert store.reclaim(abandoned_after=0) == 1
