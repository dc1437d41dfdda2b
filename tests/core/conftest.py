"""Fixtures of the core's tests."""

from __future__ import annotations

import pytest

from kleio.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path):
    """An empty SQLite store in the test's folder."""
    store = SQLiteStore(tmp_path / "kleio.db")
    yield store
    store.close()
