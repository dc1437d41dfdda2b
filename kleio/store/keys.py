"""Event keys: their layout (the time in microseconds, the writer, the writer's counter),
and the order and identity they give events.

A key orders the events of one trial and kind and identifies each of them (see the
guarantees of :mod:`kleio.store.base`): every writer makes its keys here.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kleio.store.base import Event


def time_key(seconds: float) -> str:
    """The key prefix of events written at ``seconds`` (microseconds, fixed width)."""
    return "%017d" % (seconds * 1_000_000 + 0.5)  # noqa: UP031 - as EventWriter.events


def event_key(seconds: float, writer: str, counter: int) -> str:
    """The key of the ``counter``-th event of ``writer``, written at ``seconds``.

    Writers must never go back in time (use the last time if the clock does) and must
    use a writer id made of ``[0-9a-z]`` that no other writer uses.
    """
    return f"{time_key(seconds)}.{writer}.{counter:012d}"


_key_of = operator.itemgetter(2)  # an event's key
_group_of = operator.itemgetter(0, 1)  # an event's (trial, kind)


def key_range(since: float | None, until: float | None) -> tuple[str | None, str | None]:
    """Inclusive time bounds as ``(lowest key, key above the highest)``."""
    low = time_key(since) if since is not None else None
    high = time_key(until + 0.000_001) if until is not None else None
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
