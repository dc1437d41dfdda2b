"""Every contract test runs against every backend, opened with the catalogue Kleio opens
its journals with (``kleio.core.model.catalogue``) unless a test gives another.

``sqlite``, ``mongomock`` and ``wire`` (pymongo over TCP to nx-27017) always run; ``mongodb``
runs when ``KLEIO_TEST_MONGODB_URI`` names a real server. Tests that share a store
between processes use ``shared_backend``: every backend but mongomock, whose data lives
in one process's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mongomock
import pytest

from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store import Catalogue, Store, open_store
from kleio.store.mongodb import MongoStore
from tests.mongo_server import real_mongodb_uri, unique_database_name

SHARED_BACKENDS = ["sqlite", "wire"] + (["mongodb"] if real_mongodb_uri() else [])
BACKENDS = ["sqlite", "mongomock", *SHARED_BACKENDS[1:]]


@dataclass
class Backend:
    """A store for one test, and how another process opens the same store."""

    name: str
    address: str
    db_name: str
    store: Store | None = None
    #: The client of a backend whose data lives in it (mongomock), shared by its stores.
    client: Any = None

    def open(self, catalogue: Catalogue = TRIAL_CATALOGUE) -> Store:
        if self.client is not None:
            return MongoStore(self.address, self.db_name, self.client, catalogue=catalogue)
        return open_store(self.address, self.db_name, catalogue=catalogue)


def _sqlite(request, tmp_path) -> Backend:
    return Backend("sqlite", str(tmp_path / "kleio.db"), "kleio")


def _mongomock(request, tmp_path) -> Backend:
    client = mongomock.MongoClient()
    return Backend(
        "mongomock", "mongodb://mongomock.invalid/", unique_database_name(), client=client
    )


def _wire(request, tmp_path) -> Backend:
    server = request.getfixturevalue("wire_server")
    return Backend("wire", server.uri, unique_database_name())


def _mongodb(request, tmp_path) -> Backend:
    return Backend("mongodb", real_mongodb_uri(), unique_database_name())


#: Backend name -> how a test gets one. A new backend is one row here.
MAKERS = {"sqlite": _sqlite, "mongomock": _mongomock, "wire": _wire, "mongodb": _mongodb}
#: Backends holding their data on a server, dropped after each test.
SERVERS = {"wire", "mongodb"}


def _backend(request, tmp_path):
    backend = MAKERS[request.param](request, tmp_path)
    if backend.store is None:
        backend.store = backend.open()
    yield backend
    if backend.name in SERVERS:
        backend.store._db.client.drop_database(backend.db_name)
    backend.store.close()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    yield from _backend(request, tmp_path)


@pytest.fixture(params=SHARED_BACKENDS)
def shared_backend(request, tmp_path):
    yield from _backend(request, tmp_path)


@pytest.fixture
def store(backend) -> Store:
    return backend.store
