"""What the readers skipped as unreadable (events and artifacts another program damaged),
gathered while a command or a dashboard request runs and said once, after its output.

Apart from :mod:`kleio.core.model.schema` (what a document, an event or a blob's
metadata may hold), because every command gathers but few read: ``kleio python ...``
enters :func:`noting_unreadable` like every command, and importing the schema (its
typed dictionaries and patterns) cost its start about 1 ms.

What is gathered belongs to a thread (a :class:`threading.local`): the dashboard serves
each request in a thread of its own, and each request says only what its own readers
skipped. Every command that reads has :mod:`threading` loaded already (the SQLite store
imports it), so this costs no import that :mod:`contextvars` would (0.3 ms).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Unreadable:
    """What the readers of one command (or one request) skipped: events and blobs whose
    data no Kleio writes. Counts by trial and the first few distinct problems: a
    million damaged statistics cost a counter, not a list."""

    #: Distinct problems kept to be named.
    SHOWN = 5

    def __init__(self) -> None:
        self.events: dict[str, int] = {}
        self.blobs: dict[str, int] = {}
        self.problems: dict[str, None] = {}
        self.unnamed = 0
        #: What was counted (an event's trial, kind and key; a blob's id): two readers
        #: of one command that skip the same event count it once.
        self.seen: set[Any] = set()

    def add(self, trial: Any, problem: str, blob: bool = False, identity: Any = None) -> None:
        if identity is not None:
            if identity in self.seen:
                return
            self.seen.add(identity)
        counts = self.blobs if blob else self.events
        counts[trial] = counts.get(trial, 0) + 1
        if problem in self.problems:
            return
        if len(self.problems) < self.SHOWN:
            self.problems[problem] = None
        else:
            self.unnamed += 1

    def __bool__(self) -> bool:
        return bool(self.events or self.blobs)

    def describe(self) -> str:
        """``skipped 3 events of trial ab12cd3 that cannot be read (another program
        wrote them: stdout data is an integer, not an object, ...)``."""
        from kleio.core.model.trial import short_id

        counted = []
        for counts, name in ((self.events, "event"), (self.blobs, "artifact")):
            total = sum(counts.values())
            if total:
                counted.append(f"{total} {name}{'s' if total > 1 else ''}")
        trials = list(dict.fromkeys([*self.events, *self.blobs]))
        named = ", ".join(short_id(t) if isinstance(t, str) else repr(t) for t in trials)
        more = f"; and {self.unnamed} more" if self.unnamed else ""
        return (
            f"skipped {' and '.join(counted)} of trial{'s' if len(trials) > 1 else ''} {named}"
            f" that cannot be read (another program wrote them: {'; '.join(self.problems)}"
            f"{more})"
        )


#: The gathering of this thread's command or request (its ``found``), if any.
_GATHERING = threading.local()


def _found() -> Unreadable | None:
    return getattr(_GATHERING, "found", None)


def skip_unreadable(trial: Any, problem: str, blob: bool = False, identity: Any = None) -> None:
    """Note that a reader skipped an event (or an artifact's blob) of ``trial``
    (``identity``: what names it, so that it counts once); said once by the command (see
    :func:`noting_unreadable`), or at once on stderr when no command notes them."""
    found = _found()
    if found is not None:
        found.add(trial, problem, blob, identity)
        return
    alone = Unreadable()
    alone.add(trial, problem, blob)
    on_stderr(alone.describe())


def on_stderr(message: str) -> None:
    """Say ``message`` as Kleio does outside a command (the reading API, a script's
    ``load_statistics``): one line on stderr."""
    print(f"kleio: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def noting_unreadable(say: Callable[[str], None] | None = None) -> Iterator[Unreadable]:
    """What readers skip while inside, gathered; at the end ``say`` is given the one
    warning (when anything was skipped). Nested, the outer one gathers (and says)."""
    outer = _found()
    if outer is not None:
        yield outer
        return
    found = Unreadable()
    _GATHERING.found = found
    try:
        yield found
    finally:
        _GATHERING.found = None
        if found and say is not None:
            say(found.describe())
