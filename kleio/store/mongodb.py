"""The MongoDB store, for teams and clusters: many machines, one server or replica set.

Collections: ``trials`` (one document per trial, ``_id`` the trial id), ``events``
(unique on ``(trial, kind, key)``) and the GridFS bucket ``blobs`` (``blobs.files``,
``blobs.chunks``), written to the GridFS layout so MongoDB's own tools can read it.
Chunks are read in ranges of chunk numbers rather than with one cursor over a whole
file, which bounds memory and every server reply.

pymongo is imported when the first store is opened, never at ``import kleio``.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kleio.forking import at_fork
from kleio.store.base import (
    BlobInfo,
    DuplicateTrialError,
    Event,
    EventPage,
    Store,
    StoreError,
    StoreUnavailable,
    TrialQuery,
    mask_address,
    without_secrets,
)

#: How long to look for a reachable server before a call fails (milliseconds).
SERVER_SELECTION_TIMEOUT_MS = 5000
_DUPLICATE_KEY = 11000


def _first_line(error: Exception) -> str:
    """The first, useful line of a pymongo error."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    for cut in (" (configured timeouts", ", Timeout:", ", full error:"):
        text = text.split(cut, 1)[0]
    return text


def _renew_lock(store: MongoStore) -> None:
    # A child may have been forked while another thread held the lock to connect.
    store._lock = threading.Lock()


class MongoStore(Store):
    """A store in a MongoDB database; see :mod:`kleio.store.base` for the contract."""

    def __init__(self, address: str, name: str = "kleio", client: Any = None):
        """``client``: an already-made client to use instead of connecting (tests give
        a mongomock client); by default a ``pymongo.MongoClient`` for ``address``."""
        self._uri = address
        self.address = mask_address(address)
        self.name = name
        self._lock = threading.Lock()
        self._given_client = client
        self._client = None
        self._database = None
        self._pid = -1
        at_fork(self, after_in_child=_renew_lock)

    @classmethod
    def open(cls, address: str, name: str = "kleio") -> MongoStore:
        return cls(address, name)

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
            if self._database is None or self._pid != os.getpid():
                # After a fork the parent's client must not be used (nor closed).
                self._connect()
        return self._database

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
            database.trials.create_index([("created", -1)])
            database.trials.create_index([("status", 1)])
            database.trials.create_index([("tags", 1)])
            database.trials.create_index([("project", 1)])
            database.trials.create_index([("refers.parent", 1)])
            database.events.create_index([("trial", 1), ("kind", 1), ("key", 1)], unique=True)
            database["blobs.files"].create_index([("metadata.trial", 1)])
            database["blobs.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
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

    def _find_trials(self, query: TrialQuery) -> list[dict]:
        selector: dict[str, Any] = {}
        if query.id_prefix:
            selector["_id"] = {"$gte": query.id_prefix, "$lt": query.id_prefix + "\U0010ffff"}
        if query.status is not None:
            selector["status"] = {"$in": list(query.status)}
        if query.tags:
            selector["tags"] = {"$all": list(dict.fromkeys(query.tags))}
        if query.project is not None:
            selector["project"] = query.project
        if query.parent is not None:
            selector["refers.parent"] = query.parent
        with self._translated():
            projection = {name: 1 for name in query.fields} if query.fields else None
            cursor = self._db.trials.find(selector, projection).sort([("created", -1), ("_id", 1)])
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
        with self._translated():
            if not changes:
                return self._db.trials.find_one(query, {"_id": 1}) is not None
            result = self._db.trials.update_one(query, {"$set": dict(changes)})
        return result.matched_count == 1

    # -- events ----------------------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> None:
        from pymongo.errors import BulkWriteError

        if not events:
            return
        documents = [
            {"trial": e.trial, "kind": e.kind, "key": e.key, "time": e.time, "data": e.data}
            for e in events
        ]
        with self._translated():
            try:
                self._db.events.insert_many(documents, ordered=False)
            except BulkWriteError as error:
                details = error.details
                if details.get("writeConcernErrors") or any(
                    failure.get("code") != _DUPLICATE_KEY
                    for failure in details.get("writeErrors", ())
                ):
                    raise
                # Only events already stored were refused: appending is idempotent.

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
            )
            return [Event(trial, kind, d["key"], d["time"], d["data"]) for d in cursor]

    def count_events(self, trial: str, kinds: Sequence[str] | None = None) -> int:
        query: dict[str, Any] = {"trial": trial}
        if kinds is not None:
            query["kind"] = {"$in": list(kinds)}
        with self._translated():
            return self._db.events.count_documents(query)

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
            cursor = self._db["blobs.files"].find(
                query, {"_id": 1, "length": 1, "chunkSize": 1, "metadata": 1}
            )
            return [
                BlobInfo(d["_id"], d["length"], d["chunkSize"], d.get("metadata") or {})
                for d in cursor
            ]

    def _blob_exists(self, blob_id: str) -> bool:
        with self._translated():
            return self._db["blobs.files"].find_one({"_id": blob_id}, {"_id": 1}) is not None

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
