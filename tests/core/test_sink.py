"""The event sink: every event put is written once, even through a store outage."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import threading
import time

import pytest

from kleio.core.model.journal import EventWriter
from kleio.core.model.printed import CHUNK
from kleio.core.running import sink as sink_module
from kleio.core.running.recorder import OutputRecorder
from kleio.core.running.sink import EventSink, StatisticQueue
from kleio.core.running.spool import read_spool, replay_spool, write_spool
from kleio.store.base import Event, StoreError, StoreUnavailable
from kleio.store.keys import event_key
from kleio.store.sqlite import SQLiteStore
from kleio.store.sqlite import store as sqlite_module

TRIAL = "trial-1"
PATIENCE = 0.3


@pytest.fixture
def spool(tmp_path):
    return tmp_path / "home" / "spool"


class FlakyStore:
    """A real store whose appends fail while ``down`` is set, and that refuses any
    batch holding an event whose data has ``bad`` (as MongoDB refuses a document nested
    too deep), or every batch while ``refusing`` is set."""

    def __init__(self, store: SQLiteStore):
        self.store = store
        self.down = threading.Event()
        self.refusing = threading.Event()
        self.attempts = 0
        self.batches: list[int] = []
        self.as_columns: list[int] = []

    def append_events(self, events):
        self.attempts += 1
        if self.down.is_set():
            raise StoreUnavailable("database unreachable")
        if self.refusing.is_set() or any(event.data.get("bad") for event in events):
            raise StoreError("MongoDB at mongodb://db/: BSONObj exceeds maximum nested depth")
        self.batches.append(len(events))
        self.store.append_events(events)

    def append_columns(self, columns):
        """As :meth:`append_events`, for a batch given as columns (a logger's statistics)."""
        self.as_columns.append(len(columns))
        self.append_events(columns)


@pytest.fixture
def flaky(store):
    return FlakyStore(store)


def make_events(count: int, trial: str = TRIAL, start: int = 0) -> list[Event]:
    writer = EventWriter()
    return [writer.event(trial, "statistic", {"i": start + i}) for i in range(count)]


def keys_in(store, trial: str = TRIAL) -> list[str]:
    return [event.key for event in store.read_events(trial)]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def spool_files(spool) -> list:
    return sorted(spool.glob("*.jsonl")) if spool.exists() else []


# -- writing ---------------------------------------------------------------------------


def test_every_event_put_is_written_after_flush(store, spool):
    sink = EventSink(lambda: store, spool, interval=0.05)
    events = make_events(1200)
    for event in events[:200]:
        sink.put(event)
    sink.put_many(events[200:])
    assert sink.flush(timeout=10)
    assert keys_in(store) == [e.key for e in events]
    assert [e.data for e in store.read_events(TRIAL)] == [e.data for e in events]
    sink.close()
    assert spool_files(spool) == []


def test_close_writes_the_events_just_put(store, spool):
    sink = EventSink(lambda: store, spool, interval=3600)
    events = make_events(10)
    sink.put_many(events)
    sink.close()
    assert keys_in(store) == [e.key for e in events]


def test_events_put_by_concurrent_threads_are_all_written(store, spool):
    sink = EventSink(lambda: store, spool, interval=0.01, wake_at=100)
    batches = [make_events(1500, start=1500 * n) for n in range(8)]
    start = threading.Barrier(len(batches))

    def produce(events):
        start.wait()
        for event in events[:1000]:
            sink.put(event)
        sink.put_many(events[1000:])

    threads = [threading.Thread(target=produce, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    assert sorted(keys_in(store)) == sorted(e.key for b in batches for e in b)


# -- a failing store -------------------------------------------------------------------


def test_a_failing_store_is_retried_until_it_answers(flaky, store, spool):
    spooled = []
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=30, on_spool=spooled.append)
    flaky.down.set()
    events = make_events(50)
    sink.put_many(events)
    wait_until(lambda: flaky.attempts >= 3)
    flaky.down.clear()
    assert sink.flush(timeout=10)
    assert keys_in(store) == [e.key for e in events]
    assert spooled == [] and spool_files(spool) == []
    sink.close()


def spool_during_outage(flaky, sink, events) -> None:
    flaky.down.set()
    sink.put_many(events)
    assert sink.flush(timeout=10)


def test_past_patience_events_go_to_a_spool_file_and_none_is_lost(flaky, store, spool):
    spooled = []
    sink = EventSink(
        lambda: flaky, spool, interval=0.01, patience=PATIENCE, on_spool=spooled.append
    )
    events = make_events(40)
    spool_during_outage(flaky, sink, events)
    [path] = spool_files(spool)
    assert sink.spool_path == path
    assert list(read_spool(path)) == events
    assert sum(spooled) == len(events)
    assert store.count_events(TRIAL) == 0
    # Still down: later events join the same spool file at once.
    more = make_events(5, start=40)
    sink.put_many(more)
    assert sink.flush(timeout=10)
    assert spool_files(spool) == [path]
    assert list(read_spool(path)) == events + more


def test_writes_after_the_store_answers_again_replay_the_spool(flaky, store, spool):
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE)
    events = make_events(40)
    spool_during_outage(flaky, sink, events)
    assert len(spool_files(spool)) == 1
    flaky.down.clear()
    later = make_events(10, start=40)
    sink.put_many(later)
    assert sink.flush(timeout=10)
    assert spool_files(spool) == [] and sink.spool_path is None
    assert keys_in(store) == sorted(e.key for e in events + later)  # each exactly once
    sink.close()


@pytest.mark.parametrize("failure", ["down", "refusing"])
def test_closing_while_the_store_is_down_keeps_the_events_on_disk(flaky, store, spool, failure):
    # A store that refuses every event is failing, not the events: kept as in an outage.
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE)
    getattr(flaky, failure).set()
    events = make_events(30)
    sink.put_many(events)
    sink.close()
    [path] = spool_files(spool)
    assert list(read_spool(path)) == events
    assert store.count_events(TRIAL) == 0
    assert not sink.refused and not sink.lost


