"""End-to-end fixtures: a temporary git repository, a fresh KLEIO_HOME, the real command."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from kleio.store.sqlite import SQLiteStore
from tests.helpers import clean_environment, run_kleio

TRAIN = """\
import sys
print("training with", sys.argv[1:])
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def home(tmp_path):
    return tmp_path / "kleio-home"


@pytest.fixture
def env(home):
    return clean_environment(
        home,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
    )


@pytest.fixture
def project(tmp_path):
    """A git repository with one commit holding ``train.py``."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "train.py").write_text(TRAIN)
    git(folder, "add", ".")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "first")
    return folder


def write_script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def commit(folder: Path, message: str = "change") -> None:
    git(folder, "add", "-A")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", message)


@pytest.fixture
def kleio(env, project):
    """``kleio(*args)``: the real command, in the project, with the temporary home."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 120, **extra_env: str):
        return run_kleio(*args, env={**env, **extra_env}, cwd=cwd or project, timeout=timeout)

    return run


@pytest.fixture
def journal(home):
    """The SQLite journal the commands wrote, to check what they recorded."""
    store = SQLiteStore(home / "kleio.db")
    yield store
    store.close()
