"""The storage contract every Kleio backend fulfils.

A store keeps three kinds of things and knows nothing of what they mean:

* **trial documents**: one JSON-like mapping per trial, keyed by ``_id``;
* **events**: an append-only journal of small JSON-like records, each belonging to
  one trial and one kind (``stdout``, ``statistic``...);
* **blobs**: large byte strings with a metadata mapping (artifacts, diffs).

Values are what JSON can hold (``dict`` with ``str`` keys, ``list``, ``str``, ``int``
within 64 bits, ``float`` including NaN and infinities, ``bool``, ``None``).

Guarantees, for every backend
-----------------------------
Atomicity
    Each method is atomic on its own: a trial document is created whole or not at all;
    :meth:`Store.update_trial` compares and sets in one step, so of several writers
    expecting the same values exactly one succeeds; a batch of events given to
    :meth:`Store.append_events` is appended in one transaction on SQLite, and each event
    is appended whole on MongoDB (a batch interrupted by a failure may be partly
    appended there; appending it again completes it, see idempotence); a blob becomes
    visible to :meth:`Store.find_blobs` only once all its bytes are written.
Idempotence
    An event is identified by ``(trial, kind, key)``. Appending an event that is already
    stored is a no-op, so a writer that does not know whether a batch arrived (a timeout,
    a spool replayed after an outage) appends it again without duplicating anything.
Ordering
    :meth:`Store.read_events` returns events in ascending ``key`` order. A key starts
    with the event's time in microseconds (see :func:`event_key`), then the writer and
    the writer's counter: events of one writer come back in the order it wrote them, and
    events of several writers interleave by time.
Concurrency
    A store object may be shared by the threads of a process. Separate processes, on
    one machine (SQLite) or many (MongoDB), open their own store on the same address and
    see each other's committed writes. A process that forks must not use its parent's
    connection: stores detect a changed process id and reconnect.
Durability
    When a write method returns, the write is committed: other processes see it and it
    survives the crash of the writing process. Against power loss, SQLite runs in WAL
    mode with ``synchronous=NORMAL`` (the last transactions may roll back, the file is
    never corrupted) and MongoDB follows the write concern of the address (default
    ``w=1``; add ``journal=true`` to the address for journalled writes).
Reading large data
    Events and blob chunks are read in bounded pages (keyset pagination on the event key,
    ranges of chunk numbers), so memory stays bounded and a dropped connection costs one
    page, never the whole read.
Errors
    Every backend failure is a :class:`StoreError` with a one-line message in which a
    database password never appears. :class:`StoreUnavailable` means the database could
    not be reached (retrying later may succeed); :class:`DuplicateTrialError` means a
    trial with that id already exists.
"""

from __future__ import annotations

import abc
import heapq
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple

#: Chunk size of blobs (the GridFS default, so MongoDB tools read Kleio's blobs).
BLOB_CHUNK_SIZE = 255 * 1024
#: Events fetched per page by :meth:`Store.read_events`.
EVENT_PAGE_SIZE = 1000
#: Blob chunks fetched per page by :meth:`Store.read_blob` (4 MB).
BLOB_PAGE_CHUNKS = 16

BlobSource = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


class StoreError(Exception):
    """A failure of the store, with a one-line, password-free message."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now; the same call may succeed later."""


class DuplicateTrialError(StoreError):
    """A trial document with that id already exists."""

    def __init__(self, trial_id: str):
        super().__init__(f"a trial with id {trial_id} already exists")
        self.trial_id = trial_id


class BlobNotFound(StoreError):
    """No blob with that id is stored."""


class Event(NamedTuple):
    """One journal record (a named tuple: millions are made, cheaply).

    ``key`` orders events and identifies them within ``(trial, kind)``; build it with
    :func:`event_key`. ``time`` is seconds since the epoch, UTC.
    """

    trial: str
    kind: str
    key: str
    time: float
    data: dict


class EventPage(NamedTuple):
    """Up to ``limit`` events of one trial and kind with ``low <(=) key < high``
    (``strict``: key above ``low``; None: no bound), fetched in one round trip."""

    trial: str
    kind: str
    low: str | None
    strict: bool
    high: str | None
    limit: int


class BlobInfo(NamedTuple):
    """What is known of a stored blob without reading its bytes."""

    id: str
    length: int
    chunk_size: int
    metadata: dict


@dataclass(frozen=True)
class TrialQuery:
    """Which trial documents :meth:`Store.find_trials` returns, and how many fields.

    Every filter given must match: ``id_prefix`` starts the id; ``status`` is any of the
    statuses; ``tags`` requires all of the tags; ``parent`` matches
    ``document['refers']['parent']``. ``limit`` caps the count (newest first).
    ``fields`` (top-level names) returns only those fields and ``_id``, which is much
    cheaper than whole documents for a listing; a field a document lacks may come back
    as None.
    """

    id_prefix: str | None = None
    status: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    project: str | None = None
    parent: str | None = None
    limit: int | None = None
    fields: Sequence[str] | None = None


