from __future__ import annotations

import pytest

from tests.helpers import clean_environment


@pytest.fixture
def home(tmp_path):
    return tmp_path / "kleio-home"


@pytest.fixture
def env(home):
    return clean_environment(home)
