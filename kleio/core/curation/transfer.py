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

An archive may come from anyone, so importing believes nothing it has not checked, as
git's fsck does of received objects:

- the file is read whole first: every member must be a regular file with a name the
  export writes, in the order it writes them; every trial document, event and blob
  record must hold to the schema (:mod:`kleio.core.model.schema`: the one readers use);
  a trial document's ``_id`` is its folder's, an event belongs to the trial of its
  folder, a blob's metadata names that trial; the counts of each end record hold. A
  line is :data:`MAX_LINE` bytes at most, a document :data:`MAX_DOCUMENT`, the whole
  expansion :data:`EXPANSION_RATIO` times the file's size (plus a gigabyte). Any problem
  refuses the file in one line naming the member, and nothing is imported;
- import adds **new trials only**: a trial this journal holds already is left as it is
  (none of the archive's events or blobs are added to it), unless it is this archive's
  own interrupted import, proven by its document being the same; a blob whose id another
  trial's blob holds refuses the file;
- each new trial's document is created first, marked ``incomplete: importing`` (so
  nothing lists it), then its events and blobs are added and the mark removed. Ids,
  event keys and blob ids are kept, and every write is idempotent, so importing a file
  twice adds nothing and importing again finishes an interrupted import.
Memory stays bounded: events go by batches, blobs by chunks, lines by their limit.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from kleio import __version__
from kleio.codec import compact_json
from kleio.core.curation.removal import IMPORTING, mark_complete
from kleio.core.model.artifacts import ARTIFACT
from kleio.core.model.errors import KleioError
from kleio.core.model.names import FIELD as NAME
from kleio.core.model.names import names_in
from kleio.core.model.schema import (
    EVENT_DATA,
    artifact_problem,
    blob_problem,
    data_problem,
    document_problem,
    event_problem,
    is_blob_id,
    skip_event,
)
from kleio.core.model.trial import INCOMPLETE, TrialDocument, canonical_json
from kleio.core.model.unreadable import skip_unreadable
from kleio.store.base import DuplicateTrialError, Event, Store

FORMAT = "kleio-export"
VERSION = 1
HEADER = "kleio-export.json"
END = "end.json"
#: Events per member of an export.
EVENTS_PER_PART = 10_000
#: Events appended per call when importing.
IMPORT_BATCH = 5_000
#: Bytes a line of events may take: an event is at most a few megabytes (output comes in
#: 16 KB chunks); MongoDB's own limit for a document is 16 MB.
MAX_LINE = 16 << 20
#: Bytes a trial document, a blob's record or an end record may take.
MAX_DOCUMENT = 16 << 20
#: An archive may expand to this many times its size on disk, plus EXPANSION_FLOOR: an
#: export is a plain tar (1 time) and a compressed one 5 to 20 times smaller, but a file
#: of zeros compresses 1,000 times: a small file must not fill the journal's disk.
EXPANSION_RATIO = 100
EXPANSION_FLOOR = 1 << 30


class TransferError(KleioError):
    """A file that is not a whole Kleio export of a format this Kleio reads."""


@dataclass
class Counts:
    trials: int = 0
    events: int = 0
    blobs: int = 0
    bytes: int = 0
    #: ``(trial id, name)`` of the trials imported without their name: a trial of this
    #: journal has it (names are unique in a journal).
    unnamed: list[tuple[str, str]] = field(default_factory=list)


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


def _exported_line(event: Event) -> bytes | None:
    """An event's line in an archive, or None for one whose data no Kleio writes
    (skipped, and noted): what ``import`` checks of it (see
    :func:`~kleio.core.model.schema.event_problem`), and what its kind's readers need.
    Statistics, the most, cost a type test and their depth."""
    data = event.data
    if type(data) is not dict or event.kind in EVENT_DATA:
        problem = data_problem(event.kind, data)
        if problem is not None:
            skip_event(event, problem)
            return None
    try:
        line = _event_line(event)
    except (TypeError, ValueError) as error:  # a value JSON cannot hold (MongoDB's own)
        skip_event(event, f"{event.kind} data holds what JSON cannot: {error}")
        return None
    problem = (
        None
        if type(event.time) is float and math.isfinite(event.time) and not _nested(data)
        else event_problem({"kind": event.kind, "key": event.key, "time": event.time, "data": data})
    )
    if problem is not None:
        skip_event(event, problem)
        return None
    return line


def _nested(data: dict) -> bool:
    """Whether any value of ``data`` is an object or a list (then its depth is checked)."""
    return not set(map(type, data.values())) <= _FLAT


