"""The store contract (kleio/store/base.py), checked on every backend."""

from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
import threading

import pytest

from kleio.store.base import (
    BLOB_CHUNK_SIZE,
    BlobNotFound,
    DuplicateTrialError,
    Event,
    StoreError,
    event_key,
)
from tests.mongo_server import WIRE_DIFFERENCES

SPAWN = multiprocessing.get_context("spawn")


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


def _reserve(address: str, db_name: str, trial_id: str, token: str, go, results) -> None:
    from kleio.store import open_store

    store = open_store(address, db_name)
    store.get_trial(trial_id)  # connect before the start signal
    go.wait(30)
    won = store.update_trial(
        trial_id,
        {"status": "reserved", "worker": {"token": token}},
        {"status": "new", "worker": None},
    )
    results.put((token, won))
    store.close()


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
    many = events("t", "statistic", [100.0 + i / 1000 for i in range(1500)])  # two pages
    store.append_events(many)
    assert list(store.read_events("t")) == many
    assert list(store.read_events("t", after=many[400].key)) == many[401:]
    assert list(store.read_events("t", since=many[10].time, after=many[1199].key)) == many[1200:]


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


def _append(address: str, db_name: str, writer: str, count: int, go) -> None:
    import time

    from kleio.store import open_store
    from kleio.store.base import Event, event_key

    store = open_store(address, db_name)
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


def test_concurrent_writers_lose_nothing_and_keep_their_order(shared_backend):
    go = SPAWN.Event()
    writers = [
        SPAWN.Process(
            target=_append,
            args=(shared_backend.address, shared_backend.db_name, f"w{n}", 10_000, go),
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
    assert shared_backend.store.count_events("shared") == 40_000
    for order in seen.values():
        assert order == list(range(10_000))


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
