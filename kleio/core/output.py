"""Output events: how bytes a script printed are journalled and read back.

Output is journalled as ``stdout``/``stderr`` events of at most :data:`CHUNK` bytes:
runs of valid UTF-8 as ``{"text": ...}``, other bytes as ``{"base64": ...}``, so nothing a
script prints can break the journal and valid text comes back byte for byte.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from kleio.core.journal import EventWriter
from kleio.core.sink import EventSink

#: Bytes of output per journalled event at most.
CHUNK = 16 * 1024
#: Output events read per round trip: a page stays a few megabytes.
OUTPUT_PAGE = 256
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


def output_data(chunk: bytes) -> list[dict[str, str]]:
    """The event data of output bytes: runs of valid UTF-8 as ``{"text": ...}``, the
    bytes between them as ``{"base64": ...}``."""
    pieces = []
    while chunk:
        try:
            pieces.append({"text": chunk.decode("utf-8")})
            break
        except UnicodeDecodeError as error:
            if error.start:
                pieces.append({"text": chunk[: error.start].decode("utf-8")})
            import base64  # here: most output is text, and a run's start pays for imports

            pieces.append({"base64": base64.b64encode(chunk[error.start : error.end]).decode()})
            chunk = chunk[error.end :]
    return pieces


def output_bytes(data: dict[str, Any]) -> bytes:
    """The bytes an output event holds."""
    if "text" in data:
        return data["text"].encode("utf-8")
    import base64

    return base64.b64decode(data.get("base64", ""))


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
            items.extend((self._kind, moment, data) for data in output_data(piece))
        if items:
            self._sink.put_many(self._writer.events(self._trial, items))
        if items or due:
            self._last = time.monotonic()
