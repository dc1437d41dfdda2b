"""The storage contract every Kleio backend fulfils.

A store keeps three kinds of things and knows nothing of what they mean:

* **trial documents**: one JSON-like mapping per trial, keyed by ``_id``, of which the
  store reads ``created`` (listings come newest first) and ``tags`` (a list of text),
  and the fields that whoever opens it declares listed or indexed (see
  :class:`Catalogue`);
* **events**: an append-only journal of small JSON-like records, each belonging to
  one trial and one kind (``stdout``, ``statistic``...);
* **blobs**: large byte strings with a metadata mapping (artifacts, diffs);

and, derived from the events, **summaries**: for each trial, kind and top-level field of
the events' data, how many events hold the field, its first and last values (in key
order) and, over its numeric values, the smallest and the largest (see :class:`Summary`).
Comparing a thousand trials reads their summaries, never their millions of events.
Likewise **blocks**: each run of up to a thousand consecutive events of one trial and
kind summarised (see :class:`Block`): a curve of ten million points is drawn from ten
thousand blocks.

This module is the contract alone: the values it speaks of, its errors, and
:class:`Store`, which builds its reads once over small backend hooks. What the backends
share to fulfil it lives beside it, one job a module: event keys
(:mod:`kleio.store.keys`), the arithmetic of summaries (:mod:`kleio.store.summaries`),
blob chunks and ids (:mod:`kleio.store.blobs`), reading ahead
(:mod:`kleio.store.readahead`), JSON (:mod:`kleio.codec`) and addresses safe to
print (:mod:`kleio.store.addresses`).

Values are what JSON can hold (``dict`` with ``str`` keys, ``list``, ``str``, ``int``
within 64 bits, ``float`` including NaN and infinities, ``bool``, ``None``).

Guarantees, for every backend
-----------------------------
Atomicity
    Each method is atomic on its own: a trial document is created whole or not at all;
    :meth:`Store.update_trial` compares and sets in one step, so of several writers
    expecting the same values exactly one succeeds; a batch of events given to
    :meth:`Store.append_events` (or, one trial's events of one kind, as columns to
    :meth:`Store.append_columns`, which keeps every guarantee stated here for
    ``append_events``) is appended in one transaction on SQLite, and each event
    is appended whole on MongoDB (a batch interrupted by a failure may be partly
    appended there; appending it again completes it, see idempotence); a blob becomes
    visible to :meth:`Store.find_blobs` only once all its bytes are written.
Idempotence
    An event is identified by ``(trial, kind, key)``. Appending an event that is already
    stored is a no-op, so a writer that does not know whether a batch arrived (a timeout,
    a spool replayed after an outage) appends it again without duplicating anything.
Summaries
    :meth:`Store.append_events` keeps the summaries of the events it appends: in the same
    transaction on SQLite; on MongoDB by an update of the summary right after the events,
    which marks it as being written before and clears the mark after, so a reader that
    finds the mark (a writer in flight, or one that died in between) recomputes the
    summary from the events instead of trusting it; a writer that other writers keep
    beating to the summary leaves it marked stale, for the next reader to recompute (the
    append never fails for a summary's sake). Only events actually appended are
    counted: appending a batch again, replaying a spool or importing twice never counts
    an event twice. Summaries missing for older journals are recomputed from the events
    on first read and kept.
Blocks
    :meth:`Store.append_events` summarises the events it appends as blocks too (see
    :meth:`Store.read_blocks`): in the same transaction on SQLite; on MongoDB right after
    the events of an append of 1,000 events or more (a smaller append stays three round
    trips; the first reader makes its blocks and keeps them). The exact events stay the
    truth: :meth:`Store.read_blocks` gives the
    blocks only when they account for every event of the trial and kind, in key order and
    without overlap, and None otherwise (the reader then reads the events).
Ordering
    :meth:`Store.read_events` returns events in ascending ``key`` order. A key starts
    with the event's time in microseconds, then the writer and the writer's counter (see
    :mod:`kleio.store.keys`): events of one writer come back in the order it wrote them,
    and events of several writers interleave by time.
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
    page, never the whole read. :meth:`Store.read_data` reads only the events' data, the
    cheapest way to read millions.
Deleting
    A trial's document, its events (with their summaries) and each blob are deleted by
    separate calls, each atomic on its own: the caller orders them so that an
    interruption leaves something it can finish (see ``kleio.core.curation.removal``).
    :meth:`Store.reclaim` gives the space of deleted data back.
Errors
    Every backend failure is a :class:`StoreError` with a one-line message in which a
    database password never appears. :class:`StoreUnavailable` means the database could
    not be reached (retrying later may succeed); :class:`DuplicateTrialError` means a
    trial with that id already exists.
"""

