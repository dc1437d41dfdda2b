"""Persistence behind one contract (:mod:`kleio.store.base`), and the table of backends.

A backend is found by the scheme of the database address, in :data:`BACKENDS`. Adding
one (say PostgreSQL) is a module with a :class:`~kleio.store.base.Store` subclass, one
row here and one parameter of the contract tests (``tests/store/conftest.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

from kleio.store.base import (
    BlobNotFound,
    Catalogue,
    DuplicateTrialError,
    Store,
    StoreError,
    StoreUnavailable,
    TrialQuery,
)

#: Address scheme -> ``"module:Class"`` of the backend that stores there.
BACKENDS = {
    "sqlite": "kleio.store.sqlite:SQLiteStore",
    "mongodb": "kleio.store.mongodb:MongoStore",
    "mongodb+srv": "kleio.store.mongodb:MongoStore",
}
#: The scheme of an address that has none: a plain file path.
DEFAULT_SCHEME = "sqlite"

__all__ = [
    "BACKENDS",
    "BlobNotFound",
    "Catalogue",
    "DuplicateTrialError",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TrialQuery",
    "backend_class",
    "mask_address",
    "open_store",
    "schemes_help",
]


def __getattr__(name: str) -> Any:
    """``mask_address``, from :mod:`kleio.store.addresses` when first asked for: only
    messages print an address, and a run's start would import that module for nothing."""
    if name == "mask_address":
        from kleio.store.addresses import mask_address

        return mask_address
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def scheme_of(address: str) -> str:
    return address.split("://", 1)[0] if "://" in address else DEFAULT_SCHEME


def schemes_help() -> str:
    """``mongodb://..., mongodb+srv://..., sqlite:///PATH or a file path``."""
    others = [f"{scheme}://..." for scheme in BACKENDS if scheme != DEFAULT_SCHEME]
    return ", ".join(others) + f", {DEFAULT_SCHEME}:///PATH or a file path"


def backend_class(address: str) -> type[Store]:
    """The class of the backend for ``address`` (its module is imported now)."""
    scheme = scheme_of(address)
    target = BACKENDS.get(scheme)
    if target is None:
        from kleio.store.addresses import mask_address

        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise StoreError(
            f"unsupported database address {mask_address(address)!r}: "
            f"{scheme}:// is not one of {known}"
        )
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def open_store(address: str, name: str = "kleio", *, catalogue: Catalogue) -> Store:
    """Open the store at ``address`` (database ``name`` where the backend has several),
    keeping ``catalogue`` beside its documents (see :class:`~kleio.store.base.Catalogue`:
    Kleio opens its journals with ``kleio.core.model.catalogue.open_journal``).

    Nothing slow happens here: a server is contacted on first use.
    """
    return backend_class(address).open(address, name, catalogue)