def test_an_event_the_store_refuses_is_dropped_alone_and_told_once(flaky, store, spool):
    troubles = []
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=30, on_trouble=troubles.append)
    writer = EventWriter()
    events = [writer.event(TRIAL, "statistic", {"i": i, "bad": i in (17, 60)}) for i in range(100)]
    sink.put_many(events)
    assert sink.flush(timeout=10)
    more = [writer.event(TRIAL, "statistic", {"i": 100, "bad": True})]
    sink.put_many(more)
    sink.close()
    good = [e.key for e in events if not e.data["bad"]]
    assert keys_in(store) == good
    assert spool_files(spool) == []  # never retried later: it can never be stored
    assert sink.refused == {"statistic": 3} and not sink.lost
    assert len(troubles) == 1, troubles
    assert "refused" in troubles[0] and "nested depth" in troubles[0]


@pytest.fixture
def full_spool(monkeypatch):
    """Spooling fails as on a full disk while ``full`` is set."""
    full = threading.Event()
    full.set()

    def write(path, events):
        if full.is_set():
            raise OSError(28, "No space left on device")
        write_spool(path, events)

    monkeypatch.setattr(sink_module, "write_spool", write)
    return full


def test_events_neither_the_store_nor_the_spool_takes_are_held_then_written(
    flaky, store, spool, full_spool
):
    troubles = []
    sink = EventSink(
        lambda: flaky, spool, interval=0.01, patience=PATIENCE, on_trouble=troubles.append
    )
    flaky.down.set()
    events = make_events(40)
    sink.put_many(events)
    wait_until(lambda: troubles)
    started = time.monotonic()
    assert sink.flush(timeout=10) is False  # says at once that it cannot
    assert time.monotonic() - started < 1
    more = make_events(10, start=40)
    sink.put_many(more)
    time.sleep(0.3)
    flaky.down.clear()
    assert sink.flush(timeout=20)
    sink.close()
    assert keys_in(store) == [e.key for e in events + more]
    assert not sink.lost and not sink.refused
    assert len(troubles) == 1, troubles
    assert "No space left on device" in troubles[0] and "unreachable" in troubles[0]