# No `from __future__ import annotations` here, unlike elsewhere: it makes every annotation
# text, and typing compiles the text of each field of the NamedTuples below as it makes
# them (importing this module took 2.8 ms with it, 1.4 ms without, on every command's
# start). Names not defined yet, or only for type checkers, are quoted.
import abc
import heapq
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from kleio.store.keys import key_range
from kleio.value import Value

# Reading ahead (kleio.store.readahead) and writing blobs (kleio.store.blobs) are imported
# where they are done: a run does neither, and each module costs its start 0.2 ms.

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

#: Chunk size of blobs (the GridFS default, so MongoDB tools read Kleio's blobs).
BLOB_CHUNK_SIZE = 255 * 1024
#: Events fetched per page by :meth:`Store.read_events`.
EVENT_PAGE_SIZE = 1000
#: Blob chunks fetched per page by :meth:`Store.read_blob` (4 MB).
BLOB_PAGE_CHUNKS = 16

#: First and last values of a summary are kept when their JSON text is at most this long;
#: longer text, and lists or objects as long, are counted but summarised as None.
SUMMARY_VALUE_LIMIT = 1024
#: Uploads never completed are left alone this long (seconds) by :meth:`Store.reclaim`:
#: a large upload in progress has chunks and no blob record yet.
ABANDONED_UPLOAD_AGE = 6 * 3600.0

BlobSource = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]

