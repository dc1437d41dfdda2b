"""The store contract (kleio/store/base.py), checked on every backend."""

from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
import threading
import time

import pytest

from kleio.store.base import (
    BLOB_CHUNK_SIZE,
    EVENT_PAGE_SIZE,
    SUMMARY_VALUE_LIMIT,
    UNSET,
    BlobNotFound,
    Catalogue,
    DuplicateTrialError,
    Event,
    StoreError,
    Summary,
)
from kleio.store.blobs import new_blob_id
from kleio.store.keys import event_key
from tests.mongo_server import WIRE_DIFFERENCES

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
