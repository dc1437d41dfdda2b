"""The integrations run against every backend as the store contract does: its fixtures."""

from tests.store.conftest import backend, shared_backend, store  # noqa: F401
