"""A real single-node SLURM for the cluster tests, started once per session."""

from __future__ import annotations

import pytest

from tests.cluster.slurm import Slurm


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    cluster = Slurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
