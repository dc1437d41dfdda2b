"""One way to write events: queued, batched by a background thread, never lost.

Both the launcher (the script's output) and ``kleio_logger`` (statistics) write through
an :class:`EventSink`. ``put`` only appends to a queue, so the caller never waits for
the database. A thread appends the queue in batches at least every ``interval``
seconds. When the store fails, the batch is retried with backoff; once it has failed
for ``patience`` seconds the pending events go to a spool file under
``$KLEIO_HOME/spool/`` and the sink keeps trying; the spool is replayed as soon as the
store answers again, or later by ``kleio sync``. Appending is idempotent, so an event
replayed after an uncertain failure is never duplicated.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from kleio.store.base import Event, Store, StoreError

#: Events appended per call at most.
BATCH = 5000
#: Seconds of retries for the last events when the sink closes.
CLOSING_PATIENCE = 2.0


def spool_folder(home: Path) -> Path:
    return Path(home) / "spool"


def _event_line(event: Event) -> str:
    return (
        json.dumps(
            {
                "trial": event.trial,
                "kind": event.kind,
                "key": event.key,
                "time": event.time,
                "data": event.data,
            },
            ensure_ascii=False,
        )
        + "\n"
    )


def read_spool(path: Path) -> Iterator[Event]:
    """The events in a spool file; a torn last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            try:
                record = json.loads(line)
                yield Event(
                    record["trial"], record["kind"], record["key"], record["time"], record["data"]
                )
            except (ValueError, KeyError, TypeError):
                continue


def replay_spool(store: Store, path: Path) -> int:
    """Append a spool file's events to the store, then remove it; returns the count."""
    count, batch = 0, []
    for event in read_spool(path):
        batch.append(event)
        if len(batch) >= BATCH:
            store.append_events(batch)
            count += len(batch)
            batch = []
    store.append_events(batch)
    count += len(batch)
    path.unlink(missing_ok=True)
    return count


class EventSink:
    """A queue of events and the thread that writes it (see the module documentation)."""

    def __init__(
        self,
        store_factory: Callable[[], Store],
        spool: Path | None,
        *,
        name: str = "events",
        interval: float = 0.5,
        patience: float = 10.0,
        wake_at: int = BATCH,
        on_spool: Callable[[int], None] | None = None,
    ):
        """``wake_at``: queued events that make the thread write before ``interval``."""
        self._store_factory = store_factory
        self._store: Store | None = None
        self._spool_folder = spool
        self._name = name
        self.interval = interval
        self.patience = patience
        self._wake_at = wake_at
        self._on_spool = on_spool
        self._condition = threading.Condition()
        self._queue: list[Event] = []
        self._busy = False  # the thread holds events it has not written yet
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.spooled = 0
        self.written = 0
        self._spool_path: Path | None = None
        self.last_error: str | None = None

    # -- producers ---------------------------------------------------------------------
    def put(self, event: Event) -> None:
        with self._condition:
            self._ensure_thread()
            self._queue.append(event)
            if len(self._queue) >= self._wake_at:
                self._condition.notify_all()

    def put_many(self, events: Iterable[Event]) -> None:
        with self._condition:
            self._ensure_thread()
            self._queue.extend(events)
            if len(self._queue) >= self._wake_at:
                self._condition.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event put so far is written or spooled; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            if self._thread is None:
                return not self._queue
            self._condition.notify_all()
            while self._queue or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining if remaining is not None else 1.0)
                self._condition.notify_all()
        return True

    def close(self, timeout: float | None = None) -> None:
        """Write or spool everything, then stop the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._condition:
            leftover, self._queue = self._queue, []
        if leftover:  # the thread did not finish in time: keep the events on disk
            self._spool(leftover)
        self.replay_pending()

    # -- the writing thread ------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._after_fork()
        if self._thread is None and not self._closing:
            self._thread = threading.Thread(
                target=self._run, name=f"kleio-{self._name}", daemon=True
            )
            self._thread.start()

    def _after_fork(self) -> None:
        self._condition = threading.Condition()
        self._queue, self._busy, self._thread, self._store = [], False, None, None
        self._pid = os.getpid()
        self._spool_path = None

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._queue and not self._closing:
                    self._condition.wait(self.interval)
                if not self._queue:
                    if self._closing:
                        return
                    continue
                if self._spool_path is not None:  # degraded: take all, spool fast if down
                    batch, self._queue = self._queue, []
                else:
                    batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                self._busy = True
            try:
                self._write(batch)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def _write(self, batch: list[Event]) -> None:
        """Append with retries; spool after ``patience`` seconds of failure.

        Once spooling, each batch gets one attempt: the store is probed with every batch
        and the spool replayed as soon as it answers, while memory stays bounded.
        """
        started, delay = time.monotonic(), 0.05
        degraded = self._spool_path is not None
        while True:
            try:
                store = self._store or self._open()
                for start in range(0, len(batch), BATCH):
                    store.append_events(batch[start : start + BATCH])
                self.written += len(batch)
                self.last_error = None
                if degraded:
                    self.replay_pending()
                return
            except StoreError as error:
                self.last_error = str(error)
                # Closing bounds the wait: the process is about to exit.
                limit = min(self.patience, CLOSING_PATIENCE) if self._closing else self.patience
                if degraded or time.monotonic() - started >= limit:
                    self._spool(batch)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _open(self) -> Store:
        self._store = self._store_factory()
        return self._store

    # -- the spool ---------------------------------------------------------------------
    def _spool(self, events: list[Event]) -> None:
        if self._spool_folder is None:
            raise StoreError(f"{len(events)} events could not be written: {self.last_error}")
        if self._spool_path is None:
            self._spool_folder.mkdir(parents=True, exist_ok=True)
            self._spool_path = self._spool_folder / (
                f"{events[0].trial}-{self._name}-{os.getpid()}-{time.time_ns()}.jsonl"
            )
        with open(self._spool_path, "a", encoding="utf-8") as stream:
            stream.writelines(_event_line(event) for event in events)
            stream.flush()
            os.fsync(stream.fileno())
        self.spooled += len(events)
        if self._on_spool is not None:
            self._on_spool(len(events))

    def replay_pending(self) -> None:
        """Replay this sink's spool file if the store answers; keep it otherwise."""
        if self._spool_path is None or not self._spool_path.exists():
            self._spool_path = None
            return
        try:
            store = self._store or self._open()
            self.written += replay_spool(store, self._spool_path)
            self.spooled = 0
            self._spool_path = None
        except StoreError as error:
            self.last_error = str(error)

    @property
    def spool_path(self) -> Path | None:
        return self._spool_path