def test_held_events_are_bounded_and_the_excess_is_counted_lost(flaky, store, spool, full_spool):
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE, limit=100)
    flaky.down.set()
    events = make_events(250)
    for event in events:
        sink.put(event)
        sink.wait_below(100)  # never waits for a sink that cannot write
    wait_until(lambda: sink.lost)
    flaky.down.clear()
    assert sink.flush(timeout=20)
    sink.close()
    written = keys_in(store)
    assert written == [e.key for e in events[: len(written)]]  # the oldest are kept
    assert 100 <= len(written) < 250
    assert sink.lost == {"statistic": 250 - len(written)}


def test_closing_when_nothing_takes_the_events_counts_them_lost(flaky, store, spool, full_spool):
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE)
    flaky.down.set()
    sink.put_many(make_events(30))
    started = time.monotonic()
    sink.close(timeout=1)
    assert time.monotonic() - started < 5
    assert sink.lost == {"statistic": 30}
    assert store.count_events(TRIAL) == 0


def test_closing_again_writes_what_was_put_after_the_close_in_the_calling_thread(
    flaky, store, spool, full_spool
):
    # What an exit function logs after the logger closed, with no thread to start any
    # more: the store takes it though the spool cannot (a full local disk).
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE)
    first, later, last = make_events(5), make_events(3, start=5), make_events(2, start=8)
    sink.put_many(first)
    sink.close()
    started = threading.active_count()
    sink.put_many(later)
    sink.close(timeout=0)
    assert keys_in(store) == [e.key for e in first + later]
    full_spool.clear()
    flaky.down.set()  # then the store is gone: the spool takes them, at once
    sink.put_many(last)
    sink.close(timeout=0)
    [path] = spool_files(spool)
    assert list(read_spool(path)) == last
    assert threading.active_count() == started  # all of it in this thread
    assert not sink.lost and not sink.refused


def test_closing_again_writes_nothing_once_the_writer_may_no_longer_write(store, spool):
    allowed = threading.Event()
    allowed.set()
    sink = EventSink(lambda: store, spool, interval=0.01, allowed=allowed.is_set)
    sink.put_many(make_events(3))
    sink.close()
    allowed.clear()  # another execution took the trial over meanwhile
    sink.put_many(make_events(2, start=3))
    sink.close(timeout=0)
    assert store.count_events(TRIAL) == 3
    assert spool_files(spool) == []
    assert sink.lost == {"statistic": 2}


def test_closing_again_while_nothing_takes_the_events_counts_them_lost(
    flaky, store, spool, full_spool
):
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE)
    sink.close()
    flaky.down.set()
    sink.put_many(make_events(4))
    started = time.monotonic()
    sink.close(timeout=0)  # the leaving time is spent: one try, then counted
    assert time.monotonic() - started < 5
    assert sink.lost == {"statistic": 4}


def test_a_sink_no_longer_allowed_to_write_drops_everything_after(store, spool):
    allowed, troubles = threading.Event(), []
    allowed.set()
    sink = EventSink(
        lambda: store,
        spool,
        interval=0.01,
        allowed=allowed.is_set,
        on_trouble=troubles.append,
    )
    events = make_events(20)
    sink.put_many(events[:10])
    assert sink.flush(timeout=10)
    allowed.clear()
    sink.put_many(events[10:])
    sink.close()
    assert keys_in(store) == [e.key for e in events[:10]]
    assert spool_files(spool) == []
    assert sink.lost == {"statistic": 10}
    assert len(troubles) == 1


def test_batches_are_bounded(flaky, store, spool):
    sink = EventSink(lambda: flaky, spool, interval=0.05, batch=7)
    sink.put_many(make_events(100))
    sink.close()
    assert store.count_events(TRIAL) == 100
    assert max(flaky.batches) <= 7


class SlowStore:
    """A real store that takes its time for every append."""

    def __init__(self, store: SQLiteStore, pause: float):
        self.store, self.pause = store, pause

    def append_events(self, events):
        time.sleep(self.pause)
        self.store.append_events(events)


