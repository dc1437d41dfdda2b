"""One way to write events: queued, batched by a background thread, never lost silently.

Both the launcher (the script's output) and ``kleio_logger`` (statistics) write through
an :class:`EventSink`. ``put`` only appends to a queue, so the caller never waits for
the database. A thread appends the queue in batches of at most ``batch`` events, at
least every ``interval`` seconds. Appending is idempotent, so an event written again
after an uncertain failure is never duplicated. What can go wrong, and what the sink
does about it:

The store does not answer (:class:`StoreUnavailable`: unreachable, locked, disk full)
    The batch is retried with backoff; once it has failed for ``patience`` seconds (the
    ``write_patience`` setting; or sooner when ``limit`` events wait), the pending
    events go to a spool file under ``$KLEIO_HOME/spool/`` and the sink keeps trying;
    the spool is replayed as soon as the store answers again, or later by ``kleio sync``.
Neither the store nor the spool takes the events (a full disk under both)
    The sink holds them in memory, at most ``limit`` events, and keeps trying both;
    producers are no longer held back (:meth:`wait_below` returns at once) and events
    beyond the limit are dropped, the newest first, so what is kept is the oldest part.
The store refuses some events (any other error)
    The batch is split until the refused events are alone; the others are written and
    the refused ones are dropped: they could never be stored, so they are neither
    retried nor spooled. A batch whose every event is refused is the store's failure,
    not the events': it is kept as in an outage.
The writer may no longer write (``allowed()`` is false: another execution holds the trial)
    Everything queued, and everything put afterwards, is dropped.

Whatever happens, the thread survives. Each kind of trouble is told once through
``on_trouble(message)``; :attr:`EventSink.lost` and :attr:`EventSink.refused` count by
event kind what was not journalled, for the owner to tell at exit.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

from kleio.core.model.journal import append_isolating
from kleio.core.running.spool import new_spool_path, replay_spool, write_spool
from kleio.forking import at_fork
from kleio.store.base import Columns, Event, Store, StoreError, StoreUnavailable

#: Events appended per call at most.
BATCH = 5000
#: Events waiting at most, by default (producers wait, or the excess is dropped).
LIMIT = 1_000_000
#: Seconds of retries for the last events when the sink closes.
CLOSING_PATIENCE = 2.0
#: Longest pause between two attempts while nothing takes the events.
STUCK_PAUSE = 2.0

#: Signals a background thread leaves to the main thread: a signal the process gets is
#: handled there, and a main thread blocked in a system call is woken by it.
_ASYNC_SIGNALS = frozenset(
    getattr(signal, name)
    for name in (
        *("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM"),
        *("SIGCHLD", "SIGPIPE", "SIGWINCH", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU"),
        *("SIGVTALRM", "SIGPROF", "SIGIO", "SIGURG", "SIGXCPU", "SIGXFSZ"),
    )
    if hasattr(signal, name)
)


def background_thread(target: Callable[..., Any], name: str, *args: Any) -> threading.Thread:
    """A started daemon thread running ``target(*args)`` with asynchronous signals
    blocked, so the kernel gives them to the main thread.

    Python runs signal handlers in the main thread only. A signal the kernel delivers
    to another thread leaves a main thread blocked in a system call (a multiprocessing
    worker waiting on its task queue's lock) asleep, and the handler never runs.
    """

    def run() -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)
        target(*args)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def leaving_time(lease: float) -> float:
    """Seconds a writer closing as its process leaves gets (half the lease, at most 30):
    past the lease another process may resume the trial, and what is not written by
    then is spooled, or counted lost."""
    return max(0.5, min(30.0, lease / 2))


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


class EventQueue(deque):
    """What a sink's producers put, in order, until its thread takes it: here, events.

    ``put`` is a ``deque`` append: safe from any thread and cheap enough for a training
    loop. Only the sink's thread takes from the front; a producer held back while nothing
    takes the events may drop from the back meanwhile (:meth:`EventSink.wait_below`).
    """

    __slots__ = ()

    put = deque.append

    def take(self, count: int | None = None) -> list[Event]:
        """The oldest ``count`` items (all when None), removed, as events."""
        items = []
        popleft = self.popleft
        try:
            for _ in range(len(self) if count is None else count):
                items.append(popleft())
        except IndexError:  # a producer dropped the newest meanwhile
            pass
        return self._events(items)

    def take_newest(self, count: int) -> list[Event]:
        """The newest ``count`` items, removed, as events in the order they were put."""
        items = []
        pop = self.pop
        try:
            for _ in range(count):
                items.append(pop())
        except IndexError:
            pass
        items.reverse()
        return self._events(items)

    def _events(self, items: list[Any]) -> list[Event]:
        return items


#: Where a statistic's time waits in the queue: in the call's own dict of values (made
#: for the call by ``**values``), under a key no statistic can have (keys cannot hold
#: NUL). A tuple a call doubled the objects the garbage collector tracks, and its
#: collections took a quarter of a training loop's calls.
_TIME = "\x00time"
_DICTS = frozenset((dict,))
_append = deque.append


class StatisticQueue(EventQueue):
    """A logger's queue: the statistics a loop logs, and now and then another event, in
    the order they were logged, turned into events only by the sink's thread.

    :meth:`append` is the in-loop path: one call a statistic, and no object for the
    garbage collector to track beyond the statistic's own dict. What :meth:`put` takes is
    a ``(kind, time, data)`` item. How they wait is this class's business alone: the
    sink's thread takes them as columns (kinds, times, data), and ``events_of(kinds,
    times, datas)`` makes their events in one pass of the builtins over a batch. With
    ``columns_of(times, datas)``, a batch of statistics alone becomes the
    :class:`~kleio.store.base.Columns` it returns, which the store appends without an
    event per statistic (see ``Store.append_columns``).
    """

    __slots__ = ("_events_of", "_columns_of")

    def __init__(
        self,
        events_of: Callable[[Iterable[str], Iterable[float], Iterable[Any]], list[Event]],
        columns_of: Callable[[list[float], list[Any]], Columns] | None = None,
    ):
        super().__init__()
        self._events_of = events_of
        self._columns_of = columns_of

    def append(self, values: dict[str, Any], time: float) -> None:  # type: ignore[override]
        """Queue a statistic logged at ``time``. ``values`` is the caller's to give away:
        the queue keeps it, and changes it until its event is made."""
        values[_TIME] = time
        _append(self, values)

    def _events(self, items: list[Any]) -> Sequence[Event]:
        if _DICTS.issuperset(map(type, items)):  # statistics of the in-loop path alone
            times = list(map(dict.pop, items, repeat(_TIME)))
            if self._columns_of is not None:
                return self._columns_of(times, items)
            return self._events_of(repeat("statistic"), times, items)
        kinds, times, datas = zip(*map(_item_of, items), strict=True)
        return self._events_of(kinds, times, datas)


def _item_of(queued: tuple[str, float, Any] | dict[str, Any]) -> tuple[str, float, Any]:
    if type(queued) is dict:
        return "statistic", queued.pop(_TIME), queued
    return queued


class EventSink:
    """A queue of events and the thread that writes it (see the module documentation).

    ``put`` is a ``deque`` append (see :class:`EventQueue`). With a ``queue`` of its
    own, such as a :class:`StatisticQueue`, the queue holds whatever its producer finds
    cheapest to make and turns a batch of it into events in the writing thread.
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
        batch: int = BATCH,
        limit: int = LIMIT,
        queue: EventQueue | None = None,
        allowed: Callable[[], bool] | None = None,
        on_spool: Callable[[int], None] | None = None,
        on_trouble: Callable[[str], None] | None = None,
    ):
        """``wake_at``: queued items that make the thread write before ``interval``.
        ``allowed()`` is asked before each write. ``on_spool(count)`` is told of events
        spooled, ``on_trouble(message)`` once of each kind of trouble."""
        self._store_factory = store_factory
        self._store: Store | None = None
        self._spool_folder = spool
        self._name = name
        self.interval = interval
        self.patience = patience
        self._wake_at = wake_at
        self._batch = batch
        self._limit = limit
        self._allowed = allowed
        self._on_spool = on_spool
        self._on_trouble = on_trouble
        self._queue = EventQueue() if queue is None else queue
        self._held: list[Event] = []  # taken, but neither written nor spooled yet
        self._wake = threading.Event()
        self._retry = threading.Event()  # try again now, though nothing took events
        self._attempts = 0  # rounds in which nothing took the events
        self._drained = threading.Condition()
        self._busy = False  # the thread holds items it has not written yet
        self._inflight: list[Event] = []
        self._closing = False
        self._deadline: float | None = None  # when closing gives up on held events
        self._stuck = False  # neither the store nor the spool takes events
        self._revoked = False
        self._told: set[str] = set()
        self._thread: threading.Thread | None = None
        self.spooled = 0
        self.written = 0
        #: Events dropped because nothing could take them, or the writer lost the right.
        self.lost: Counter[str] = Counter()
        #: Events dropped because the store refuses them.
        self.refused: Counter[str] = Counter()
        self._spool_path: Path | None = None
        self.last_error: str | None = None
        #: Why events were lost or refused, for the owner's summary.
        self.reasons: dict[str, str] = {}
        at_fork(self, after_in_child=EventSink._reset_after_fork)

    # -- producers ---------------------------------------------------------------------
    @property
    def backlog(self) -> EventQueue:
        """The queue itself. A producer that appends to it directly (the logger's in-loop
        path) calls :meth:`start` first; the thread drains it every ``interval``."""
        return self._queue

    def start(self) -> None:
        if self._thread is None:
            self._start()

    def wait_below(self, count: int, timeout: float = 60.0) -> None:
        """Block until fewer than ``count`` items wait: backpressure for a producer that
        outruns the store, so memory stays bounded. While nothing takes the events it
        does not block: the excess over the limit is dropped instead."""
        if self._stuck or self._revoked:
            self._shed()
            return
        deadline = time.monotonic() + timeout
        with self._drained:
            while len(self._queue) >= count and time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    return
                if self._stuck or self._revoked:
                    break
                self._wake.set()
                self._drained.wait(0.1)
        if self._stuck or self._revoked:
            self._shed()

    def hold_back(self) -> None:
        """Wait while ``limit`` items wait (see :meth:`wait_below`); at once below it."""
        if len(self._queue) >= self._limit:
            self.wait_below(self._limit)

    def put(self, item: Any) -> None:
        self._queue.put(item)
        if self._thread is None and not self._closing:  # closed: close() writes it
            self._start()
        if len(self._queue) >= self._wake_at:
            self._wake.set()

    def put_many(self, items: Iterable[Any]) -> None:
        self._queue.extend(items)
        if self._thread is None and not self._closing:
            self._start()
        if len(self._queue) >= self._wake_at:
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item put so far is written or spooled; False on timeout, or
        when nothing takes the events (after one more attempt, made at once)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        retried = False
        with self._drained:
            while self._queue or self._busy or self._held:
                if self._thread is None or not self._thread.is_alive():
                    return False
                if self._stuck and not self._busy:
                    if retried:
                        return False
                    retried, attempts = True, self._attempts
                    self._retry.set()
                    while self._stuck and self._attempts == attempts:
                        if not self._thread.is_alive() or (
                            deadline is not None and time.monotonic() >= deadline
                        ):
                            return False
                        self._drained.wait(0.1)
                    continue
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._drained.wait(min(remaining, 0.5) if remaining is not None else 0.5)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Write or spool everything, then stop the thread; what still cannot be taken
        ``timeout`` seconds from now is counted in :attr:`lost`.

        A closed sink still takes items, and closing it again writes them: in the
        calling thread, by the rounds the thread makes (retries, the spool, ``allowed``),
        as no thread may start once the interpreter is leaving (Python 3.12 refuses one
        in an ``atexit`` function). One thread at a time may close a sink.
        """
        patience = CLOSING_PATIENCE if timeout is None else timeout
        self._deadline = time.monotonic() + patience
        self._closing = True
        self._retry.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            # A store call may outlast the deadline by its own timeouts.
            thread.join(None if timeout is None else timeout + 5.0)
        if thread is not None and thread.is_alive():
            # The batch being written may never commit before the process ends. Keep
            # it on disk too; if it did commit, replaying it adds nothing.
            leftover = [*self._inflight, *self._held, *self._queue.take()]
            self._held = []
            if leftover and not self._revoked:
                self._spool_or_lose(leftover)
            elif leftover:
                self._lose(leftover)
        else:  # no thread (it ended): this one makes its rounds, until the deadline
            while not self._write_waiting():
                time.sleep(0.1)  # as the closing thread waits between two tries
        if self.last_error is None and not self._revoked:  # the store answered last time
            self.replay_pending()

    # -- the writing thread ------------------------------------------------------------
    def _start(self) -> None:
        with _STARTING:
            if self._thread is None and not self._closing:
                self._thread = background_thread(self._run, f"kleio-{self._name}")

    def _reset_after_fork(self) -> None:
        # Items queued by the parent belong to the parent, which writes them itself.
        self._queue.clear()
        self._wake, self._drained = threading.Event(), threading.Condition()
        self._retry = threading.Event()
        self._busy, self._thread, self._store, self._spool_path = False, None, None, None
        self._inflight, self._held, self._stuck = [], [], False

    def _run(self) -> None:
        while True:
            if not self._stuck:
                self._wake.wait(self.interval)
            elif self._closing:
                time.sleep(0.1)
            else:  # producers' wake-ups would make it hammer a full disk
                self._retry.wait(STUCK_PAUSE)
                self._retry.clear()
            self._wake.clear()
            self._write_waiting()  # False: nothing takes the events now, wait to try again
            with self._drained:
                self._drained.notify_all()
            if self._closing and not self._queue and not self._held:
                return

    def _write_waiting(self) -> bool:
        """Rounds while items wait; False as soon as one found nothing to take them."""
        while self._queue or self._held:
            self._busy = True
            try:
                progressed = self._round()
            except Exception as error:  # a bug: say it, lose only this batch
                progressed = True
                reason = f"{type(error).__name__}: {error}"
                self._lose(self._inflight, reason)
                self._tell("bug", f"{self._name} events could not be journalled ({reason})")
            except BaseException:  # a closing caller interrupted (Ctrl-C): keep the batch
                if self._inflight is not self._held:
                    self._held = [*self._inflight, *self._held]
                raise
            finally:
                self._busy, self._inflight = False, []
            with self._drained:  # producers held back by wait_below may go on
                self._drained.notify_all()
            if not progressed:
                return False
        return True

    def _round(self) -> bool:
        """Write, spool or hold the next events; False when nothing took them."""
        if not self._revoked and self._allowed is not None and not self._allowed():
            self._revoked = True
            self._tell(
                "revoked",
                f"the {self._name} of this process are no longer journalled: "
                "another execution holds the trial",
            )
        if self._revoked:
            self._lose([*self._held, *self._queue.take()])
            self._held = []
            return True
        if self._held:
            self._shed()
            events, self._held = self._held, []
        else:
            # Spooling: take everything, so a dead store cannot make memory grow.
            count = None if self._spool_path is not None else self._batch
            events = self._queue.take(count)
        self._inflight = events
        if not events or self._write(events):
            return True
        if self._closing and self._deadline is not None and time.monotonic() > self._deadline:
            self._lose([*events, *self._queue.take()])
            return True
        self._held = events
        self._shed()
        self._attempts += 1
        return False

    def _write(self, events: list[Event]) -> bool:
        """Append with retries, then spool; False if neither takes the events.

        Once degraded, each batch gets one attempt: the store is probed with every batch
        and the spool replayed as soon as it answers, while memory stays bounded.
        """
        started, delay = time.monotonic(), 0.05
        degraded = self._spool_path is not None or self._stuck
        if degraded and self._closing and self._spool(events):
            return True  # it was down a moment ago and we are leaving: spooled at once
        while True:
            try:
                self._append(events)
                self.last_error = None
                if self._stuck:
                    self._stuck = False
                    self._told.discard("stuck")
                if self._spool_path is not None:
                    self.replay_pending()
                return True
            except StoreUnavailable as error:
                self.last_error = str(error)
                # Closing bounds the wait: the process is about to exit.
                limit = min(self.patience, CLOSING_PATIENCE) if self._closing else self.patience
                if degraded or self._crowded() or time.monotonic() - started >= limit:
                    return self._spool(events)
                self._pause(delay)
                delay = min(delay * 2, 2.0)

    def _crowded(self) -> bool:
        return len(self._queue) >= self._limit

    def _pause(self, seconds: float) -> None:
        """Wait between retries; stop early when the queue reaches the limit (producers
        wait for it to shrink)."""
        end = time.monotonic() + seconds
        while not self._crowded():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(0.05, remaining))

    def _append(self, events: list[Event]) -> None:
        store = self._store or self._open()
        for start in range(0, len(events), self._batch):
            chunk = events[start : start + self._batch]
            refused = append_isolating(store, chunk)
            self.written += len(chunk) - len(refused)
            if refused:
                reason = str(refused[0][1]) or type(refused[0][1]).__name__
                self.refused.update(event.kind for event, _ in refused)
                self.reasons.setdefault("refused", reason)
                self._tell(
                    "refused",
                    f"{len(refused)} {self._name} events refused by the database were "
                    f"dropped ({reason}); the others are kept",
                )

    def _open(self) -> Store:
        self._store = self._store_factory()
        return self._store

    # -- when nothing takes the events -------------------------------------------------
    def _shed(self) -> None:
        """Drop the newest events beyond the limit (while nothing takes them)."""
        excess = len(self._held) + len(self._queue) - self._limit
        if excess > 0:
            self._lose(self._queue.take_newest(excess))

    def _lose(self, events: Iterable[Event], reason: str | None = None) -> None:
        counted = Counter(event.kind for event in events)
        if counted:
            self.lost.update(counted)
            self.reasons.setdefault("lost", reason or self.last_error or "")

    def _tell(self, trouble: str, message: str) -> None:
        if trouble not in self._told:
            self._told.add(trouble)
            if self._on_trouble is not None:
                self._on_trouble(message)

    # -- the spool ---------------------------------------------------------------------
    def _spool(self, events: list[Event]) -> bool:
        """Append events to this sink's spool file; False if it cannot be written."""
        if not events:
            return True
        if self._spool_folder is None:
            self._stuck_on("no spool")
            return False
        if self._spool_path is None:
            self._spool_path = new_spool_path(self._spool_folder, events[0].trial, self._name)
        path = self._spool_path
        try:
            size = path.stat().st_size if path.exists() else None
        except OSError:
            size = None
        try:
            write_spool(path, events)
        except OSError as error:
            _undo_append(path, size)  # a part written would be replayed, yet counted lost
            self._stuck_on(f"{error.strerror or error} in {self._spool_folder}")
            return False
        self._stuck = False
        self.spooled += len(events)
        if self._on_spool is not None:
            self._on_spool(len(events))
        return True

    def _stuck_on(self, spool_error: str) -> None:
        self._stuck = True
        self._tell(
            "stuck",
            f"the database does not take the {self._name} ({self.last_error}) and the "
            f"spool cannot be written ({spool_error}): keeping up to {self._limit:,} events "
            "in memory and trying again",
        )

    def _spool_or_lose(self, events: list[Event]) -> None:
        if not self._spool(events):
            self._lose(events)

    def replay_pending(self) -> None:
        """Replay this sink's spool file if the store answers; keep it otherwise."""
        if self._spool_path is None or not self._spool_path.exists():
            self._spool_path = None
            return
        try:
            store = self._store or self._open()
            self.written += replay_spool(store, self._spool_path, on_refused=self._refused)
            self.spooled = 0
            self._spool_path = None
        except StoreError as error:
            self.last_error = str(error)

    def _refused(self, event: Event, error: Exception) -> None:
        self.refused[event.kind] += 1
        self.reasons.setdefault("refused", str(error) or type(error).__name__)

    @property
    def spool_path(self) -> Path | None:
        return self._spool_path


def _undo_append(path: Path, size: int | None) -> None:
    """Cut a file back to ``size`` bytes (remove it if it did not exist)."""
    try:
        if size is None:
            path.unlink(missing_ok=True)
        else:
            os.truncate(path, size)
    except OSError:
        pass


_STARTING = threading.Lock()


def _new_starting_lock() -> None:
    global _STARTING
    _STARTING = threading.Lock()


os.register_at_fork(after_in_child=_new_starting_lock)