_FLAT = frozenset((int, float, str, bool, type(None)))


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
                line = _exported_line(event)
                if line is None:  # another program wrote it: import would refuse it
                    continue
                lines.append(line)
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
                record = {"metadata": blob.metadata, "length": blob.length}
                problem = blob_problem(record, trial_id) or (
                    artifact_problem(blob.metadata)
                    if blob.metadata.get("kind") == ARTIFACT
                    else None
                )
                if problem is not None:  # another program wrote it: import would refuse it
                    skip_unreadable(trial_id, problem, blob=True, identity=blob.id)
                    continue
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


def _members(archive: tarfile.TarFile, path: str) -> Iterator[tarfile.TarInfo]:
    try:
        yield from archive
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise TransferError(
            f"{path} is truncated or damaged ({_reason(error)}); nothing was imported"
        ) from None


class _Reader:
    """Reads the members of one archive as the export wrote them, believing nothing: every
    member is checked (its kind, name, place, size, JSON and schema) before it is used,
    and a problem is a :class:`TransferError` naming the member."""

    def __init__(self, archive: tarfile.TarFile, path: str, limit: int):
        self.archive, self.path, self.limit = archive, path, limit
        self.expanded = 0

    def damaged(self, member: tarfile.TarInfo | str, problem: str) -> TransferError:
        name = member if isinstance(member, str) else member.name
        return TransferError(f"{self.path} is damaged: {name}: {problem}")

    def _stream(self, member: tarfile.TarInfo) -> BinaryIO:
        stream = self.archive.extractfile(member)
        if stream is None:
            raise self.damaged(member, "not a file")
        return stream  # type: ignore[return-value]

    def _bytes(self, stream: BinaryIO, size: int) -> bytes:
        try:
            return stream.read(size)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:  # cut inside
            raise TransferError(
                f"{self.path} is truncated or damaged ({_reason(error)}); nothing was imported"
            ) from None

    def _line(self, stream: BinaryIO, member: tarfile.TarInfo) -> bytes:
        try:
            line = stream.readline(MAX_LINE + 1)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise TransferError(
                f"{self.path} is truncated or damaged ({_reason(error)}); nothing was imported"
            ) from None
        if len(line) > MAX_LINE:
            raise self.damaged(member, f"a line is longer than {MAX_LINE >> 20} MB")
        return line

    def _json(self, data: bytes, member: tarfile.TarInfo, what: str) -> Any:
        try:
            return json.loads(data)
        except RecursionError:
            raise self.damaged(member, f"{what} nests too deep") from None
        except ValueError:  # not JSON, or not UTF-8
            raise self.damaged(member, f"{what} is not JSON") from None

    def document(self, member: tarfile.TarInfo, what: str) -> Any:
        """A small JSON member (a trial document, a blob's record, an end record)."""
        if member.size > MAX_DOCUMENT:
            raise self.damaged(member, f"{what} is larger than {MAX_DOCUMENT >> 20} MB")
        return self._json(self._bytes(self._stream(member), member.size), member, what)

    def events(self, member: tarfile.TarInfo, trial_id: str) -> Iterator[list[Event]]:
        """The events of a part, in batches, filed under the trial of its folder."""
        stream, batch = self._stream(member), []
        while line := self._line(stream, member):
            record = self._json(line, member, "an event")
            problem = event_problem(record)
            if problem:
                raise self.damaged(member, problem)
            batch.append(
                Event(trial_id, record["kind"], record["key"], record["time"], record["data"])
            )
            if len(batch) >= IMPORT_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def items(self) -> Iterator[tuple[str, str, Any]]:
        """``(what, trial id, value)`` in the archive's order: ``("trial", id, document)``,
        ``("events", id, batch)``, ``("blob", id, (blob id, metadata, member))``,
        ``("end", id, counts)``, and last ``("archive", "", counts)``."""
        members = _members(self.archive, self.path)
        first = next(members, None)
        if first is None or first.name != HEADER or not first.isreg():
            raise TransferError(f"{self.path} is not a Kleio export (no {HEADER} first)")
        header = self.document(first, "the header")
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise TransferError(f"{self.path} is not a Kleio export")
        version = header.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
            raise TransferError(
                f"{self.path} was exported by a newer Kleio (format version {version}; this "
                f"Kleio reads up to {VERSION}): upgrade kleio to import it"
            )
        seen, trial_seen, current, state = Counts(), Counts(), None, "ended"
        finished: set[str] = set()
        blob: tuple[str, dict[str, Any], int] | None = None
        for member in members:
            self.expanded += member.size
            if self.expanded > self.limit:
                raise TransferError(
                    f"{self.path} expands to more than {self.limit >> 20} MB, over "
                    f"{EXPANSION_RATIO} times its size: decompress it first if you trust it"
                )
            if not member.isreg():
                raise self.damaged(member, "a link, a folder or a device, not a file")
            if state == "archive":
                raise self.damaged(member, f"a member after {END}")
            if member.name == END:
                if state != "ended":
                    raise self.damaged(member, f"trial {current} has no end.json")
                counts = self.document(member, "the end record")
                if _counts(counts, ("trials", "events", "blobs")) != (
                    seen.trials,
                    seen.events,
                    seen.blobs,
                ):
                    raise self.damaged(member, "it does not hold what the archive holds")
                state = "archive"
                yield "archive", "", seen
                continue
            trial_id, place = _place(member.name)
            if place is None:
                raise self.damaged(member, "not a member of a Kleio export")
            if trial_id != current:
                if state != "ended":
                    raise self.damaged(member, f"trial {current} has no end.json before it")
                if trial_id in finished:
                    raise self.damaged(member, f"trial {trial_id} was already read")
                if place != "trial.json":
                    raise self.damaged(member, "a trial's trial.json must come first")
                current, state, trial_seen = trial_id, "document", Counts()
            if blob is not None and place != blob[0]:
                raise self.damaged(member, f"blob {blob[0]} has no bytes after its record")
            if place == "trial.json":
                if state != "document":
                    raise self.damaged(member, "a second trial.json")
                document = self.document(member, "the trial document")
                problem = document_problem(document)
                if problem is None and document["_id"] != trial_id:
                    problem = f"its _id {document['_id']} is not the folder's trial"
                if problem is None and INCOMPLETE in document:
                    problem = f"it is marked {INCOMPLETE}"
                if problem:
                    raise self.damaged(member, problem)
                state = "events"
                seen.trials += 1
                yield "trial", trial_id, document
            elif place.startswith("events-"):
                if state != "events":
                    raise self.damaged(member, "events after the trial's blobs")
                for batch in self.events(member, trial_id):
                    trial_seen.events += len(batch)
                    yield "events", trial_id, batch
            elif place.endswith(".json") and place.startswith("blobs/"):
                state = "blobs"
                record = self.document(member, "a blob's record")
                problem = blob_problem(record, trial_id)
                if problem:
                    raise self.damaged(member, problem)
                blob = (place[: -len(".json")], record["metadata"], record["length"])
            elif place.startswith("blobs/"):
                if blob is None or blob[0] != place:
                    raise self.damaged(member, "a blob's bytes without its record before them")
                if member.size != blob[2]:
                    raise self.damaged(
                        member, f"{member.size} bytes, not the {blob[2]} its record says"
                    )
                trial_seen.blobs += 1
                trial_seen.bytes += member.size
                yield "blob", trial_id, (place[len("blobs/") :], blob[1], member)
                blob = None
            else:  # end.json
                counts = self.document(member, "the trial's end record")
                if _counts(counts, ("events", "blobs")) != (trial_seen.events, trial_seen.blobs):
                    raise self.damaged(member, "it does not hold what the trial holds")
                seen.events += trial_seen.events
                seen.blobs += trial_seen.blobs
                seen.bytes += trial_seen.bytes
                finished.add(trial_id)
                state = "ended"
                yield "end", trial_id, trial_seen
        if state != "archive":
            raise TransferError(
                f"{self.path} is truncated (no {END} at its end); nothing was imported"
            )


