"""Blobs as the stores cut and name them: bytes in chunks, and ids that tell when their
upload started."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kleio.store.base import BlobSource


def chunks_of(source: BlobSource, size: int) -> Iterator[bytes]:
    """Split bytes, a binary file object or an iterable of bytes into ``size`` chunks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    if hasattr(source, "read"):
        pieces: Iterable[bytes] = iter(lambda: source.read(size), b"")
    else:
        pieces = source
    pending = bytearray()
    for piece in pieces:
        if isinstance(piece, str):
            raise TypeError("a blob must be bytes or a binary file, not text")
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def new_blob_id() -> str:
    """32 hex characters starting with the time in milliseconds, so the age of an upload
    that never completed shows in its chunks (see :meth:`kleio.store.base.Store.reclaim`)."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


def blob_age(blob_id: str, now: float | None = None) -> float:
    """Seconds since the upload of ``blob_id`` started; infinite for an id that does not
    tell (made before ids held the time, or not by :func:`new_blob_id`)."""
    try:
        started = int(blob_id[:12], 16) / 1000
    except ValueError:
        return math.inf
    age = (time.time() if now is None else now) - started
    return age if age >= 0 else math.inf
