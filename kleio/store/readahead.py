"""Reading ahead: the next pages of a long read fetched by a thread while the caller
works on those before (see :meth:`kleio.store.base.Store.read_data`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Pages :func:`read_ahead` holds at most.
AHEAD = 2


def read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, taken by a thread while the caller works on those before: on two
    cores, a database fetching without the GIL (SQLite) or waiting for the network
    overlaps the caller's work. At most :data:`AHEAD` items wait, so memory stays
    bounded; the thread stops after its current item when the caller stops, and an
    error taking one is raised to the caller."""
    import queue  # only a process reading many events needs it: off the start-up path
    import threading

    waiting: queue.Queue = queue.Queue(maxsize=AHEAD)
    stopped = threading.Event()

    def hand_over(item: tuple) -> bool:
        while not stopped.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def take() -> None:
        try:
            for item in items:
                if not hand_over((True, item, None)):
                    return
        except BaseException as error:  # raised again in the caller's thread
            hand_over((False, None, error))
        else:
            hand_over((False, None, None))

    threading.Thread(target=take, name="kleio-read-ahead", daemon=True).start()
    try:
        while True:
            more, item, error = waiting.get()
            if error is not None:
                raise error
            if not more:
                return
            yield item
    finally:
        stopped.set()
