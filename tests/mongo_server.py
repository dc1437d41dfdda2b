"""A MongoDB wire-protocol server for the tests: nx-27017 on a free port, or the real
MongoDB named by ``KLEIO_TEST_MONGODB_URI``.

nx-27017 differs from MongoDB in ways the tests must know (see ``WIRE_DIFFERENCES``);
Kleio is written to MongoDB's documented behaviour, not to the stand-in's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Known differences of nx-27017 0.8.1 from MongoDB that tests work around.
WIRE_DIFFERENCES = {
    "nan": "nx-27017 stores documents as JSON and refuses NaN and infinities "
    "('Invalid JSON document'); MongoDB stores them as BSON doubles",
    "missing_file": "nx-27017 fails a delete matching no document in a collection named "
    "*.files ('File with id ... not found'); MongoDB deletes nothing and reports 0",
    "upload_date": "nx-27017 returns the uploadDate of a *.files document as ISO text; "
    "MongoDB returns the date it stored",
    "nested_projection": "nx-27017 returns a projected nested field ({'fields.loss': 1}) "
    "under its dotted path ('fields.loss'); MongoDB nests it ({'fields': {'loss': ...}})",
    "chunks": "nx-27017 keeps the documents of a collection named *.chunks in its own GridFS "
    "tables: a query naming one files_id finds them, but distinct() and a query over all "
    "chunks see none (so abandoned uploads cannot be listed); MongoDB sees every document",
}


#: Known differences of mongomock (4.3) used with pymongo 4.20 that the fixtures work around.
MOCK_DIFFERENCES = {
    "bulk_update": "mongomock's bulk writer refuses the `sort` argument pymongo 4.20 gives "
    "every UpdateOne (TypeError in BulkOperationBuilder.add_update): fit_mongomock() drops "
    "it when it is None; MongoDB runs the bulk write",
    "upserted_index": "mongomock numbers the upserts of an unordered bulk write among the "
    "upserts, not among the writes; MongoDB gives the index of the write (Kleio uses the "
    "upserted _id, which both give right)",
}


def fit_mongomock() -> None:
    """Let mongomock run pymongo 4.20's bulk writes (see :data:`MOCK_DIFFERENCES`)."""
    from mongomock.collection import BulkOperationBuilder

    original = BulkOperationBuilder.add_update
    if getattr(original, "fitted", False):
        return

    def add_update(self, *args, sort=None, **options):
        if sort is not None:
            raise NotImplementedError("mongomock: an update's sort in a bulk write")
        return original(self, *args, **options)

    add_update.fitted = True
    BulkOperationBuilder.add_update = add_update


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WireServer:
    """An nx-27017 process serving a folder, one SQLite file per database."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "server.log", "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from nx_27017.nx_27017 import main; main()",
                "--data-dir",
                str(self.folder),
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                # Its default pid file is shared by every instance on the machine.
                "--pid-file",
                str(self.folder / "server.pid"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nx-27017 exited with {self.process.returncode}; "
                    f"see {self.folder / 'server.log'}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nx-27017 did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def real_mongodb_uri() -> str | None:
    return os.environ.get("KLEIO_TEST_MONGODB_URI") or None


def unique_database_name() -> str:
    return f"kleio_test_{uuid.uuid4().hex[:12]}"


@contextmanager
def mongodb_or_wire(folder: Path, address: str | None = None) -> Iterator[tuple[str, str]]:
    """``(label, address)``: the real MongoDB at ``address`` if one is given, else
    nx-27017 started in ``folder`` for the duration (the benchmarks' second backend)."""
    if address:
        yield "mongodb", address
        return
    server = WireServer(Path(folder) / "nx-27017")
    server.start()
    try:
        yield "wire", server.uri
    finally:
        server.stop()