_key_of = operator.itemgetter(2)  # an event's key


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
    :func:`kleio.store.keys.event_key`. ``time`` is seconds since the epoch, UTC.
    """

    trial: str
    kind: str
    key: str
    time: float
    data: dict


class Columns(Sequence):
    """A batch of events of one trial and one kind as columns: their ``keys``, in
    ascending order, and their ``times`` and ``datas`` in the same order.

    A writer that makes many events at once (the logger's statistics) gives them so to
    :meth:`Store.append_columns`, which stores them without an :class:`Event` per event
    (a third of the cost of writing a statistic). It is also a sequence of those events,
    made one by one when asked for (``columns[i]``, iteration), so any code written for a
    list of events (spooling, dropping, counting) takes it as it is; a slice is columns.
    """

    __slots__ = ("trial", "kind", "keys", "times", "datas")

    def __init__(
        self, trial: str, kind: str, keys: list[str], times: list[float], datas: list[Any]
    ):
        if not len(keys) == len(times) == len(datas):
            raise ValueError("the columns of a batch of events have one length")
        self.trial, self.kind, self.keys, self.times, self.datas = trial, kind, keys, times, datas

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Columns(
                self.trial, self.kind, self.keys[index], self.times[index], self.datas[index]
            )
        return Event(self.trial, self.kind, self.keys[index], self.times[index], self.datas[index])

    def __iter__(self) -> Iterator[Event]:
        trial, kind = itertools.repeat(self.trial), itertools.repeat(self.kind)
        return map(Event, trial, kind, self.keys, self.times, self.datas)

    def __repr__(self) -> str:
        return f"Columns({self.trial!r}, {self.kind!r}, {len(self)} events)"


class EventPage(NamedTuple):
    """Up to ``limit`` events of one trial and kind with ``low <(=) key < high``
    (``strict``: key above ``low``; None: no bound), fetched in one round trip."""

    trial: str
    kind: str
    low: str | None
    strict: bool
    high: str | None
    limit: int


class DataPage(NamedTuple):
    """The data of a page of events (see :meth:`Store.read_data`): those ``page``
    describes, up to the one whose key is ``last`` (None: the page was empty)."""

    datas: list[Any]
    page: EventPage
    last: str | None


class BlobInfo(NamedTuple):
    """What is known of a stored blob without reading its bytes."""

    id: str
    length: int
    chunk_size: int
    metadata: dict
    #: When the upload completed (seconds since the epoch), where the backend records it.
    uploaded: float | None = None


class Unset:
    """The value of a change that removes a field (see :meth:`Store.update_trial`)."""

    def __repr__(self) -> str:
        return "UNSET"


#: ``update_trial(id, {"field": UNSET})`` removes ``field`` from the document.
UNSET = Unset()


class Catalogue(Value):
    """What a store keeps of each trial document beside the document itself, so that it
    lists and finds documents without reading them whole: declared by whoever opens the
    store (Kleio's core declares its trials' in ``kleio.core.model.catalogue``), since
    only it knows which fields matter.

    ``listed``: top-level fields a listing reads. A query of fields all among them is the
    cheapest: SQLite keeps them beside the document (10,000 trials listed read 2 MB, not
    every 5 KB document). ``indexed``: fields queries filter by, each by a name (lower-case
    ASCII letters, digits and ``_``: a column or key in every backend) and the path of a
    text or a number in the document, ``{"parent": "refers.parent"}``:
    ``find_trials(parent=x)`` finds the documents whose ``refers.parent`` equals ``x``
    through an index (SQLite: a column of that name, added to an older journal when
    first opened; MongoDB: an index on the path).

    What a backend keeps beside each document follows the catalogue of the store that
    wrote it: every process writing one journal opens it with the same catalogue, and a
    listed field added later is a schema upgrade of the backends that keep listings (as
    SQLite's version 4 made them), so that no writer keeps the old listing.
    """

    FIELDS = ("listed", "indexed")

    def __init__(self, listed: Sequence[str] = (), indexed: Mapping[str, str] | None = None):
        self.listed = tuple(listed)
        self.indexed = dict(indexed or {})
        for name in self.indexed:
            plain = name.isidentifier() and name.isascii() and name == name.lower()
            if not plain or name in TrialQuery.FIELDS:
                raise ValueError(f"{name!r} cannot name an indexed field")


class TrialQuery(Value):
    """Which trial documents :meth:`Store.find_trials` returns, and how many fields.

    Every filter given must match: ``id_prefix`` starts the id; ``tags`` requires all of
    the tags (``document['tags']``, a list of text); ``where`` maps names of indexed
    fields (see :class:`Catalogue`) to the value the field equals, or to a list, tuple
    or set of values it is one of (a name mapped to None does not filter). ``limit``
    caps the count (newest ``created`` first). ``fields`` (top-level names) returns only
    those fields and ``_id``, which is much cheaper than whole documents for a listing;
    a field a document lacks may come back as None. Fields all among the catalogue's
    listed fields are the cheapest: a backend may keep them apart from the document.
    """

    FIELDS = ("id_prefix", "tags", "where", "limit", "fields")

    def __init__(
        self,
        id_prefix: str | None = None,
        tags: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        fields: Sequence[str] | None = None,
    ):
        self.id_prefix, self.tags, self.limit, self.fields = id_prefix, tags, limit, fields
        self.where = {name: value for name, value in (where or {}).items() if value is not None}


def one_of(value: Any) -> bool:
    """Whether a value of :attr:`TrialQuery.where` stands for several values, any of
    which the field may equal (a list, tuple or set) rather than for itself."""
    return isinstance(value, (list, tuple, set, frozenset))


class Summary(NamedTuple):
    """One field of one trial's events of one kind, summarised.

    ``count`` events hold the field; ``first`` and ``last`` are its values in the events
    with the smallest and the largest key (None when longer than
    :data:`SUMMARY_VALUE_LIMIT`); ``min`` and ``max`` are taken over its numeric values
    (booleans and NaN are not numbers here), None when it had none. Backends work them
    out with :mod:`kleio.store.summaries`.
    """

    count: int
    first: Any
    last: Any
    min: int | float | None
    max: int | float | None
    first_key: str
    last_key: str


class Block(NamedTuple):
    """A run of ``count`` consecutive events of one trial and kind, ``first_key`` to
    ``last_key``, summarised: ``summary`` is the JSON text
    :func:`kleio.store.blocks.block_summary` makes (records, their first and last times,
    and for each numeric field its count, first, last, min and max with where they lie,
    and whether it rises strictly)."""

    first_key: str
    last_key: str
    count: int
    summary: str


class Store(abc.ABC):
    """A Kleio database. See the module documentation for the guarantees."""

    #: The address with its password masked, for messages.
    address: str
    #: What the store keeps beside each trial document (see :class:`Catalogue`).
    catalogue: Catalogue

    # -- trial documents -------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(self, document: Mapping[str, Any]) -> None:
        """Store a new trial document, keyed by ``document['_id']``.

        Raises :class:`DuplicateTrialError` if that id is taken, whatever its content.
        """

    @abc.abstractmethod
    def get_trial(self, trial_id: str) -> dict | None:
        """The document with exactly that id, or None."""

    def get_trials(self, trial_ids: Sequence[str]) -> dict[str, dict]:
        """The documents with exactly those ids, by id; an id with none is left out. A
        backend a network away reads them in one round trip."""
        found = {trial_id: self.get_trial(trial_id) for trial_id in dict.fromkeys(trial_ids)}
        return {trial_id: document for trial_id, document in found.items() if document is not None}

    def find_trials(self, query: TrialQuery | None = None, **filters: Any) -> list[dict]:
        """Trial documents matching ``query``, newest ``created`` first.

        Without a query, ``filters`` make one: the fields of a :class:`TrialQuery`, and
        the names of indexed fields for its ``where`` (``find_trials(tags=["x"],
        status=["new", "running"])``). A filter by a field the store's catalogue does not
        index raises ValueError: it would read every document.
        """
        return self._find_trials(query if query is not None else self._query_of(filters))

    def count_trials(self, **filters: Any) -> int:
        """How many trial documents :meth:`find_trials` finds with the same ``filters``
        (``limit`` and ``fields`` aside): what a page of trials says it is one page of,
        without reading them. One round trip; the documents are not read."""
        filters.pop("limit", None)
        filters.pop("fields", None)
        return self._count_trials(self._query_of(filters))

    def _query_of(self, filters: dict[str, Any]) -> "TrialQuery":
        """The query ``filters`` make: the fields of a :class:`TrialQuery`, and the names
        of indexed fields for its ``where``; ValueError for a field not indexed."""
        where = filters.pop("where", None) or {}
        named = [name for name in filters if name not in TrialQuery.FIELDS]
        query = TrialQuery(where={**where, **{n: filters.pop(n) for n in named}}, **filters)
        unknown = sorted(set(query.where) - set(self.catalogue.indexed))
        if unknown:
            raise ValueError(f"not an indexed field of this store: {', '.join(unknown)}")
        return query

    def _count_trials(self, query: TrialQuery) -> int:
        """:meth:`count_trials` for one query: by default, the ids found counted."""
        return len(
            self._find_trials(TrialQuery(query.id_prefix, query.tags, query.where, fields=["_id"]))
        )

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
        not lists or documents. A change to :data:`UNSET` removes the field. Returns
        whether the update was applied: False if the trial does not exist or an expected
        field did not hold.
        """

    @abc.abstractmethod
    def delete_trial(self, trial_id: str) -> bool:
        """Delete the trial document (only it: events and blobs have their own calls);
        False if there was none."""

    # -- events ----------------------------------------------------------------------
    @abc.abstractmethod
    def append_events(self, events: Sequence[Event]) -> int:
        """Append events; those already stored are skipped (see Idempotence). Returns how
        many were new."""

    def append_columns(self, columns: Columns) -> int:
        """Append a batch of one trial's events of one kind given as :class:`Columns`,
        with every guarantee of :meth:`append_events`: it stores the very events, keys
        and summaries ``append_events(list(columns))`` would, skips those already stored,
        and is atomic as it is. Returns how many were new.

        The path of many small events (statistics): a backend stores the columns without
        making an :class:`Event` of each (SQLite). By default, the events are made and
        appended.
        """
        return self.append_events(list(columns))

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

    def read_data(
        self,
        trial: str,
        kind: str,
        *,
        until: float | None = None,
        page_size: int = EVENT_PAGE_SIZE,
        ahead: bool = False,
    ) -> Iterator[DataPage]:
        """The data of one trial's events of one kind, in key order, page by page, without
        their keys and times: the cheapest way to read many (a million statistics). Each
        :class:`DataPage` says where its events lie, so their keys and times can be read
        later with :meth:`read_page`, if ever needed.

        ``ahead``: after a full first page, a thread fetches the next pages while the
        caller decodes and uses those before (see :mod:`kleio.store.readahead`): SQLite
        fetches without holding the GIL, MongoDB waits for the network."""
        low, high = key_range(None, until)
        fetched = self._fetched_pages(EventPage(trial, kind, low, False, high, page_size))
        first = next(fetched)
        rest = fetched
        if ahead and first[1] == page_size:
            from kleio.store.readahead import read_ahead

            rest = read_ahead(fetched)
        for data, _, page, last in itertools.chain([first], rest):
            yield DataPage(self._decoded(data), page, last)

    def _fetched_pages(self, page: EventPage) -> Iterator[tuple[Any, int, EventPage, str | None]]:
        while True:
            data, count, last = self._fetch_data(page)
            yield data, count, page, last
            if count < page.limit:
                return
            page = page._replace(low=last, strict=True)

    def read_page(self, page: EventPage) -> list[Event]:
        """The events ``page`` describes, in key order (one round trip)."""
        return self._event_page(page)

    def _fetch_data(self, page: EventPage) -> tuple[Any, int, str | None]:
        """The data of the events ``page`` describes, in key order, as the backend gives
        them (:meth:`_decoded` makes them values), how many, and the last one's key (None
        when there is none). Backends that can skip making the events override both."""
        events = self._event_page(page)
        return [event.data for event in events], len(events), events[-1].key if events else None

    def _decoded(self, data: Any) -> list[Any]:
        """The values of what :meth:`_fetch_data` gave."""
        return data

    @abc.abstractmethod
    def _event_page(self, page: EventPage) -> list[Event]:
        """The events ``page`` describes, in key order."""

    @abc.abstractmethod
    def _event_kinds(self, trial: str) -> list[str]:
        """The kinds the trial has events of."""

    @abc.abstractmethod
    def count_events(self, trial: str, kinds: Sequence[str] | None = None) -> int:
        """How many events of those kinds the trial has."""

    @abc.abstractmethod
    def delete_events(self, trial: str) -> int:
        """Delete every event of the trial and its summaries; returns how many events.

        Large journals are deleted in bounded batches (each its own transaction), so an
        interruption leaves fewer events, never a broken store; calling again finishes.
        """

    @abc.abstractmethod
    def event_trials(self) -> set[str]:
        """The trials that have events (to find the events of deleted trials)."""

    # -- blocks ----------------------------------------------------------------------
    def read_blocks(self, trial: str, kind: str) -> list[Block] | None:
        """The blocks of the trial's events of ``kind``, in key order: each event lies in
        exactly one, and a block's events are the consecutive events from its first key
        to its last (no event of another block between them). An empty list when the
        trial has no such event.

        None when the blocks cannot be trusted to say that: rows written by two writers
        at once whose keys interleave (SQLite), a write in flight or left half done by a
        writer that died, or blocks missing and not computable now (MongoDB). Blocks an
        older journal lacks are computed from its events on first read and kept.
        One query (plus the events' once, the first time for an older journal).
        """
        return None

    # -- summaries -------------------------------------------------------------------
    def read_summaries(self, trials: Sequence[str], kind: str) -> dict[str, dict[str, Summary]]:
        """For each trial, the summary of each field of its events of ``kind``, by field
        name (an empty mapping for a trial without such events).

        One round trip for all the trials when the summaries are current; a summary that
        cannot be trusted (see Summaries above) is recomputed from the events.
        """
        found, untrusted = self._stored_summaries(list(dict.fromkeys(trials)), kind)
        for trial in untrusted:
            found[trial] = self._recompute_summaries(trial, kind)
        return {trial: found.get(trial, {}) for trial in trials}

    def read_field_summaries(self, kind: str, field: str) -> dict[str, Summary]:
        """Every trial's summary of one field of its events of ``kind``, by trial (a
        trial without that field left out): what sorting every trial by one statistic
        reads, rather than each trial's every summary.

        One round trip when the summaries are current; a trial whose summaries cannot be
        trusted (see Summaries above) has them recomputed from the events, as
        :meth:`read_summaries` does.
        """
        stored = self._stored_field(kind, field)
        if stored is None:  # a backend without a read of its own: every trial's summaries
            return {
                trial: summaries[field]
                for trial, summaries in self.read_summaries(
                    sorted(self.event_trials()), kind
                ).items()
                if field in summaries
            }
        found, untrusted = stored
        for trial in dict.fromkeys(untrusted):
            summary = self._recompute_summaries(trial, kind).get(field)
            if summary is None:
                found.pop(trial, None)
            else:
                found[trial] = summary
        return found

    def _stored_field(self, kind: str, field: str) -> tuple[dict[str, Summary], list[str]] | None:
        """The summaries of ``field`` stored for every trial, and the trials whose
        summaries of ``kind`` must be recomputed; None: no read of this backend's own."""
        return None

    @abc.abstractmethod
    def _stored_summaries(
        self, trials: list[str], kind: str
    ) -> tuple[dict[str, dict[str, Summary]], list[str]]:
        """The summaries stored for ``trials``, and the trials whose summaries must be
        recomputed from their events."""

    @abc.abstractmethod
    def _recompute_summaries(self, trial: str, kind: str) -> dict[str, Summary]:
        """The trial's summaries from its events, kept for later when that is safe."""

    # -- blobs -----------------------------------------------------------------------
    def put_blob(
        self, source: BlobSource, metadata: Mapping[str, Any], blob_id: str | None = None
    ) -> BlobInfo:
        """Store bytes read from ``source`` chunk by chunk; visible once complete.

        Chunks are written in pages of :data:`BLOB_PAGE_CHUNKS` (bounded memory and lock
        time); the record that makes the blob visible comes last, and an upload that
        fails or is interrupted removes the chunks it wrote. ``blob_id`` keeps a given id
        (an import): if a complete blob has it already, nothing is written and that
        blob's info is returned.
        """
        from kleio.store.blobs import chunks_of, new_blob_id

        if blob_id is not None:
            existing = self._blob_info(blob_id)
            if existing is not None:
                return existing
            self._discard_chunks(blob_id)  # what an interrupted import left
        else:
            blob_id = new_blob_id()
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

    def blob_info(self, blob_id: str) -> BlobInfo | None:
        """The complete blob with that id, or None."""
        return self._blob_info(blob_id)

    def _blob_exists(self, blob_id: str) -> bool:
        """Whether a complete blob with that id is stored."""
        return self._blob_info(blob_id) is not None

    @abc.abstractmethod
    def _blob_info(self, blob_id: str) -> BlobInfo | None:
        """The complete blob with that id, or None."""

    @abc.abstractmethod
    def delete_blob(self, blob_id: str) -> bool:
        """Delete a blob: invisible at once, then its chunks; False if there was none.

        Chunks left by an interruption are those of an upload that never completed, which
        :meth:`reclaim` removes.
        """

    # -- space -----------------------------------------------------------------------
    @abc.abstractmethod
    def reclaim(self, abandoned_after: float = ABANDONED_UPLOAD_AGE) -> int:
        """Give space back: remove the chunks of uploads that never completed and started
        more than ``abandoned_after`` seconds ago, then let the backend return freed
        space to the system where it can (SQLite rewrites its file). Returns how many
        chunks were removed. May take a while and, on SQLite, the lock of the database.
        """

    def size(self) -> int | None:
        """Bytes the store occupies on disk, where the backend knows (None otherwise)."""
        return None

    def maintenance(
        self, on_wait: Callable[[], None] | None = None
    ) -> "AbstractContextManager[None]":
        """Hold the store for one maintenance (``kleio gc``) at a time, across processes,
        so that each measures the space it gave back alone: one that comes second waits
        for the first (calling ``on_wait`` once, first) and then finds nothing left to
        give. The base holds nothing: a backend that measures no :meth:`size` need not.
        """
        from contextlib import nullcontext

        return nullcontext()

    @abc.abstractmethod
    def _chunk_page(self, blob_id: str, start: int, stop: int) -> list[bytes]:
        """Chunks number ``start`` to ``stop - 1`` of a blob, in order."""

    # -- lifetime --------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def open(cls, address: str, name: str, catalogue: Catalogue) -> "Store":
        """The store at ``address`` (a database ``name`` where the backend has several),
        keeping ``catalogue`` beside its documents; :func:`kleio.store.open_store` picks
        the class by the address's scheme."""

    @staticmethod
    def preload() -> None:
        """Import now what the backend would import on first use (for a process that
        may fork soon: see ``kleio.client.logger``). Nothing by default."""
        return None

    def connect_ahead(self) -> None:
        """Start connecting now, beside what the caller does before its first call (a
        run's snapshot of git and the environment): a server a network away answers the
        handshake meanwhile. The first call waits for the connection and raises what it
        raised. Nothing by default (a local file opens in no time)."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
