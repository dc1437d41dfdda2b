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

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kleio.core.spool import new_spool_path, replay_spool, write_spool
from kleio.forking import at_fork
from kleio.store.base import Event, Store, StoreError

#: Events appended per call at most.
BATCH = 5000
#: Seconds of retries for the last events when the sink closes.
CLOSING_PATIENCE = 2.0


def retrying(action: Callable[[], Any], patience: float) -> Any:
    """Run ``action``, retrying a failing store with backoff for up to ``patience`` s."""
    deadline, delay = time.monotonic() + patience, 0.2
    while True:
        try:
            return action()
        except StoreError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


class EventSink:
    """A queue of events and the thread that writes it (see the module documentation).

    ``put`` is a ``deque`` append: safe from any thread and cheap enough for a training
    loop. With ``prepare``, the queue holds whatever the producer finds cheapest to make
    and ``prepare(items)`` turns a batch into events in the writing thread.
    """

    def __init__(
        self,
        store_factory: Callable[[], Store],
        spool: Path | None,
        *,
        name: str = "events",
        interval: float = 0.5,
        patience: float = 10.0,
        wake_at: int = BATCH,
        prepare: Callable[[list[Any]], list[Event]] | None = None,
        on_spool: Callable[[int], None] | None = None,
        on_dropped: Callable[[int, str], None] | None = None,
    ):
        """``wake_at``: queued items that make the thread write before ``interval``.
        ``on_spool(count)`` is told of events spooled; ``on_dropped(count, reason)`` of
        events no store can hold, which are dropped (the others of their batch are kept)."""
        self._store_factory = store_factory
        self._store: Store | None = None
        self._spool_folder = spool
        self._name = name
        self.interval = interval
        self.patience = patience
        self._wake_at = wake_at
        self._prepare = prepare
        self._on_spool = on_spool
        self._on_dropped = on_dropped
        self._queue: deque = deque()
        self._wake = threading.Event()
        self._drained = threading.Condition()
        self._busy = False  # the thread holds items it has not written yet
        self._inflight: list[Event] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self.spooled = 0
        self.written = 0
        self.dropped = 0
        self._spool_path: Path | None = None
        self.last_error: str | None = None
        at_fork(self, after_in_child=EventSink._reset_after_fork)

    # -- producers ---------------------------------------------------------------------
    @property
    def backlog(self) -> deque:
        """The queue itself, for a producer that appends to it directly (the logger's
        in-loop path); call :meth:`start` first. The thread drains it every ``interval``."""
        return self._queue

    def start(self) -> None:
        if self._thread is None:
            self._start()

    def wait_below(self, count: int, timeout: float = 60.0) -> None:
        """Block until fewer than ``count`` items wait: backpressure for a producer that
        outruns the store, so memory stays bounded."""
        deadline = time.monotonic() + timeout
        with self._drained:
            while len(self._queue) >= count and time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    return
                self._wake.set()
                self._drained.wait(0.1)

    def put(self, item: Any) -> None:
        self._queue.append(item)
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._wake_at:
            self._wake.set()

    def put_many(self, items: Iterable[Any]) -> None:
        self._queue.extend(items)
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._wake_at:
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item put so far is written or spooled; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._drained:
            while self._queue or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    return False
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._drained.wait(min(remaining, 0.5) if remaining is not None else 0.5)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Write or spool everything, then stop the thread."""
        self._closing = True
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        leftover = self._take(len(self._queue))
        if thread is not None and thread.is_alive():
            # Out of time: the batch being written may never commit before the process
            # ends. Keep it on disk too; if it did commit, replaying it adds nothing.
            leftover = [*self._inflight, *self._events(leftover)]
        else:
            leftover = self._events(leftover)
        if leftover:
            self._spool(leftover)
        if self.last_error is None:  # the store answered last time: worth a replay
            self.replay_pending()

    # -- the writing thread ------------------------------------------------------------
    def _start(self) -> None:
        with _STARTING:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(
                    target=self._run, name=f"kleio-{self._name}", daemon=True
                )
                self._thread.start()

    def _reset_after_fork(self) -> None:
        # Items queued by the parent belong to the parent, which writes them itself.
        self._queue, self._wake, self._drained = deque(), threading.Event(), threading.Condition()
        self._busy, self._thread, self._store, self._spool_path = False, None, None, None
        self._inflight = []

    def _take(self, count: int) -> list[Any]:
        items = []
        popleft = self._queue.popleft
        try:
            for _ in range(count):
                items.append(popleft())
        except IndexError:
            pass
        return items

    def _events(self, items: list[Any]) -> list[Event]:
        return self._prepare(items) if self._prepare is not None else items

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            while self._queue:
                # Spooling: take everything, so a dead store cannot make memory grow.
                count = len(self._queue) if self._spool_path is not None else BATCH
                self._busy = True
                events: list[Event] = []
                try:
                    events = self._inflight = self._events(self._take(count))
                    if events:
                        self._write(events)
                except Exception as error:  # a bug or an event no database can hold
                    self._salvage(events, error)
                finally:
                    self._busy, self._inflight = False, []
                with self._drained:  # producers held back by wait_below may go on
                    self._drained.notify_all()
            with self._drained:
                self._drained.notify_all()
            if self._closing and not self._queue:
                return

    def _write(self, batch: list[Event]) -> None:
        """Append with retries; spool after ``patience`` seconds of failure.

        Once spooling, each batch gets one attempt: the store is probed with every batch
        and the spool replayed as soon as it answers, while memory stays bounded.
        """
        started, delay = time.monotonic(), 0.05
        degraded = self._spool_path is not None
        if degraded and self._closing:  # it was down a moment ago and we are leaving
            self._spool(batch)
            return
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

    def _salvage(self, events: list[Event], error: Exception) -> None:
        """Write a failed batch event by event: one bad event must not cost the others."""
        dropped = 0 if events else 1
        for event in events:
            try:
                (self._store or self._open()).append_events([event])
                self.written += 1
            except StoreError:
                self._spool([event])
            except Exception:
                dropped += 1
        if dropped:
            self.dropped += dropped
            self.last_error = f"{type(error).__name__}: {error}"
            if self._on_dropped is not None:
                self._on_dropped(dropped, self.last_error)

    def _open(self) -> Store:
        self._store = self._store_factory()
        return self._store

    # -- the spool ---------------------------------------------------------------------
    def _spool(self, events: list[Event]) -> None:
        if not events:
            return
        if self._spool_folder is None:
            raise StoreError(f"{len(events)} events could not be written: {self.last_error}")
        if self._spool_path is None:
            self._spool_path = new_spool_path(self._spool_folder, events[0].trial, self._name)
        write_spool(self._spool_path, events)
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


_STARTING = threading.Lock()


def _new_starting_lock() -> None:
    global _STARTING
    _STARTING = threading.Lock()


os.register_at_fork(after_in_child=_new_starting_lock)