def time_key(seconds: float) -> str:
    """The key prefix of events written at ``seconds`` (microseconds, fixed width)."""
    return "%017d" % (seconds * 1_000_000 + 0.5)  # noqa: UP031 - as EventWriter.events


def event_key(seconds: float, writer: str, counter: int) -> str:
    """The key of the ``counter``-th event of ``writer``, written at ``seconds``.

    Writers must never go back in time (use the last time if the clock does) and must
    use a writer id made of ``[0-9a-z]`` that no other writer uses.
    """
    return f"{time_key(seconds)}.{writer}.{counter:012d}"


def _key_of(event: Event) -> str:
    return event.key


def key_range(since: float | None, until: float | None) -> tuple[str | None, str | None]:
    """Inclusive time bounds as ``(lowest key, key above the highest)``."""
    low = time_key(since) if since is not None else None
    high = time_key(until + 0.000_001) if until is not None else None
    return low, high


def chunks_of(source: BlobSource, size: int = BLOB_CHUNK_SIZE) -> Iterator[bytes]:
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


#: From a scheme's ``://`` to the last ``@``: the user name and password of an address,
#: whatever they hold (an unescaped ``@``, ``/`` or ``:`` included).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>.*)@", re.DOTALL)
#: What separates the parts of an address.
_SEPARATORS = re.compile(r"[:@/?#&=,;%+\s]+")


def mask_address(address: str) -> str:
    """The address with everything between ``://`` and the last ``@`` replaced by
    ``***``, safe to print: a malformed address (``mongodb://alice:p@ss/wd@host``) does
    not show part of its password either. Text without credentials is returned as is."""
    return _USERINFO.sub(r"\g<scheme>***@", address, count=1)


def without_secrets(text: str, address: str) -> str:
    """``text`` (a driver's error message about ``address``) with the address's user
    name and password, and any fragment of them a parser may have cut out and quoted,
    replaced by ``***``."""
    found = _USERINFO.search(address)
    if found is None or not text:
        return text
    from urllib.parse import unquote

    userinfo = found["userinfo"]
    pieces = {userinfo, unquote(userinfo), *_SEPARATORS.split(userinfo)}
    pieces |= {unquote(piece) for piece in pieces}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


