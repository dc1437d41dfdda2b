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

from kleio.store.base import Store, open_store
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


def _backend(request, tmp_path):
    name = request.param
    if name == "sqlite":
        backend = Backend(name, str(tmp_path / "kleio.db"), "kleio")
    elif name == "mongomock":
        backend = Backend(name, "mongodb://mongomock.invalid/", unique_database_name())
        backend.store = MongoStore(backend.address, backend.db_name, client=mongomock.MongoClient())
    elif name == "wire":
        server = request.getfixturevalue("wire_server")
        backend = Backend(name, server.uri, unique_database_name())
    else:
        backend = Backend(name, real_mongodb_uri(), unique_database_name())
    if backend.store is None:
        backend.store = backend.open()
    yield backend
    if name in ("wire", "mongodb"):
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
