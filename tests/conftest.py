"""Fixtures shared by every test: an isolated environment and a MongoDB wire server."""

from __future__ import annotations

import os

import pytest

from tests.mongo_server import WireServer


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """No test reads the developer's settings or writes to their journal."""
    for name in list(os.environ):
        if name.startswith("KLEIO_") and name != "KLEIO_TEST_MONGODB_URI":
            monkeypatch.delenv(name)
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))


@pytest.fixture(scope="session")
def wire_server(tmp_path_factory):
    """nx-27017 on a free port for the whole session; stopped at the end."""
    server = WireServer(tmp_path_factory.mktemp("nx-27017"))
    server.start()
    yield server
    server.stop()