class Store(abc.ABC):
    """A Kleio database. See the module documentation for the guarantees."""

    #: The address with its password masked, for messages.
    address: str

    # -- trial documents -------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(self, document: Mapping[str, Any]) -> None:
        """Store a new trial document, keyed by ``document['_id']``.

        Raises :class:`DuplicateTrialError` if that id is taken, whatever its content.
        """

    @abc.abstractmethod
    def get_trial(self, trial_id: str) -> dict | None:
        """The document with exactly that id, or None."""

    def find_trials(self, query: TrialQuery | None = None, **filters: Any) -> list[dict]:
        """Trial documents matching ``query`` (or a :class:`TrialQuery` of ``filters``),
        newest ``created`` first."""
        return self._find_trials(query if query is not None else TrialQuery(**filters))

    @abc.abstractmethod
    def _find_trials(self, query: TrialQuery) -> list[dict]:
        """:meth:`find_trials` for one query."""

    @abc.abstractmethod
    def update_trial(
        self,
        trial_id: str,
        changes: Mapping[str, Any],
        expected: Mapping[str, Any] | None = None,
    ) -> bool:
        """Compare and set: apply ``changes`` only if every ``expected`` field holds.

        Keys of both mappings are field paths (``"worker.token"``). An expected value
        compares equal to the stored one (a missing field equals None); compare scalars,
        not lists or documents. Returns whether the update was applied: False if the
        trial does not exist or an expected field did not hold.
        """

    # -- events ----------------------------------------------------------------------
    @abc.abstractmethod
    def append_events(self, events: Sequence[Event]) -> None:
        """Append events; those already stored are skipped (see Idempotence)."""

    def read_events(
        self,
        trial: str,
        kinds: Sequence[str] | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
        after: str | None = None,
        page_size: int = EVENT_PAGE_SIZE,
    ) -> Iterator[Event]:
        """Events of one trial in key order, lazily, page by page.

        ``kinds`` limits the kinds (all when None); ``since`` and ``until`` bound the
        time, inclusive; ``after`` starts strictly after an event key, so a reader can
        resume where it stopped. ``page_size`` events are fetched per round trip: more
        for small events (statistics), fewer for large ones (output chunks).
        """
        low, high = key_range(since, until)
        strict = after is not None and (low is None or after >= low)
        if strict:
            low = after
        kinds = list(dict.fromkeys(kinds)) if kinds is not None else self._event_kinds(trial)
        streams = [
            self._read_kind(EventPage(trial, kind, low, strict, high, page_size)) for kind in kinds
        ]
        if len(streams) == 1:
            return streams[0]
        # Each kind is one index range; merging them keeps every page an index scan.
        return heapq.merge(*streams, key=_key_of)

    def _read_kind(self, page: EventPage) -> Iterator[Event]:
        while True:
            events = self._event_page(page)
            yield from events
            if len(events) < page.limit:
                return
            page = page._replace(low=events[-1].key, strict=True)

    @abc.abstractmethod
    def _event_page(self, page: EventPage) -> list[Event]:
        """The events ``page`` describes, in key order."""

    @abc.abstractmethod
    def _event_kinds(self, trial: str) -> list[str]:
        """The kinds the trial has events of."""

    @abc.abstractmethod
    def count_events(self, trial: str, kinds: Sequence[str] | None = None) -> int:
        """How many events of those kinds the trial has."""

    # -- blobs -----------------------------------------------------------------------
    def put_blob(self, source: BlobSource, metadata: Mapping[str, Any]) -> BlobInfo:
        """Store bytes read from ``source`` chunk by chunk; visible once complete.

        Chunks are written in pages of :data:`BLOB_PAGE_CHUNKS` (bounded memory and lock
        time); the record that makes the blob visible comes last, and an upload that
        fails or is interrupted removes the chunks it wrote.
        """
        blob_id = uuid.uuid4().hex
        length, first, pending = 0, 0, []
        try:
            for chunk in chunks_of(source, BLOB_CHUNK_SIZE):
                pending.append(chunk)
                length += len(chunk)
                if len(pending) >= BLOB_PAGE_CHUNKS:
                    self._write_chunks(blob_id, first, pending)
                    first, pending = first + len(pending), []
            info = BlobInfo(blob_id, length, BLOB_CHUNK_SIZE, dict(metadata))
            self._complete_blob(info, first, pending)
        except BaseException:
            try:
                self._discard_chunks(blob_id)
            except StoreError:
                pass  # orphaned chunks are invisible; the original error matters more
            raise
        return info

    @abc.abstractmethod
    def _write_chunks(self, blob_id: str, first: int, chunks: list[bytes]) -> None:
        """Store chunks number ``first``, ``first + 1``... of an upload in progress."""

    @abc.abstractmethod
    def _complete_blob(self, info: BlobInfo, first: int, chunks: list[bytes]) -> None:
        """Store the last chunks (from number ``first``), then make the blob visible."""

    @abc.abstractmethod
    def _discard_chunks(self, blob_id: str) -> None:
        """Remove the chunks of an upload that never became visible (only those: an
        interruption may come just after the write that made the blob whole)."""

    @abc.abstractmethod
    def find_blobs(self, where: Mapping[str, Any]) -> list[BlobInfo]:
        """Blobs whose metadata fields equal ``where``'s (field paths, like
        ``update_trial``), in no particular order: callers that need an order record
        it in the metadata."""

    def read_blob(self, blob_id: str) -> Iterator[bytes]:
        """The blob's bytes, chunk by chunk, fetched in bounded pages.

        Raises :class:`BlobNotFound` for an unknown id (at the call, not when iterating).
        """
        if not self._blob_exists(blob_id):
            raise BlobNotFound(f"no blob with id {blob_id}")
        return self._blob_chunks(blob_id)

    def _blob_chunks(self, blob_id: str) -> Iterator[bytes]:
        start = 0
        while True:
            page = self._chunk_page(blob_id, start, start + BLOB_PAGE_CHUNKS)
            yield from page
            if len(page) < BLOB_PAGE_CHUNKS:
                return
            start += BLOB_PAGE_CHUNKS

    @abc.abstractmethod
    def _blob_exists(self, blob_id: str) -> bool:
        """Whether a complete blob with that id is stored."""

    @abc.abstractmethod
    def _chunk_page(self, blob_id: str, start: int, stop: int) -> list[bytes]:
        """Chunks number ``start`` to ``stop - 1`` of a blob, in order."""

    # -- lifetime --------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def open(cls, address: str, name: str) -> Store:
        """The store at ``address`` (a database ``name`` where the backend has several);
        :func:`kleio.store.open_store` picks the class by the address's scheme."""

    @staticmethod
    def preload() -> None:
        """Import now what the backend would import on first use (for a process that
        may fork soon: see ``kleio.client.logger``). Nothing by default."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
