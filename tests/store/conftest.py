"""Every contract test runs against every backend.

``sqlite``, ``mongomock`` and ``wire`` (pymongo over TCP to nx-27017) always run; ``mongodb``
runs when ``KLEIO_TEST_MONGODB_URI`` names a real server. Tests that share a store
between processes use ``shared_backend``: every backend but mongomock, whose data lives
in one process's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import mongomock
import pytest

from kleio.store import Store, open_store
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

    def open(self) -> Store:
        return open_store(self.address, self.db_name)


def _sqlite(request, tmp_path) -> Backend:
    return Backend("sqlite", str(tmp_path / "kleio.db"), "kleio")


def _mongomock(request, tmp_path) -> Backend:
    backend = Backend("mongomock", "mongodb://mongomock.invalid/", unique_database_name())
    backend.store = MongoStore(backend.address, backend.db_name, client=mongomock.MongoClient())
    return backend


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
