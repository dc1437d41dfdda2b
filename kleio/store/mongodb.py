"""The MongoDB store, for teams and clusters: many machines, one server or replica set.

Collections: ``trials`` (one document per trial, ``_id`` the trial id), ``events``
(unique on ``(trial, kind, key)``), ``summaries`` (one document per trial and kind, see
:meth:`MongoStore.append_events`), ``blocks`` (a summary of each run of up to 1,000
events an append wrote, see :meth:`MongoStore.read_blocks`), ``kleio`` (facts about the
database itself) and the GridFS bucket ``blobs`` (``blobs.files``, ``blobs.chunks``),
written to the GridFS layout so MongoDB's own tools can read it. Chunks are read in ranges
of chunk numbers rather than with one cursor over a whole file, which bounds memory and
every server reply.

pymongo is imported when the first store is opened, never at ``import kleio``.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kleio.forking import at_fork
from kleio.store.addresses import mask_address, without_secrets
from kleio.store.base import (
    ABANDONED_UPLOAD_AGE,
    UNSET,
    BlobInfo,
    Block,
    Catalogue,
    DuplicateTrialError,
    Event,
    EventPage,
    Store,
    StoreError,
    StoreUnavailable,
    Summary,
    TrialQuery,
    one_of,
)
from kleio.store.blobs import blob_age
from kleio.store.blocks import BLOCK_EVENTS, block_summary
from kleio.store.keys import group_events
from kleio.store.summaries import merge_summaries, summarise_events

#: How long to look for a reachable server before a call fails (milliseconds).
SERVER_SELECTION_TIMEOUT_MS = 5000
_DUPLICATE_KEY = 11000
#: A summary marked as being written for longer than this (seconds) was left by a writer
#: that died between its events and its summary: a reader recomputes and keeps it.
ABANDONED_WRITE_AGE = 600.0
#: Attempts at a compare-and-set of a summary before giving up (others kept changing it).
_SUMMARY_ATTEMPTS = 20


def _summary_id(trial: str, kind: str) -> str:
    return json.dumps([trial, kind])


def _block_id(trial: str, kind: str, first_key: str) -> str:
    return json.dumps([trial, kind, first_key])


def _blocks_of(trial: str, kind: str, after: str | None = None) -> dict[str, Any]:
    """The query of the blocks of a trial and kind (those after the key ``after``): a
    range of their ids, which sort as their first keys (event keys hold no character
    JSON escapes nor any below ``"``), so the collection needs no index of its own."""
    start = _block_id(trial, kind, "")[:-2]  # '["trial", "kind", "'
    low = {"$gte": start} if after is None else {"$gt": _block_id(trial, kind, after)}
    return {"_id": {**low, "$lt": start + "\x7f"}}


def _block_document(trial: str, kind: str, events: list[Event], summary: str) -> dict[str, Any]:
    return {
        "_id": _block_id(trial, kind, events[0].key),
        "trial": trial,
        "kind": kind,
        "first_key": events[0].key,
        "last_key": events[-1].key,
        "count": len(events),
        "summary": summary,
    }


def _field_name(field: str) -> str:
    """A statistic's name as a MongoDB field name: ``.`` and ``$`` cannot be one."""
    if not field:
        return "%"
    return field.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _original_name(name: str) -> str:
    if name == "%":
        return ""
    return name.replace("%2E", ".").replace("%24", "$").replace("%25", "%")


def _summary_document(summary: Summary) -> dict[str, Any]:
    return summary._asdict()


def _summaries_of(document: Mapping[str, Any]) -> dict[str, Summary]:
    return {
        _original_name(name): Summary(**fields)
        for name, fields in (document.get("fields") or {}).items()
    }


def _first_line(error: Exception) -> str:
    """The first, useful line of a pymongo error."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    for cut in (" (configured timeouts", ", Timeout:", ", full error:"):
        text = text.split(cut, 1)[0]
    return text


#: The marker (in the ``kleio`` collection) of a database that has every index
#: :func:`_create_indexes` makes, followed by the paths of the catalogue's indexed fields
#: (see :func:`_indexes_marker`); a new index of its own needs a new marker name.
_INDEXED = "indexes-1"
#: Documents a batch of trials may hold: more than a journal has, so a reply holds as many
#: as fit in the server's 16 MB, the first one too (101 by default).
_WHOLE_BATCH = 1_000_000


def _indexes_marker(catalogue: Catalogue) -> str:
    """The marker of a database indexed for ``catalogue``: a database indexed for another
    one (another version of Kleio) gets the indexes it lacks once."""
    return " ".join([_INDEXED, *sorted(set(catalogue.indexed.values()))])


def _create_indexes(database: Any, catalogue: Catalogue) -> None:
    """Every index of the collections, then the marker that says so."""
    from pymongo.errors import DuplicateKeyError

    database.trials.create_index([("created", -1)])
    database.trials.create_index([("tags", 1)])
    for path in dict.fromkeys(catalogue.indexed.values()):
        database.trials.create_index([(path, 1)])
    database.events.create_index([("trial", 1), ("kind", 1), ("key", 1)], unique=True)
    database["blobs.files"].create_index([("metadata.trial", 1)])
    database["blobs.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
    database.summaries.create_index([("trial", 1)])
    try:
        database.kleio.insert_one({"_id": _indexes_marker(catalogue), "since": time.time()})
    except DuplicateKeyError:
        pass  # another process made them meanwhile


def _summarise_older_events(database: Any) -> None:
    """Mark the events journalled before summaries existed as unsummarised, once: their
    summaries are recomputed when first read."""
    for trial in database.events.distinct("trial"):
        for kind in database.events.distinct("kind", {"trial": trial}):
            database.summaries.update_one(
                {"_id": _summary_id(trial, kind)},
                {
                    "$set": {"stale": True},
                    "$setOnInsert": {"trial": trial, "kind": kind, "writing": 0, "version": 0},
                },
                upsert=True,
            )
    from pymongo.errors import DuplicateKeyError

    try:
        database.kleio.insert_one({"_id": "summaries", "since": time.time()})
    except DuplicateKeyError:
        pass  # another process marked them meanwhile


_BLOB_FIELDS = {"_id": 1, "length": 1, "chunkSize": 1, "metadata": 1, "uploadDate": 1}


def _blob_info(document: Mapping[str, Any]) -> BlobInfo:
    uploaded = document.get("uploadDate")
    if isinstance(uploaded, datetime.datetime):
        if uploaded.tzinfo is None:  # pymongo returns naive UTC times by default
            uploaded = uploaded.replace(tzinfo=datetime.timezone.utc)
        uploaded = uploaded.timestamp()
    return BlobInfo(
        document["_id"],
        document["length"],
        document["chunkSize"],
        document.get("metadata") or {},
        uploaded if isinstance(uploaded, float) else None,
    )


def _renew_lock(store: MongoStore) -> None:
    # A child may have been forked while another thread held the lock to connect.
    store._lock = threading.Lock()


class MongoStore(Store):
    """A store in a MongoDB database; see :mod:`kleio.store.base` for the contract."""

    def __init__(
        self, address: str, name: str = "kleio", client: Any = None, *, catalogue: Catalogue
    ):
        """``client``: an already-made client to use instead of connecting (tests give
        a mongomock client); by default a ``pymongo.MongoClient`` for ``address``.
        ``catalogue``: its indexed fields are indexed; its listed fields need nothing
        here, a listing's projection reads them from the documents."""
        self._uri = address
        self.address = mask_address(address)
        self.name = name
        self.catalogue = catalogue
        self._lock = threading.Lock()
        self._given_client = client
        self._client = None
        self._database = None
        self._pid = -1
        #: A connection started by :meth:`connect_ahead`, and the error it ended with.
        self._ahead: threading.Thread | None = None
        self._ahead_error: BaseException | None = None
        at_fork(self, after_in_child=_renew_lock)

    @classmethod
    def open(cls, address: str, name: str, catalogue: Catalogue) -> MongoStore:
        return cls(address, name, catalogue=catalogue)

    @staticmethod
    def preload() -> None:
        """Import now what the store imports on first use (see ``kleio.client.logger``)."""
        import bson.binary  # noqa: F401
        import pymongo.errors  # noqa: F401

    # -- connection ------------------------------------------------------------------
    @property
    def _db(self):
        if self._database is not None and self._pid == os.getpid():
            return self._database
        with self._lock:
            failed, self._ahead_error = self._ahead_error, None
            if failed is not None and self._ahead is not threading.current_thread():
                # The connection started ahead failed: its error, not a second wait of
                # SERVER_SELECTION_TIMEOUT_MS for the same answer.
                raise failed
            if self._database is None or self._pid != os.getpid():
                # After a fork the parent's client must not be used (nor closed).
                try:
                    self._connect()
                except BaseException as error:
                    if self._ahead is threading.current_thread():
                        self._ahead_error = error  # set before a waiting caller looks
                    raise
        return self._database

    def connect_ahead(self) -> None:
        """Connect and check the set-up markers in a background thread: the monitor's
        and the connection's handshakes and the markers' read (three round trips, 60 ms
        at 20 ms each) happen while the caller snapshots git and the environment."""
        if (self._database is not None and self._pid == os.getpid()) or self._ahead:
            return

        def connect() -> None:
            try:
                self._db  # noqa: B018 - connecting is the point
            except BaseException:  # kept in _ahead_error: the first call raises it
                pass

        self._ahead = threading.Thread(target=connect, name="kleio-connect", daemon=True)
        self._ahead.start()

    def _connect(self) -> None:
        import pymongo
        from pymongo.errors import ConfigurationError, InvalidURI

        options = {"appname": "kleio", "connect": False}
        lowered = self._uri.lower()
        if "serverselectiontimeoutms" not in lowered:
            options["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        if "connecttimeoutms" not in lowered:
            options["connectTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        client = self._given_client
        if client is None:
            try:
                client = pymongo.MongoClient(self._uri, **options)
            except (ConfigurationError, InvalidURI, ValueError, TypeError) as error:
                raise StoreError(
                    f"invalid MongoDB address {self.address}: {self._reason(error)}"
                ) from None
        database = client[self.name]
        with self._translated():
            # One round trip when the database is set up (the indexes took nine, paid by
            # every command: 180 ms at 20 ms a round trip). The markers live in the
            # database: dropping it drops them, and the next process makes all again.
            indexed = _indexes_marker(self.catalogue)
            done = {
                marker["_id"]
                for marker in database.kleio.find(
                    {"_id": {"$in": [indexed, "summaries"]}}, {"_id": 1}
                )
            }
            if indexed not in done:
                _create_indexes(database, self.catalogue)
            if "summaries" not in done:
                _summarise_older_events(database)
        self._client, self._database, self._pid = client, database, os.getpid()

    def _reason(self, error: Exception) -> str:
        """The first line of a pymongo error, without any part of the credentials a
        parser of a malformed address may have quoted."""
        return without_secrets(_first_line(error), self._uri)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn pymongo's errors into store errors with one password-free line."""
        from pymongo import errors

        try:
            yield
        except (errors.ConnectionFailure, errors.ServerSelectionTimeoutError) as error:
            raise StoreUnavailable(
                f"cannot reach MongoDB at {self.address}: {self._reason(error)}"
            ) from None
        except errors.OperationFailure as error:
            if error.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise StoreError(
                    f"MongoDB at {self.address} refused access: {self._reason(error)}"
                ) from None
            raise StoreError(f"MongoDB at {self.address}: {self._reason(error)}") from None
        except errors.PyMongoError as error:
            raise StoreError(f"MongoDB at {self.address}: {self._reason(error)}") from None

    def close(self) -> None:
        with self._lock:
            owned = self._given_client is None and self._pid == os.getpid()
            if self._client is not None and owned:
                self._client.close()
            self._client = self._database = None

    # -- trial documents -------------------------------------------------------------
    def create_trial(self, document: Mapping[str, Any]) -> None:
        from pymongo.errors import DuplicateKeyError

        with self._translated():
            try:
                self._db.trials.insert_one(dict(document))
            except DuplicateKeyError:
                raise DuplicateTrialError(document["_id"]) from None

    def get_trial(self, trial_id: str) -> dict | None:
        with self._translated():
            return self._db.trials.find_one({"_id": trial_id})

    def get_trials(self, trial_ids: Sequence[str]) -> dict[str, dict]:
        wanted = list(dict.fromkeys(trial_ids))
        with self._translated():
            found = self._db.trials.find({"_id": {"$in": wanted}}).batch_size(len(wanted) + 1)
            return {document["_id"]: document for document in found}

    def _selector(self, query: TrialQuery) -> dict[str, Any]:
        selector: dict[str, Any] = {}
        if query.id_prefix:
            selector["_id"] = {"$gte": query.id_prefix, "$lt": query.id_prefix + "\U0010ffff"}
        if query.tags:
            selector["tags"] = {"$all": list(dict.fromkeys(query.tags))}
        for name, value in query.where.items():
            path = self.catalogue.indexed[name]
            selector[path] = {"$in": list(value)} if one_of(value) else value
        return selector

    def _count_trials(self, query: TrialQuery) -> int:
        # One command counted by the server, through the same indexes; no document sent.
        with self._translated():
            return self._db.trials.count_documents(self._selector(query))

    def _find_trials(self, query: TrialQuery) -> list[dict]:
        selector = self._selector(query)
        with self._translated():
            projection = {name: 1 for name in query.fields} if query.fields else None
            # Every document in one batch, up to the server's 16 MB a reply: each batch is a
            # round trip (nx-27017 sends 101 documents a batch: 2,000 listed trials took 20).
            cursor = (
                self._db.trials.find(selector, projection)
                .sort([("created", -1), ("_id", 1)])
                .batch_size(_WHOLE_BATCH)
            )
            if query.limit is not None:
                cursor = cursor.limit(int(query.limit))
            return list(cursor)

    def update_trial(
        self,
        trial_id: str,
        changes: Mapping[str, Any],
        expected: Mapping[str, Any] | None = None,
    ) -> bool:
        query = {"_id": trial_id, **(expected or {})}
        update: dict[str, dict[str, Any]] = {}
        for path, value in changes.items():
            if value is UNSET:
                update.setdefault("$unset", {})[path] = ""
            else:
                update.setdefault("$set", {})[path] = value
        with self._translated():
            if not update:
                return self._db.trials.find_one(query, {"_id": 1}) is not None
            result = self._db.trials.update_one(query, update)
        return result.matched_count == 1

    def delete_trial(self, trial_id: str) -> bool:
        with self._translated():
            return self._db.trials.delete_one({"_id": trial_id}).deleted_count > 0

    # -- events ----------------------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> int:
        """Append, then summarise what was appended (see :mod:`kleio.store.base`).

        Without a multi-document transaction (a standalone server has none), each
        ``(trial, kind)`` summary is marked as being written (``writing`` counts writers
        in flight) before the events are inserted, and updated and unmarked after, by a
        compare-and-set on its ``version``. A reader that finds the mark recomputes the
        summary from the events; one left for :data:`ABANDONED_WRITE_AGE` seconds is
        recomputed and kept.

        Three round trips for one kind (mark, insert, set), not four: the mark answers
        with the summary as it left it, which the first compare-and-set starts from. Every
        other writer of the summary changes its ``version``, so a summary changed after the
        mark fails that compare-and-set and is read again, as it always was.

        Four round trips for several kinds, however many (a run's start journals statuses
        and its execution together): the marks go in one bulk write and are read back in
        one query, the compare-and-sets in one bulk write (see :meth:`_add_to_summaries`).
        """
        from pymongo.errors import BulkWriteError

        if not events:
            return 0
        groups = group_events(events)
        with self._translated():
            marked = self._mark_all_writing(list(groups))
            refused: set[tuple[str, str, str]] = set()
            documents = [
                {"trial": e.trial, "kind": e.kind, "key": e.key, "time": e.time, "data": e.data}
                for group in groups.values()
                for e in group
            ]
            try:
                self._db.events.insert_many(documents, ordered=False)
            except BulkWriteError as error:
                details = error.details
                if details.get("writeConcernErrors") or any(
                    failure.get("code") != _DUPLICATE_KEY
                    for failure in details.get("writeErrors", ())
                ):
                    raise
                # Only events already stored were refused: appending is idempotent, and
                # they are not summarised again.
                for failure in details.get("writeErrors", ()):
                    refused_event = documents[failure["index"]]
                    refused.add(
                        (refused_event["trial"], refused_event["kind"], refused_event["key"])
                    )
            news = {
                (trial, kind): [e for e in group if (trial, kind, e.key) not in refused]
                for (trial, kind), group in groups.items()
            }
            self._insert_blocks(news)  # before the marks go: see read_blocks
            self._add_to_summaries(
                {group: summarise_events(new) for group, new in news.items()},
                marked,
                {group: len(new) for group, new in news.items()},
            )
        return len(documents) - len(refused)

    def _insert_blocks(self, groups: Mapping[tuple[str, str], list[Event]]) -> None:
        """The blocks of events just appended (:data:`BLOCK_EVENTS` each at most), in one
        round trip, for groups of :data:`BLOCK_EVENTS` events or more only: a status
        change, an execution's start, a script's small flush stay three round trips (20 ms
        each to a hosted MongoDB), and a reader makes the blocks such events lack (see
        read_blocks); none for groups without a number (output), whose blocks nobody
        reads."""
        from pymongo.errors import BulkWriteError

        documents = []
        for (trial, kind), new in groups.items():
            if len(new) < BLOCK_EVENTS:
                continue
            for start in range(0, len(new), BLOCK_EVENTS):
                part = new[start : start + BLOCK_EVENTS]
                summary = block_summary(part)
                if summary.endswith('"f":{}}'):
                    break
                documents.append(_block_document(trial, kind, part, summary))
        if not documents:
            return
        try:
            self._db.blocks.insert_many(documents, ordered=False)
        except BulkWriteError as error:  # blocks written already (a batch appended again)
            details = error.details
            if details.get("writeConcernErrors") or any(
                failure.get("code") != _DUPLICATE_KEY for failure in details.get("writeErrors", ())
            ):
                raise

    def read_blocks(self, trial: str, kind: str) -> list[Block] | None:
        """The blocks, when no writer is in flight (the summary's mark, which a writer
        clears only after its blocks are in) and they account for every event, in order,
        without overlap. Blocks missing (small appends, an older journal) are computed
        from the events and kept, when no writer came meanwhile: those of the events
        after the last block alone when they are the ones missing (a trial logging in
        small flushes), else all."""
        with self._translated():
            marked = self._db.summaries.find_one(
                {"_id": _summary_id(trial, kind)},
                {"writing": 1, "version": 1, "added": 1, "base": 1, "stale": 1},
            )
            if marked is not None and marked.get("writing"):
                return None
            blocks = [
                Block(d["first_key"], d["last_key"], d["count"], d["summary"])
                for d in self._db.blocks.find(
                    _blocks_of(trial, kind),
                    {"_id": 0, "first_key": 1, "last_key": 1, "count": 1, "summary": 1},
                ).sort("_id", 1)
            ]
            counted = self._event_count(trial, kind, marked)
        if any(a.last_key >= b.first_key for a, b in zip(blocks, blocks[1:], strict=False)):
            return None  # writers at once, their keys interleaved
        blocked = sum(block.count for block in blocks)
        if blocked == counted:
            return blocks
        if blocks and blocked < counted:
            tail = self._recompute_blocks(trial, kind, marked, after=blocks[-1].last_key)
            if tail is not None and blocked + sum(block.count for block in tail) == counted:
                return blocks + tail
        return self._recompute_blocks(trial, kind, marked)

    def _event_count(self, trial: str, kind: str, marked: Mapping[str, Any] | None) -> int:
        """How many events of ``kind`` the trial has, from its summary when it knows: each
        writer adds the events it inserted to the summary's ``added`` as it unmarks it (no
        round trip of its own), and the first reader that counts them (about a second for
        ten million events on a real server, each read before) keeps ``base``, the events
        the writers did not add (an older Kleio's), by a compare-and-set on the version
        it counted at, so that a writer in between leaves it unkept."""
        if marked is not None and marked.get("base") is not None and not marked.get("stale"):
            return marked["base"] + (marked.get("added") or 0)
        counted = self._db.events.count_documents({"trial": trial, "kind": kind})
        if marked is not None and not marked.get("stale"):
            self._db.summaries.update_one(
                {"_id": marked["_id"], "version": marked.get("version"), "writing": 0},
                {"$set": {"base": counted - (marked.get("added") or 0)}},
            )
        return counted

    def _recompute_blocks(
        self,
        trial: str,
        kind: str,
        marked: Mapping[str, Any] | None,
        after: str | None = None,
    ) -> list[Block] | None:
        """The blocks of the events (those after the key ``after``) from the events,
        kept in place of those stored (of those events), unless a writer came."""
        blocks: list[Block] = []
        part: list[Event] = []
        events = self.read_events(trial, [kind], after=after, page_size=10_000)
        for event in itertools.chain(events, [None]):
            if event is not None:
                part.append(event)
            if part and (event is None or len(part) == BLOCK_EVENTS):
                blocks.append(Block(part[0].key, part[-1].key, len(part), block_summary(part)))
                part = []
        with self._translated():
            now = self._db.summaries.find_one(
                {"_id": _summary_id(trial, kind)}, {"writing": 1, "version": 1}
            )
            if (now or {}).get("version") != (marked or {}).get("version"):
                return None  # a writer came meanwhile: these blocks may miss its events
            self._db.blocks.delete_many(_blocks_of(trial, kind, after))
            if blocks:
                self._db.blocks.insert_many(
                    [
                        {
                            "_id": _block_id(trial, kind, block.first_key),
                            "trial": trial,
                            "kind": kind,
                            **block._asdict(),
                        }
                        for block in blocks
                    ]
                )
        return blocks

    @staticmethod
    def _marking(trial: str, kind: str) -> dict[str, Any]:
        """The update that marks a summary as being written (made if missing)."""
        return {
            "$inc": {"writing": 1, "version": 1},
            # The trial and kind make the id, so they are set each time: the nx-27017
            # stand-in (0.8.1) drops $setOnInsert of a findAndModify. Without it a new
            # summary has no `stale`, which reads as False.
            "$set": {"touched": time.time(), "trial": trial, "kind": kind},
            "$setOnInsert": {"stale": False},
        }

    def _mark_writing(self, trial: str, kind: str) -> dict[str, Any] | None:
        """Mark the summary as being written; the summary as the mark left it."""
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        for attempt in range(2):  # two upserts racing to create it: one gets a duplicate
            try:
                return self._db.summaries.find_one_and_update(
                    {"_id": _summary_id(trial, kind)},
                    self._marking(trial, kind),
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                if attempt:
                    raise
        return None  # pragma: no cover - the second attempt returned or raised

    def _mark_all_writing(
        self, summaries: list[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """Mark the summaries of ``(trial, kind)`` pairs as being written; each summary as
        the marks left it (one round trip for one kind, two for several: the marks in one
        unordered bulk write, then one read of them all)."""
        from pymongo import UpdateOne
        from pymongo.errors import BulkWriteError

        if len(summaries) == 1:
            return {summaries[0]: self._mark_writing(*summaries[0])}
        left = list(summaries)
        for attempt in range(2):  # upserts racing to create one: the loser marks again
            try:
                self._db.summaries.bulk_write(
                    [
                        UpdateOne({"_id": _summary_id(*pair)}, self._marking(*pair), upsert=True)
                        for pair in left
                    ],
                    ordered=False,
                )
                break
            except BulkWriteError as error:
                failures = error.details.get("writeErrors", ())
                if (
                    attempt
                    or error.details.get("writeConcernErrors")
                    or any(failure.get("code") != _DUPLICATE_KEY for failure in failures)
                ):
                    raise
                left = [left[failure["index"]] for failure in failures]  # the others are marked
        ids = {_summary_id(*pair): pair for pair in summaries}
        found = {
            ids[document["_id"]]: document
            for document in self._db.summaries.find({"_id": {"$in": list(ids)}})
        }
        return {pair: found.get(pair) for pair in summaries}

    def _merged_update(
        self, document: Mapping[str, Any], added: dict[str, Summary], count: int
    ) -> dict[str, Any]:
        """The update that merges ``added`` into the summary ``document``, adds the
        ``count`` events inserted to its ``added`` (see :meth:`read_blocks`) and unmarks
        it."""
        stored = _summaries_of(document)
        merged = merge_summaries({f: s for f, s in stored.items() if f in added}, added)
        update: dict[str, Any] = {"$inc": {"writing": -1, "version": 1, "added": count}}
        if merged:
            update["$set"] = {
                f"fields.{_field_name(field)}": _summary_document(summary)
                for field, summary in merged.items()
            }
        return update

    def _add_to_summaries(
        self,
        added: dict[tuple[str, str], dict[str, Summary]],
        marked: dict[tuple[str, str], dict[str, Any] | None],
        counts: dict[tuple[str, str], int],
    ) -> None:
        """:meth:`_add_to_summary` for each ``(trial, kind)``; for several, the first
        compare-and-sets go in one unordered bulk write (one round trip).

        Each compare-and-set of the bulk write is an upsert of ``{_id, version}``: a
        summary whose version changed since its mark makes MongoDB insert a document of
        that ``_id``, which fails on the duplicate ``_id`` with the index of that write,
        so exactly those summaries are read again and retried (MongoDB retries an upsert's
        duplicate itself only when the duplicate key is the whole query, SERVER-37124;
        here the query adds the version). A summary deleted meanwhile (its trial's events
        went with it) is inserted instead: deleted again.
        """
        from pymongo import UpdateOne
        from pymongo.errors import BulkWriteError

        if len(added) == 1:
            (trial, kind), fields = next(iter(added.items()))
            self._add_to_summary(trial, kind, fields, counts[trial, kind], marked[trial, kind])
            return
        pairs = [pair for pair in added if marked.get(pair) is not None]
        requests = [
            UpdateOne(
                {"_id": marked[pair]["_id"], "version": marked[pair].get("version")},
                self._merged_update(marked[pair], added[pair], counts[pair]),
                upsert=True,
            )
            for pair in pairs
        ]
        retried = [pair for pair in added if marked.get(pair) is None]
        inserted: list[Any] = []
        if requests:
            try:
                result = self._db.summaries.bulk_write(requests, ordered=False)
                inserted = list(result.upserted_ids.values())
            except BulkWriteError as error:
                failures = error.details.get("writeErrors", ())
                if error.details.get("writeConcernErrors") or any(
                    failure.get("code") != _DUPLICATE_KEY for failure in failures
                ):
                    raise
                retried += [pairs[failure["index"]] for failure in failures]
                inserted = [upsert["_id"] for upsert in error.details.get("upserted", ())]
        if inserted:
            self._db.summaries.delete_many({"_id": {"$in": inserted}})
        for trial, kind in retried:
            self._add_to_summary(trial, kind, added[trial, kind], counts[trial, kind])

    def _add_to_summary(
        self,
        trial: str,
        kind: str,
        added: dict[str, Summary],
        count: int,
        marked: dict[str, Any] | None = None,
    ) -> None:
        """Merge ``added`` (of ``count`` events inserted) into the summary and unmark it,
        starting from ``marked`` (the summary as this writer's mark left it): read again
        only if it changed since."""
        summaries = self._db.summaries
        for attempt in range(_SUMMARY_ATTEMPTS):
            if attempt == 0 and marked is not None:
                document = marked
            else:
                document = summaries.find_one({"_id": _summary_id(trial, kind)})
            if document is None:  # deleted meanwhile: the trial's events went with it
                return
            update = self._merged_update(document, added, count)
            if summaries.update_one(
                {"_id": document["_id"], "version": document.get("version")}, update
            ).matched_count:
                return
            time.sleep(random.uniform(0, 0.001 * attempt))  # writers racing fall out of step
        # Writers busy on the same summary all along (processes logging to one trial): the
        # events are in, the summary is left for the next reader to work out from them.
        summaries.update_one(
            {"_id": _summary_id(trial, kind)},
            {"$inc": {"writing": -1, "version": 1, "added": count}, "$set": {"stale": True}},
        )

    def _event_kinds(self, trial: str) -> list[str]:
        with self._translated():
            return sorted(self._db.events.distinct("kind", {"trial": trial}))

    def _event_page(self, page: EventPage) -> list[Event]:
        trial, kind = page.trial, page.kind
        bounds: dict[str, str] = {}
        if page.low is not None:
            bounds["$gt" if page.strict else "$gte"] = page.low
        if page.high is not None:
            bounds["$lt"] = page.high
        query: dict[str, Any] = {"trial": trial, "kind": kind}
        if bounds:
            query["key"] = bounds
        with self._translated():
            cursor = (
                self._db.events.find(query, {"_id": 0, "key": 1, "time": 1, "data": 1})
                .sort("key", 1)
                .limit(page.limit)
                .batch_size(page.limit)  # the whole page in the first reply: one round trip
            )
            return [Event(trial, kind, d["key"], d["time"], d["data"]) for d in cursor]

    def count_events(self, trial: str, kinds: Sequence[str] | None = None) -> int:
        query: dict[str, Any] = {"trial": trial}
        if kinds is not None:
            query["kind"] = {"$in": list(kinds)}
        with self._translated():
            return self._db.events.count_documents(query)

    def delete_events(self, trial: str) -> int:
        with self._translated():
            deleted = self._db.events.delete_many({"trial": trial}).deleted_count
            self._db.summaries.delete_many({"trial": trial})
            start = json.dumps([trial])[:-1] + ", "  # the ids of its blocks: '["trial", '
            self._db.blocks.delete_many({"_id": {"$gte": start, "$lt": start + "\x7f"}})
        return deleted

    def event_trials(self) -> set[str]:
        with self._translated():
            return set(self._db.events.distinct("trial"))

    # -- summaries -------------------------------------------------------------------
    def _stored_summaries(
        self, trials: list[str], kind: str
    ) -> tuple[dict[str, dict[str, Summary]], list[str]]:
        found: dict[str, dict[str, Summary]] = {}
        untrusted: list[str] = []
        with self._translated():
            for start in range(0, len(trials), 1000):
                ids = [_summary_id(trial, kind) for trial in trials[start : start + 1000]]
                for document in self._db.summaries.find({"_id": {"$in": ids}}):
                    if document.get("writing") or document.get("stale"):
                        untrusted.append(document["trial"])
                    else:
                        found[document["trial"]] = _summaries_of(document)
        return found, untrusted

    def _stored_field(self, kind: str, field: str) -> tuple[dict[str, Summary], list[str]]:
        # One query, projected to the one field: a trial's other fields are never sent.
        name = _field_name(field)
        found: dict[str, Summary] = {}
        untrusted: list[str] = []
        with self._translated():
            cursor = self._db.summaries.find(
                {"kind": kind},
                {"trial": 1, f"fields.{name}": 1, "writing": 1, "stale": 1},
            ).batch_size(_WHOLE_BATCH)
            for document in cursor:
                if document.get("writing") or document.get("stale"):
                    untrusted.append(document["trial"])
                    continue
                # MongoDB nests the projected field; nx-27017 names it by its path.
                summary = (document.get("fields") or {}).get(name) or document.get(f"fields.{name}")
                if summary is not None:
                    found[document["trial"]] = Summary(**summary)
        return found, untrusted

    def _recompute_summaries(self, trial: str, kind: str) -> dict[str, Summary]:
        summaries_id = _summary_id(trial, kind)
        with self._translated():
            document = self._db.summaries.find_one({"_id": summaries_id}) or {}
        summaries = summarise_events(self.read_events(trial, [kind], page_size=10_000))
        writing = document.get("writing") or 0
        abandoned = time.time() - (document.get("touched") or 0.0) > ABANDONED_WRITE_AGE
        if document and (writing == 0 or abandoned):
            # Kept only if no writer came meanwhile (each one changes the version).
            with self._translated():
                self._db.summaries.update_one(
                    {"_id": summaries_id, "version": document.get("version")},
                    {
                        "$set": {
                            "fields": {
                                _field_name(field): _summary_document(summary)
                                for field, summary in summaries.items()
                            },
                            "writing": 0,
                            "stale": False,
                        },
                        # A writer that died may have inserted events it did not count.
                        "$unset": {"base": ""},
                        "$inc": {"version": 1},
                    },
                )
        return summaries

    # -- blobs -----------------------------------------------------------------------
    def _write_chunks(self, blob_id: str, first: int, chunks: list[bytes]) -> None:
        from bson.binary import Binary

        if chunks:
            documents = [
                {"files_id": blob_id, "n": first + index, "data": Binary(chunk)}
                for index, chunk in enumerate(chunks)
            ]
            with self._translated():
                self._db["blobs.chunks"].insert_many(documents)

    def _complete_blob(self, info: BlobInfo, first: int, chunks: list[bytes]) -> None:
        self._write_chunks(info.id, first, chunks)
        with self._translated():
            self._db["blobs.files"].insert_one(
                {
                    "_id": info.id,
                    "length": info.length,
                    "chunkSize": info.chunk_size,
                    "uploadDate": datetime.datetime.now(datetime.timezone.utc),
                    "filename": str(info.metadata.get("filename", "")),
                    "metadata": info.metadata,
                }
            )

    def _discard_chunks(self, blob_id: str) -> None:
        with self._translated():
            if self._db["blobs.files"].find_one({"_id": blob_id}, {"_id": 1}) is None:
                self._db["blobs.chunks"].delete_many({"files_id": blob_id})

    def find_blobs(self, where: Mapping[str, Any]) -> list[BlobInfo]:
        query = {f"metadata.{path}": value for path, value in where.items()}
        with self._translated():
            return [_blob_info(d) for d in self._db["blobs.files"].find(query, _BLOB_FIELDS)]

    def _blob_info(self, blob_id: str) -> BlobInfo | None:
        with self._translated():
            document = self._db["blobs.files"].find_one({"_id": blob_id}, _BLOB_FIELDS)
        return _blob_info(document) if document else None

    def delete_blob(self, blob_id: str) -> bool:
        with self._translated():
            found = self._db["blobs.files"].delete_one({"_id": blob_id}).deleted_count
            self._db["blobs.chunks"].delete_many({"files_id": blob_id})
        return found > 0

    # -- space -----------------------------------------------------------------------
    def reclaim(self, abandoned_after: float = ABANDONED_UPLOAD_AGE) -> int:
        """Remove chunks of abandoned uploads; MongoDB reuses the space of deleted
        documents by itself (``compact`` would give it back to the system, at the cost of
        blocking the collection: an administrator's decision)."""
        now, removed = time.time(), 0
        with self._translated():
            complete = set(self._db["blobs.files"].distinct("_id"))
            for blob_id in self._db["blobs.chunks"].distinct("files_id"):
                if blob_id not in complete and blob_age(str(blob_id), now) > abandoned_after:
                    removed += (
                        self._db["blobs.chunks"].delete_many({"files_id": blob_id}).deleted_count
                    )
        return removed

    def _chunk_page(self, blob_id: str, start: int, stop: int) -> list[bytes]:
        with self._translated():
            cursor = (
                self._db["blobs.chunks"]
                .find(
                    {"files_id": blob_id, "n": {"$gte": start, "$lt": stop}}, {"_id": 0, "data": 1}
                )
                .sort("n", 1)
            )
            return [bytes(document["data"]) for document in cursor]
