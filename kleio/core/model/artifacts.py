"""Artifacts (files a script produced, stored whole) and resources (files it read, recorded
by path, size and sha256 without copying)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from kleio.core.model.schema import artifact_problem
from kleio.core.model.trial import TrialDocument
from kleio.core.model.unreadable import skip_unreadable
from kleio.core.model.view import Segment, lineage
from kleio.store.base import BLOB_CHUNK_SIZE, BlobInfo, Store
from kleio.store.blobs import chunks_of

ARTIFACT = "artifact"


def _hashing(source: Any, digest: Any) -> Iterator[bytes]:
    for chunk in chunks_of(source, BLOB_CHUNK_SIZE):
        digest.update(chunk)
        yield chunk


def put_artifact(
    store: Store,
    trial_id: str,
    filename: str,
    source: bytes | BinaryIO,
    attributes: dict[str, Any],
    seconds: float,
    rank: int | None = None,
) -> dict[str, Any]:
    """Stream ``source`` into a blob; returns the artifact event's data. ``rank``: the
    rank of the parallel launch whose process logged it, kept in its metadata."""
    digest = hashlib.sha256()
    info = store.put_blob(
        _hashing(source, digest),
        {
            "trial": trial_id,
            "kind": ARTIFACT,
            "filename": filename,
            "time": seconds,
            "attributes": attributes,
            **({"rank": rank} if rank is not None else {}),
        },
    )
    return {
        "filename": filename,
        "blob": info.id,
        "size": info.length,
        "sha256": digest.hexdigest(),
        "attributes": attributes,
    }


class Artifact:
    """A stored file: its name, the attributes it was logged with, and its bytes;
    ``rank``: the rank of the parallel launch whose process logged it (else None)."""

    def __init__(self, store: Store, info: BlobInfo):
        self._store = store
        self.id = info.id
        self.size = info.length
        self.filename: str = info.metadata.get("filename", "")
        self.time: float = info.metadata.get("time", 0.0)
        self.trial: str = info.metadata.get("trial", "")
        self.attributes: dict[str, Any] = info.metadata.get("attributes") or {}
        self.rank: int | None = info.metadata.get("rank")

    def chunks(self) -> Iterator[bytes]:
        """The bytes, chunk by chunk (for large files)."""
        return self._store.read_blob(self.id)

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bytes to ``path`` (for the owner only when it creates the file; never
        replacing a link, a folder or a device: see :mod:`kleio.core.model.destinations`);
        returns it."""
        from kleio.core.model.destinations import destination

        with destination(path) as stream:
            for chunk in self.chunks():
                stream.write(chunk)
        return Path(path)

    def __repr__(self) -> str:
        return f"Artifact({self.filename!r}, size={self.size}, attributes={self.attributes!r})"


def find_artifacts(
    store: Store,
    document: TrialDocument,
    filename: str | None = None,
    where: dict[str, Any] | None = None,
    segments: list[Segment] | None = None,
) -> list[Artifact]:
    """Artifacts of the trial's whole view, latest first."""
    found = []
    for segment in segments if segments is not None else lineage(store, document):
        query: dict[str, Any] = {"trial": segment.trial, "kind": ARTIFACT}
        if filename is not None:
            query["filename"] = filename
        for key, value in (where or {}).items():
            query[f"attributes.{key}"] = value
        for info in store.find_blobs(query):
            problem = artifact_problem(info.metadata)
            if problem is not None:  # another program wrote it: skipped, and said
                skip_unreadable(segment.trial, problem, blob=True, identity=info.id)
                continue
            moment = info.metadata.get("time", 0.0)
            if segment.until is None or moment <= segment.until:
                found.append(Artifact(store, info))
    found.sort(key=lambda artifact: artifact.time, reverse=True)
    return found


def describe_resource(path: str | os.PathLike) -> dict[str, Any]:
    """Path, size and sha256 of a file, or of a folder's files (sorted, with their
    relative paths), without copying anything."""
    path = Path(path)
    absolute = path.resolve()
    if absolute.is_file():
        digest, size = hashlib.sha256(), 0
        with open(absolute, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        return {
            "path": str(absolute),
            "type": "file",
            "size": size,
            "sha256": digest.hexdigest(),
            "modified": absolute.stat().st_mtime,
        }
    if absolute.is_dir():
        digest, size, count = hashlib.sha256(), 0, 0
        for file in sorted(p for p in absolute.rglob("*") if p.is_file()):
            inner = describe_resource(file)
            digest.update(f"{file.relative_to(absolute).as_posix()}\0{inner['sha256']}\n".encode())
            size += inner["size"]
            count += 1
        return {
            "path": str(absolute),
            "type": "folder",
            "size": size,
            "files": count,
            "sha256": digest.hexdigest(),
        }
    raise FileNotFoundError(f"no file or folder at {path}")
