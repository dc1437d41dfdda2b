"""Recording what a script prints: its byte streams turned into output events
(:mod:`kleio.core.model.printed`) as they are read, cut at UTF-8 character boundaries."""

from __future__ import annotations

import threading
import time
from collections import deque

from kleio.core.model.journal import EventWriter
from kleio.core.model.printed import CHUNK, output_data
from kleio.core.running.sink import EventSink

#: Seconds output may wait before it is journalled (what ``kleio tail -f`` lags by).
FLUSH_INTERVAL = 0.2


def utf8_boundary(data: bytes | bytearray, limit: int) -> int:
    """The largest cut at most ``limit`` that leaves no incomplete UTF-8 character before it.

    Bytes that are not UTF-8 are cut anywhere; they are journalled in base64 anyway.
    """
    cut = min(limit, len(data))
    start = cut
    while start > 0 and cut - start < 3 and data[start - 1] & 0xC0 == 0x80:
        start -= 1  # step back over continuation bytes
    if start == 0:
        return cut
    lead = data[start - 1]
    length = (
        2 if lead & 0xE0 == 0xC0 else 3 if lead & 0xF0 == 0xE0 else 4 if lead & 0xF8 == 0xF0 else 1
    )
    return start - 1 if length > cut - start + 1 else cut


class OutputRecorder:
    """Turns a byte stream into output events, never splitting a UTF-8 character.

    Each event bears the time its first byte was read, not the time it was journalled,
    and an event never joins two reads (but to complete a character): output sits at its
    true place among the script's statistics, so a branch point cuts it where it should
    and stdout and stderr interleave as they were written.
    """

    def __init__(
        self,
        sink: EventSink,
        writer: EventWriter,
        trial_id: str,
        kind: str,
        interval: float = FLUSH_INTERVAL,
    ):
        self._sink, self._writer, self._trial, self._kind = sink, writer, trial_id, kind
        self._pending = bytearray()
        #: (end of a read, counted from the start of the stream; when it was read)
        self._reads: deque[tuple[int, float]] = deque()
        self._emitted = 0
        self._interval = interval
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self.total = 0
        #: Fields every output event of the stream carries besides its bytes (a rank's).
        self.extra: dict[str, object] = {}

    def add(self, data: bytes) -> None:
        """Record a read; waits while the sink holds as much as it may (so a script
        printing faster than the store writes waits for it, and memory stays bounded)."""
        with self._lock:
            self._pending += data
            self.total += len(data)
            self._reads.append((self.total, time.time()))
            self._emit(final=False, due=time.monotonic() - self._last >= self._interval)
        self._sink.hold_back()  # outside the lock: the heartbeat thread ticks through it

    def tick(self) -> None:
        """Journal what has waited ``interval`` seconds (called periodically)."""
        with self._lock:
            self._emit(final=False, due=time.monotonic() - self._last >= self._interval)

    def finish(self) -> None:
        with self._lock:
            self._emit(final=True, due=True)

    def _emit(self, final: bool, due: bool) -> None:
        """Full chunks always; a partial one when ``due``; everything when ``final``."""
        items = []
        while self._pending and (due or len(self._pending) >= CHUNK):
            read_end, moment = self._reads[0]
            limit = min(CHUNK, read_end - self._emitted)
            cut = utf8_boundary(self._pending, limit)
            if cut == 0:  # a character continues in the next read: take it along
                limit = min(CHUNK, len(self._pending))
                cut = (
                    limit
                    if final and limit == len(self._pending)
                    else utf8_boundary(self._pending, limit)
                )
            if cut == 0:  # only the start of a character: wait for the rest
                break
            piece = bytes(self._pending[:cut])
            del self._pending[:cut]
            self._emitted += cut
            while self._reads and self._reads[0][0] <= self._emitted:
                self._reads.popleft()
            items.extend(
                (self._kind, moment, {**data, **self.extra}) for data in output_data(piece)
            )
        if items:
            self._sink.put_many(self._writer.events(self._trial, items))
        if items or due:
            self._last = time.monotonic()