_PART = re.compile(r"events-[0-9]{6}\.jsonl")


def _place(name: str) -> tuple[str, str | None]:
    """``(trial id, what the member is within the trial's folder)``; None when the name
    is none of those an export writes."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != "trials" or not is_blob_id(parts[1]):
        return "", None
    rest = "/".join(parts[2:])
    if len(parts) == 3 and (rest in ("trial.json", "end.json") or _PART.fullmatch(rest)):
        return parts[1], rest
    if len(parts) == 4 and parts[2] == "blobs":
        blob_id = parts[3].removesuffix(".json")
        if is_blob_id(blob_id):
            return parts[1], rest
    return parts[1], None


def _counts(record: Any, names: tuple[str, ...]) -> tuple[int, ...] | None:
    if not isinstance(record, dict) or set(record) != set(names):
        return None
    values = tuple(record[name] for name in names)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        return None
    return values


def _expansion_limit(path: str) -> int:
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0
    return EXPANSION_FLOOR + EXPANSION_RATIO * size


@dataclass
class Contents:
    """What a checked archive holds: its counts, and each trial's document digest and blob
    ids (to tell what is new to a journal before writing anything)."""

    counts: Counts
    trials: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


def _digest(document: dict[str, Any]) -> str:
    """The content of a trial document, whatever an import marked on it or left out of it
    (its name, when another trial of the journal has it)."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in document.items() if k not in (INCOMPLETE, NAME)}).encode()
    ).hexdigest()


