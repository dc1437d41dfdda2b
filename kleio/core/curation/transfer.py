"""Moving trials between journals: ``kleio export`` and ``kleio import``.

An export is a tar archive (streamed: it may go to a pipe), format version 1::

    kleio-export.json                  {"format": "kleio-export", "version": 1, ...}
    trials/ID/trial.json               the trial document, as stored
    trials/ID/events-000001.jsonl      its events, 10,000 per part at most, one JSON
                                       object per line: {"kind", "key", "time", "data"}
    trials/ID/blobs/BLOB.json          a blob's metadata and length...
    trials/ID/blobs/BLOB               ...and its bytes
    trials/ID/end.json                 {"events": N, "blobs": M} of this trial
    end.json                           {"trials": T, "events": N, "blobs": M}, last

JSON allows NaN and infinities, as the journal does. Memory stays bounded on both sides:
events go by parts, blobs by chunks.

Importing reads the file twice: once to check it is whole (a truncated or foreign file
imports nothing), then to write. Each trial's document is created first, marked
``incomplete: importing`` (so nothing lists it), then its events and blobs are added and
the mark removed. Ids, event keys and blob ids are kept, and every write is idempotent,
so importing a file twice adds nothing and importing again finishes an interrupted import.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from kleio import __version__
from kleio.codec import compact_json
from kleio.core.curation.removal import IMPORTING, mark_complete
from kleio.core.model.errors import KleioError
from kleio.core.model.trial import INCOMPLETE, TrialDocument
from kleio.store.base import DuplicateTrialError, Event, Store

FORMAT = "kleio-export"
VERSION = 1
HEADER = "kleio-export.json"
END = "end.json"
#: Events per member of an export.
EVENTS_PER_PART = 10_000
#: Events appended per call when importing.
IMPORT_BATCH = 5_000


class TransferError(KleioError):
    """A file that is not a whole Kleio export of a format this Kleio reads."""


@dataclass
class Counts:
    trials: int = 0
    events: int = 0
    blobs: int = 0
    bytes: int = 0


def _json_bytes(value: Any) -> bytes:
    return compact_json(value).encode("utf-8")


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (a blob), for ``tarfile``."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _event_line(event: Event) -> bytes:
    record = {"kind": event.kind, "key": event.key, "time": event.time, "data": event.data}
    return _json_bytes(record) + b"\n"


def _event_of(trial_id: str, line: bytes, path: str) -> Event:
    try:
        record = json.loads(line)
        return Event(trial_id, record["kind"], record["key"], record["time"], record["data"])
    except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
        raise TransferError(
            f"{path} is damaged: an event of trial {trial_id} is not a journal event"
        ) from None


def _add(archive: tarfile.TarFile, name: str, data: bytes | None, size: int = 0, source=None):
    info = tarfile.TarInfo(name)
    info.size = len(data) if data is not None else size
    info.mtime = int(time.time())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data) if data is not None else source)


def export_trials(
    store: Store,
    documents: list[TrialDocument],
    stream: BinaryIO,
    progress: Callable[[Counts], None] | None = None,
) -> Counts:
    """Write ``documents`` with their events and blobs to ``stream`` (see the module
    documentation); returns what was written."""
    counts = Counts()
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        _add(
            archive,
            HEADER,
            _json_bytes(
                {"format": FORMAT, "version": VERSION, "kleio": __version__, "created": time.time()}
            ),
        )
        for document in documents:
            trial_id = document["_id"]
            base = f"trials/{trial_id}"
            _add(archive, f"{base}/trial.json", _json_bytes(document))
            events = part = 0
            lines: list[bytes] = []
            for event in store.read_events(trial_id, page_size=EVENTS_PER_PART):
                lines.append(_event_line(event))
                if len(lines) == EVENTS_PER_PART:
                    part += 1
                    _add(archive, f"{base}/events-{part:06d}.jsonl", b"".join(lines))
                    events += len(lines)
                    lines = []
            if lines:
                part += 1
                _add(archive, f"{base}/events-{part:06d}.jsonl", b"".join(lines))
                events += len(lines)
            blobs = 0
            for blob in store.find_blobs({"trial": trial_id}):
                _add(
                    archive,
                    f"{base}/blobs/{blob.id}.json",
                    _json_bytes({"metadata": blob.metadata, "length": blob.length}),
                )
                _add(
                    archive,
                    f"{base}/blobs/{blob.id}",
                    None,
                    size=blob.length,
                    source=io.BufferedReader(_ChunkReader(store.read_blob(blob.id))),
                )
                blobs += 1
                counts.bytes += blob.length
            _add(archive, f"{base}/end.json", _json_bytes({"events": events, "blobs": blobs}))
            counts.trials += 1
            counts.events += events
            counts.blobs += blobs
            if progress is not None:
                progress(counts)
        _add(
            archive,
            END,
            _json_bytes({"trials": counts.trials, "events": counts.events, "blobs": counts.blobs}),
        )
    return counts


def _open(path: str) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except FileNotFoundError:
        raise TransferError(f"no file {path}") from None
    except IsADirectoryError:
        raise TransferError(f"{path} is a folder, not a Kleio export") from None
    except PermissionError:
        raise TransferError(f"cannot read {path}: permission denied") from None
    except (tarfile.TarError, EOFError, OSError):
        raise TransferError(f"{path} is not a Kleio export (not a tar archive)") from None


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text


def _read_json(archive: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> Any:
    stream = archive.extractfile(member)
    if stream is None:
        raise TransferError(f"{path} is damaged: {member.name} is not a file")
    try:
        data = stream.read()
    except (tarfile.TarError, EOFError, OSError) as error:  # cut inside the member
        raise TransferError(
            f"{path} is truncated or damaged ({_reason(error)}); nothing was imported"
        ) from None
    try:
        return json.loads(data)
    except ValueError:
        raise TransferError(f"{path} is damaged: {member.name} is not JSON") from None


def _members(archive: tarfile.TarFile, path: str) -> Iterator[tarfile.TarInfo]:
    try:
        yield from archive
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise TransferError(
            f"{path} is truncated or damaged ({_reason(error)}); nothing was imported"
        ) from None


def check_export(path: str) -> Counts:
    """Read the whole file: its format, version and completeness; what it holds."""
    with _open(path) as archive:
        members = _members(archive, path)
        first = next(members, None)
        if first is None or first.name != HEADER:
            raise TransferError(f"{path} is not a Kleio export (no {HEADER} first)")
        header = _read_json(archive, first, path)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise TransferError(f"{path} is not a Kleio export")
        version = header.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise TransferError(
                f"{path} was exported by a newer Kleio (format version {version}; this Kleio "
                f"reads up to {VERSION}): upgrade kleio to import it"
            )
        seen, end = Counts(), None
        trials_ended: set[str] = set()
        for member in members:
            if end is not None:
                raise TransferError(f"{path} is damaged: {member.name} after {END}")
            name = PurePosixPath(member.name)
            if member.name == END:
                end = _read_json(archive, member, path)
            elif name.name == "trial.json" and len(name.parts) == 3:
                seen.trials += 1
            elif name.name == "end.json" and len(name.parts) == 3:
                counts = _read_json(archive, member, path)
                seen.events += counts.get("events", 0)
                seen.blobs += counts.get("blobs", 0)
                trials_ended.add(name.parts[1])
        if end is None:
            raise TransferError(f"{path} is truncated (no {END} at its end); nothing was imported")
        expected = (end.get("trials"), end.get("events"), end.get("blobs"))
        if expected != (seen.trials, seen.events, seen.blobs) or len(trials_ended) != seen.trials:
            raise TransferError(f"{path} is damaged: it does not hold what its end says")
        return seen


def import_trials(
    store: Store, path: str, progress: Callable[[Counts], None] | None = None
) -> tuple[Counts, Counts]:
    """Import a checked export into ``store``: ``(what the file holds, what was new)``."""
    holds = check_export(path)
    added = Counts()
    with _open(path) as archive:
        batch: list[Event] = []
        metadata: dict[str, dict[str, Any]] = {}
        for member in _members(archive, path):
            name = PurePosixPath(member.name)
            if len(name.parts) < 3 or name.parts[0] != "trials":
                continue
            trial_id = name.parts[1]
            if name.name == "trial.json":
                if _create(store, _read_json(archive, member, path)):
                    added.trials += 1
            elif name.parts[2].startswith("events-"):
                for line in archive.extractfile(member) or ():
                    batch.append(_event_of(trial_id, line, path))
                    if len(batch) >= IMPORT_BATCH:
                        added.events += store.append_events(batch)
                        batch = []
            elif name.parts[2] == "blobs" and name.name.endswith(".json"):
                metadata[name.name[: -len(".json")]] = _read_json(archive, member, path)["metadata"]
            elif name.parts[2] == "blobs":
                if store.blob_info(name.name) is None:
                    added.blobs += 1
                    added.bytes += member.size
                    store.put_blob(
                        archive.extractfile(member) or b"", metadata.pop(name.name), name.name
                    )
            elif name.name == "end.json":
                added.events += store.append_events(batch)
                batch = []
                mark_complete(store, trial_id)
                if progress is not None:
                    progress(added)
    return holds, added


def _create(store: Store, document: dict[str, Any]) -> bool:
    """Create the document marked as being imported; False if it exists (complete, or
    left by an interrupted import of this file, which this one finishes)."""
    try:
        store.create_trial({**document, INCOMPLETE: IMPORTING})
        return True
    except DuplicateTrialError:
        return False
