"""Event keys: their layout (the time in microseconds, the writer, the writer's counter;
or, for a numbered log, the number alone), and the order and identity they give events.

A key orders the events of one trial and kind and identifies each of them (see the
guarantees of :mod:`kleio.store.base`). Its layout is written here only: every writer
(``kleio.core.model.journal.EventWriter``) and every reader of time bounds takes its
keys from these functions.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kleio.store.base import Event

#: A key's time: microseconds since the epoch, rounded, fixed width (until the year 5138)
#: so that keys sort as their times.
_TIME = "%017d"


def _layout(writer: str) -> str:
    """The ``%`` format of ``writer``'s keys, of (microseconds + 0.5, counter): the time,
    the writer and its counter, fixed width, between dots."""
    return f"{_TIME}.{writer}.%012d"


#: A key of a sequence (a log whose events are numbered 0, 1, 2...): the number, fixed
#: width (20 digits hold any 64-bit count) so that keys sort as their numbers.
_NUMBER = "%020d"


def sequence_key(number: int) -> str:
    """The key of the ``number``-th event of a sequence: a log whose writers number its
    events instead of timing them, so that every reader reads one order (see
    ``kleio.integrations.optuna``). Such keys never meet time keys: a sequence is an
    event kind of its own."""
    return _NUMBER % number


def time_key(seconds: float) -> str:
    """The key prefix of events written at ``seconds`` (microseconds, fixed width)."""
    return _TIME % (seconds * 1_000_000 + 0.5)


def event_key(seconds: float, writer: str, counter: int) -> str:
    """The key of the ``counter``-th event of ``writer``, written at ``seconds``.

    Writers must never go back in time (use the last time if the clock does) and must
    use a writer id made of ``[0-9a-z]`` that no other writer uses.
    """
    return _layout(writer) % (seconds * 1_000_000 + 0.5, counter)


def writer_of(key: str) -> str | None:
    """The writer of an event, from its key (None for a sequence's key, which names none)."""
    parts = key.split(".")
    return parts[1] if len(parts) == 3 else None


#: What ends the writer id of one rank of a parallel launch: ``r`` and the rank. A
#: writer's own id is hexadecimal, so the letter cannot be part of it.
_RANK_MARK = "r"


def ranked_writer(writer: str, rank: int) -> str:
    """The id of ``writer`` when it writes for rank ``rank`` of a parallel launch: every
    key it makes then tells its rank (:func:`rank_of_writer`), wherever it is read."""
    return f"{writer}{_RANK_MARK}{rank}"


def rank_of_writer(writer: str | None) -> int | None:
    """The rank a writer id names (:func:`ranked_writer`), None for one of no rank."""
    if not writer:
        return None
    head, mark, rank = writer.rpartition(_RANK_MARK)
    return int(rank) if mark and head and rank.isdigit() else None


def event_keys(writer: str, times: list[float], first: int) -> Iterator[str]:
    """The keys of ``writer``'s events written at ``times``, counted from ``first``, as
    :func:`event_key` makes them one by one: made by the builtins (a million a second of
    statistics: a third faster than a comprehension)."""
    microseconds = [seconds * 1_000_000 + 0.5 for seconds in times]
    return map(_layout(writer).__mod__, zip(microseconds, itertools.count(first)))


_key_of = operator.itemgetter(2)  # an event's key
_group_of = operator.itemgetter(0, 1)  # an event's (trial, kind)


def key_range(since: float | None, until: float | None) -> tuple[str | None, str | None]:
    """Inclusive time bounds as ``(lowest key, key above the highest)``: the key of the
    microsecond of ``since``, and that of the microsecond after ``until``'s. (Adding a
    microsecond to ``until`` instead rounded back to its own for one time in twenty:
    near 1.7e9 a float's step is 0.24 us, and the event at ``until`` was left out.)"""
    low = time_key(since) if since is not None else None
    high = _TIME % (int(until * 1_000_000 + 0.5) + 1) if until is not None else None
    return low, high


def group_events(events: Iterable[Event]) -> dict[tuple[str, str], list[Event]]:
    """Events by ``(trial, kind)``, each group in key order, an event given twice once."""
    events = list(events)
    if events and len(set(map(_group_of, events))) == 1:
        keys = list(map(_key_of, events))
        if all(map(operator.lt, keys, keys[1:])):  # one writer's batch: already so
            return {(events[0].trial, events[0].kind): events}
    groups: dict[tuple[str, str], dict[str, Event]] = {}
    for event in events:
        groups.setdefault((event.trial, event.kind), {}).setdefault(event.key, event)
    return {group: sorted(by_key.values(), key=_key_of) for group, by_key in groups.items()}