def read_export(path: str) -> Contents:
    """Read the whole file, checking everything (see :class:`_Reader`); what it holds."""
    contents = Contents(Counts())
    with _open(path) as archive:
        for what, trial_id, value in _Reader(archive, path, _expansion_limit(path)).items():
            if what == "trial":
                contents.trials[trial_id] = (_digest(value), [])
            elif what == "blob":
                contents.trials[trial_id][1].append(value[0])
            elif what == "archive":
                contents.counts = value
    return contents


@dataclass
class Imported:
    """What an import found and did."""

    holds: Counts
    added: Counts
    #: Trials of the archive this journal holds already, left as they are.
    present: list[str] = field(default_factory=list)
    #: Trials of the archive whose id this journal gives to a different trial.
    different: list[str] = field(default_factory=list)


def _plan(store: Store, contents: Contents, path: str, imported: Imported) -> set[str]:
    """The trials to write: new ones, and this archive's own interrupted imports (their
    document the same, byte for byte). Refuses the archive if a blob it would add has an
    id another trial's blob holds."""
    chosen = set()
    for trial_id, (digest, blob_ids) in contents.trials.items():
        existing = store.get_trial(trial_id)
        resumed = existing is None or (
            existing.get(INCOMPLETE) == IMPORTING and _digest(existing) == digest
        )
        if not resumed:
            same = _digest(existing) == digest
            (imported.present if same else imported.different).append(trial_id)
            continue
        for blob_id in blob_ids:
            info = store.blob_info(blob_id)
            if info is not None and info.metadata.get("trial") != trial_id:
                raise TransferError(
                    f"{path}: blob {blob_id} of trial {trial_id} has the id of a blob of "
                    "another trial in this journal; nothing was imported"
                )
        chosen.add(trial_id)
    return chosen


def import_trials(
    store: Store, path: str, progress: Callable[[Counts], None] | None = None
) -> Imported:
    """Import a checked export into ``store``: new trials only, each whole or hidden
    (see the module documentation)."""
    contents = read_export(path)
    imported = Imported(contents.counts, Counts())
    chosen = _plan(store, contents, path, imported)
    if not chosen:
        return imported
    added = imported.added
    with _open(path) as archive:
        names = _Names(store)
        for what, trial_id, value in _Reader(archive, path, _expansion_limit(path)).items():
            if trial_id not in chosen:
                continue
            if what == "trial":
                if _create(store, value, added, names):
                    added.trials += 1
            elif what == "events":
                added.events += store.append_events(value)
            elif what == "blob":
                blob_id, metadata, member = value
                if store.blob_info(blob_id) is None:
                    stream = archive.extractfile(member)
                    store.put_blob(stream or b"", metadata, blob_id)
                    added.blobs += 1
                    added.bytes += member.size
            elif what == "end":
                mark_complete(store, trial_id)
                if progress is not None:
                    progress(added)
    return imported


class _Names:
    """The names of the journal imported into, read once when a trial imported has one."""

    def __init__(self, store: Store):
        self.store = store
        self._taken: dict[str, str] | None = None

    def holder(self, name: str) -> str | None:
        if self._taken is None:
            self._taken = names_in(self.store)
        return self._taken.get(name)

    def add(self, name: str, trial_id: str) -> None:
        if self._taken is not None:
            self._taken.setdefault(name, trial_id)


def _create(store: Store, document: dict[str, Any], added: Counts, names: _Names) -> bool:
    """Create the document marked as being imported; False if it exists (complete, or
    left by an interrupted import of this file, which this one finishes). A name another
    trial of this journal has is left out (and listed in ``added.unnamed``)."""
    document = {**document, INCOMPLETE: IMPORTING}
    name = document.get(NAME)
    if name is not None:
        holder = names.holder(name)
        if holder is not None and holder != document["_id"]:
            del document[NAME]
            added.unnamed.append((document["_id"], name))
        else:
            names.add(name, document["_id"])
    try:
        store.create_trial(document)
        return True
    except DuplicateTrialError:
        return False