def test_output_faster_than_the_store_waits_instead_of_piling_up_in_memory(store, spool):
    sink = EventSink(
        lambda: SlowStore(store, 0.005), spool, interval=0.01, wake_at=1, batch=8, limit=32
    )
    recorder = OutputRecorder(sink, EventWriter(), TRIAL, "stdout")
    highest = 0
    for _ in range(300):
        recorder.add(b"x" * CHUNK)
        highest = max(highest, len(sink.backlog))
    recorder.finish()
    sink.close()
    assert highest <= 32 + 1
    assert store.count_events(TRIAL) == 300


# -- a logger's statistics queue -------------------------------------------------------


def statistic_queue() -> StatisticQueue:
    return StatisticQueue(functools.partial(EventWriter().events_of, TRIAL))


def test_a_statistic_queue_writes_statistics_and_other_events_in_the_order_logged(store, spool):
    queue = statistic_queue()
    sink = EventSink(lambda: store, spool, interval=0.01, queue=queue)
    sink.start()
    queue.append({"i": 0}, 10.0)
    sink.put(("artifact", 11.0, {"name": "weights"}))
    queue.append({"i": 1}, 12.0)
    sink.put(("statistic", 13.0, {"i": 2}))
    assert sink.flush(timeout=10)
    for i in range(3, 6):  # a batch of the in-loop path's statistics alone
        queue.append({"i": i}, 10.0 + i + 1)
    sink.close()
    assert [(e.kind, e.time, e.data) for e in store.read_events(TRIAL)] == [
        ("statistic", 10.0, {"i": 0}),
        ("artifact", 11.0, {"name": "weights"}),
        ("statistic", 12.0, {"i": 1}),
        ("statistic", 13.0, {"i": 2}),
        *(("statistic", 10.0 + i + 1, {"i": i}) for i in range(3, 6)),
    ]


def test_a_batch_of_in_loop_statistics_is_appended_as_columns_and_a_refused_one_alone(
    flaky, store, spool
):
    writer = EventWriter()
    queue = StatisticQueue(
        functools.partial(writer.events_of, TRIAL),
        functools.partial(writer.columns, TRIAL, "statistic"),
    )
    troubles: list[str] = []
    sink = EventSink(lambda: flaky, spool, queue=queue, wake_at=10**6, on_trouble=troubles.append)
    for i in range(12):
        queue.append({"i": i, "bad": i == 5}, 100.0 + i)
    sink.start()
    sink.close()
    assert flaky.as_columns[0] == 12  # one batch, as columns, split to isolate the refused
    stored = list(store.read_events(TRIAL))
    assert [(e.time, e.data["i"]) for e in stored] == [(100.0 + i, i) for i in range(12) if i != 5]
    assert [e.key for e in stored] == sorted(e.key for e in stored)
    assert sink.refused == {"statistic": 1} and not sink.lost and len(troubles) == 1
    summary = store.read_summaries([TRIAL], "statistic")[TRIAL]["i"]
    assert (summary.count, summary.min, summary.max) == (11, 0, 11)


def test_a_statistic_queue_gives_its_oldest_and_its_newest_items_as_events_in_order():
    queue = statistic_queue()
    for i in range(4):
        queue.append({"i": i}, float(i))
    queue.put(("artifact", 4.0, {"name": "weights"}))
    queue.append({"i": 5}, 5.0)
    oldest = queue.take(3)
    newest = queue.take_newest(2)
    assert [(e.kind, e.time, e.data) for e in oldest] == [
        ("statistic", float(i), {"i": i}) for i in range(3)
    ]
    assert [(e.kind, e.time, e.data) for e in newest] == [
        ("artifact", 4.0, {"name": "weights"}),
        ("statistic", 5.0, {"i": 5}),
    ]
    assert [(e.kind, e.data) for e in queue.take()] == [("statistic", {"i": 3})]
    assert len(queue) == 0
    assert queue.take() == []


# -- replaying a spool file ------------------------------------------------------------


