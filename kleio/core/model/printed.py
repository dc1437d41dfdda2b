"""Output events: how bytes a script printed are journalled and read back.

Output is journalled as ``stdout``/``stderr`` events of at most :data:`CHUNK` bytes:
runs of valid UTF-8 as ``{"text": ...}``, other bytes as ``{"base64": ...}``, so nothing a
script prints can break the journal and valid text comes back byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kleio.store.base import Event

#: Bytes of output per journalled event at most.
CHUNK = 16 * 1024
#: Output events read per round trip: a page stays a few megabytes.
OUTPUT_PAGE = 256


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
    """The bytes an output event holds (TypeError, AttributeError, KeyError or ValueError for
    data no Kleio writes: see :func:`readable_output`)."""
    if "text" in data:
        return data["text"].encode("utf-8")
    import base64

    return base64.b64decode(data["base64"], validate=True)


def readable_output(event: Event) -> bytes | None:
    """The bytes an output event holds, or None for one no Kleio wrote (skipped, and
    noted: see :func:`~kleio.core.model.unreadable.skip_unreadable`). Checked as it is
    decoded: the check costs nothing on the output of a good trial."""
    try:
        return output_bytes(event.data)
    except (TypeError, AttributeError, KeyError, ValueError) as error:
        from kleio.core.model.schema import data_problem, skip_event

        skip_event(event, data_problem(event.kind, event.data) or f"{event.kind} data: {error}")
        return None


def rank_of(event: Event) -> int:
    """The rank that printed an output event: 0 for a process alone."""
    rank = event.data.get("rank", 0) if type(event.data) is dict else 0
    return rank if type(rank) is int else 0


class RankedLines:
    """The output of several ranks interleaved, each line after ``[rank N] ``: a line a
    rank left unfinished when another printed is ended first, so no line mixes two."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._open = False  # the last rank's line is unfinished

    def __call__(self, rank: int, printed: bytes) -> bytes:
        out = bytearray()
        if self._open and rank != self._last:
            out += b"\n"
            self._open = False
        prefix = f"[rank {rank}] ".encode()
        for line in printed.splitlines(keepends=True):
            if not self._open:
                out += prefix
            out += line
            self._open = not line.endswith(b"\n")
        self._last = rank
        return bytes(out)


def readable_events(events: Iterable[Event]) -> Iterator[Event]:
    """The events whose data holds what their kind's does (the schema's
    :data:`~kleio.core.model.schema.EVENT_DATA`); the others skipped and noted. For the
    kinds readers take whole and few (executions, notes, resources, samples), not for
    statistics or output (checked as they are decoded)."""
    from kleio.core.model.schema import data_problem, skip_event

    for event in events:
        problem = data_problem(event.kind, event.data)
        if problem is None:
            yield event
        else:
            skip_event(event, problem)
