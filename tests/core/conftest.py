"""Fixtures of the core's tests."""

from __future__ import annotations

import pytest

from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path):
    """An empty SQLite store in the test's folder."""
    store = SQLiteStore(tmp_path / "kleio.db", catalogue=TRIAL_CATALOGUE)
    yield store
    store.close()
