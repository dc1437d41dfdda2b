"""Writing journal events: keys that are unique, ordered, and safe to append twice, and
appending them so that an event the store refuses costs only itself."""

from __future__ import annotations

import functools
import itertools
import operator
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from kleio.forking import at_fork
from kleio.store.base import Columns, Event, Store, StoreUnavailable
from kleio.store.keys import event_key, event_keys, ranked_writer


class EventWriter:
    """Makes the events of one writer: a fresh writer id per process, time that never
    goes backwards and a counter, so every key is unique and the writer's order holds.

    A forked child gets a new writer id on its first event: reusing the parent's would
    give colliding keys, and the store skips an event whose key it already has. ``rank``:
    the writer writes for that rank of a parallel launch, which its ids end with (a
    forked child's too: see :func:`~kleio.store.keys.ranked_writer`).
    """

    def __init__(self, rank: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rank = rank
        self._pid = -1
        self._renew()
        at_fork(self, after_in_child=_after_fork)

    def _renew(self) -> None:
        self.id = os.urandom(6).hex()  # as secrets.token_hex, without its imports
        if self._rank is not None:
            self.id = ranked_writer(self.id, self._rank)
        self._counter = itertools.count()
        self._last = 0.0
        self._pid = os.getpid()

    def event(self, trial: str, kind: str, data: dict[str, Any]) -> Event:
        with self._lock:
            if self._pid != os.getpid():
                self._renew()
            seconds = time.time()
            if seconds < self._last:
                seconds = self._last
            self._last = seconds
            return Event(
                trial, kind, event_key(seconds, self.id, next(self._counter)), seconds, data
            )

    def events(self, trial: str, items: list[tuple[str, float, dict[str, Any]]]) -> list[Event]:
        """Events for ``(kind, time, data)`` items in their order, times made monotonic."""
        kinds, times, datas = map(_kind_of, items), map(_time_of, items), map(_data_of, items)
        return self.events_of(trial, kinds, times, datas)

    def events_of(
        self, trial: str, kinds: Iterable[str], times: Iterable[float], datas: Iterable[Any]
    ) -> list[Event]:
        """Events of the same items given as columns (kinds, times, data)."""
        times, keys = self._keyed(times)
        # The builtins make the events (a third faster than a comprehension and Event's
        # own __new__).
        columns = zip(itertools.repeat(trial), kinds, keys, times, datas)
        return list(map(_make_event, columns))

    def columns(self, trial: str, kind: str, times: Iterable[float], datas: list[Any]) -> Columns:
        """The events of one kind of the same items, as :class:`Columns`: no event is
        made (see :meth:`Store.append_columns <kleio.store.base.Store.append_columns>`)."""
        times, keys = self._keyed(times)
        return Columns(trial, kind, list(keys), times, datas)

    def _keyed(self, times: Iterable[float]) -> tuple[list[float], Iterable[str]]:
        """The times of a batch made monotonic, and the batch's keys (see event_keys)."""
        with self._lock:
            if self._pid != os.getpid():
                self._renew()
            # The builtins loop over the items (a million per second of statistics).
            times = list(itertools.accumulate(times, max, initial=self._last))
            del times[0]
            if not times:
                return [], ()
            self._last = times[-1]
            first = next(self._counter)
            self._counter = itertools.count(first + len(times))
        return times, event_keys(self.id, times, first)


_kind_of, _time_of, _data_of = (operator.itemgetter(index) for index in range(3))
_make_event = functools.partial(tuple.__new__, Event)  # an Event of its five fields


def _after_fork(event_writer: EventWriter) -> None:
    # The parent may have forked while one of its threads held the lock.
    event_writer._lock = threading.Lock()
    event_writer._renew()


#: The writer of this process for events the core journals (statuses, executions).
writer = EventWriter()


def append_isolating(store: Store, events: Sequence[Event]) -> list[tuple[Event, Exception]]:
    """Append ``events``; returns those the store refuses, each with its error.

    A failure that is not an outage (a document too deep or too large for MongoDB, data
    JSON cannot encode) is the event's: the batch is split in halves until each refused
    event is alone, and the others are appended (appending is idempotent, so a half
    that was partly written is completed). If every event is refused, the store is
    failing, not the events: :class:`StoreUnavailable` is raised, as for an outage.
    """
    try:
        if isinstance(events, Columns):
            store.append_columns(events)
        else:
            store.append_events(events)
        return []
    except StoreUnavailable:
        raise
    except Exception as error:
        if len(events) == 1:
            return [(events[0], error)]
        first = error
    middle = len(events) // 2
    refused = append_isolating(store, events[:middle])
    refused += append_isolating(store, events[middle:])
    if len(refused) == len(events):
        raise StoreUnavailable(str(first) or type(first).__name__)
    return refused
