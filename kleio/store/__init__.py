"""Persistence behind one contract (:mod:`kleio.store.base`): SQLite and MongoDB."""