@pytest.fixture
def spool_file(flaky, spool):
    """A spool file left by a sink that closed during an outage, and its events."""
    sink = EventSink(lambda: flaky, spool, interval=0.01, patience=PATIENCE)
    flaky.down.set()
    events = make_events(25)
    sink.put_many(events)
    sink.close()
    [path] = spool_files(spool)
    return path, events


def test_replaying_a_spool_file_twice_keeps_each_event_once(store, spool_file, tmp_path):
    path, events = spool_file
    copy = tmp_path / "copy.jsonl"
    shutil.copy(path, copy)
    assert replay_spool(store, path) == len(events)
    assert not path.exists()
    shutil.copy(copy, path)  # replayed again, as after a crash before the file was removed
    assert replay_spool(store, path) == len(events)
    assert keys_in(store) == [e.key for e in events]
    assert [e.data for e in store.read_events(TRIAL)] == [e.data for e in events]


def test_a_torn_last_line_of_a_spool_file_is_skipped(store, spool_file):
    path, events = spool_file
    with open(path, "a", encoding="utf-8") as stream:
        stream.write('{"trial": "trial-1", "kind": "statis')  # a crash mid-write
    assert list(read_spool(path)) == events
    assert replay_spool(store, path) == len(events)
    assert keys_in(store) == [e.key for e in events]


def test_replaying_a_spool_file_keeps_every_event_but_those_the_store_refuses(flaky, store, spool):
    writer = EventWriter()
    events = [writer.event(TRIAL, "statistic", {"i": i, "bad": i == 3}) for i in range(10)]
    path = spool / "refused.jsonl"
    write_spool(path, events)
    refused = []
    assert replay_spool(flaky, path, on_refused=lambda event, error: refused.append(event)) == 9
    assert keys_in(store) == [e.key for e in events if e.data["i"] != 3]
    assert [e.key for e in refused] == [events[3].key]
    assert not path.exists()


# -- fork ------------------------------------------------------------------------------


def exit_status_within(pid: int, timeout: float) -> int | None:
    """The child's exit status, or None (and the child killed) when it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def child_puts_and_closes(sink: EventSink, events: list[Event]) -> int:
    """Fork a child that writes ``events`` through ``sink``; the child's pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            sink.put(events[0])
            sink.put_many(events[1:])
            sink.close()
            code = 0
        finally:
            os._exit(code)
    return pid


def test_a_forked_child_writes_its_own_events_through_the_parents_sink(store, spool):
    sink = EventSink(lambda: store, spool, interval=0.01)
    parent = make_events(20)
    sink.put_many(parent[:10])
    assert sink.flush(timeout=10)  # the parent's writing thread is running
    child = make_events(15, trial="child")
    pid = child_puts_and_closes(sink, child)
    assert exit_status_within(pid, 30) == 0, "the child did not finish: deadlock"
    assert keys_in(store, "child") == [e.key for e in child]
    sink.put_many(parent[10:])
    sink.close()
    assert keys_in(store) == [e.key for e in parent]


def test_a_child_forked_while_the_parent_is_writing_does_not_hang(store, spool, monkeypatch):
    # kleio_logger shares one store between its sink and whatever the script forks
    # (data-loader workers...): a fork may come while the sink's thread is in a write.
    inside, forked = threading.Event(), threading.Event()
    insert_rows, parent = sqlite_module._insert_rows, os.getpid()

    def pausing(connection, events):
        """The parent's insert, inside the store's write: it pauses there until the fork."""
        if os.getpid() == parent:
            inside.set()
            forked.wait(2.0)
        return insert_rows(connection, events)

    monkeypatch.setattr(sqlite_module, "_insert_rows", pausing)
    sink = EventSink(lambda: store, spool, interval=0.01)
    now = time.time()
    sink.put(Event(TRIAL, "statistic", event_key(now, "parent", 0), now, {}))
    assert inside.wait(10)  # the parent's sink thread is writing
    child = make_events(5, trial="child")
    pid = child_puts_and_closes(sink, child)
    forked.set()
    status = exit_status_within(pid, 10)
    sink.close()
    assert store.count_events(TRIAL) == 1
    assert status == 0, "a child forked during a write hangs on the store"
    assert keys_in(store, "child") == [e.key for e in child]
