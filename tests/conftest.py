"""Fixtures shared by every test: an isolated environment, a MongoDB wire server, and for
end-to-end tests a temporary git repository, a fresh KLEIO_HOME and the real command."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store.sqlite import SQLiteStore
from tests.helpers import clean_environment, kleio_runner
from tests.mongo_server import WireServer, fit_mongomock

fit_mongomock()  # pymongo's bulk writes on mongomock (tests/mongo_server.py says why)

# Hypothesis profiles. `dev`, the default, is the developer's loop: a quarter of the
# examples each property names (see `examples`), drawn at random each run, failures kept
# in .hypothesis/ and tried first next time. `ci`, chosen when the `CI` variable is set
# (as .ci/run and CI services do, and as hypothesis' own `ci` profile is), tries every
# example named, derandomised: a CI failure is one anyone can replay on that commit, never
# a new draw unrelated to the change under review; drawing new examples is what the
# developers' runs do. `--hypothesis-profile NAME` chooses either. Neither times examples
# nor checks their generation's speed: speed is measured in bench/, never asserted in a
# test (both failed properties on a 2-core machine shared by other work).
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=25, **_UNTIMED)
settings.register_profile(
    "ci", max_examples=100, derandomize=True, database=None, print_blob=True, **_UNTIMED
)
settings.load_profile("ci" if "CI" in os.environ else "dev")


def examples(under_ci: int) -> int:
    """The examples a property tries that tries ``under_ci`` of them under the ``ci``
    profile: as many as the loaded profile gives a property that names none, per 100."""
    return max(1, under_ci * settings.default.max_examples // 100)


def pytest_configure(config):
    """Start every test from the signal dispositions of an interactive terminal.

    A suite started in the background of a non-interactive shell (``(pytest &)``, a cron
    job, some CI runners) inherits SIGINT and SIGQUIT ignored, and so would every
    ``kleio`` and script it starts: a script interrupting itself would go on. Tests of
    inherited dispositions set them explicitly (``tests/cli/test_signals.py``).
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


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


def script_project(folder: Path, script: str) -> tuple[Path, dict[str, str]]:
    """``folder/project``, a git repository whose first commit holds ``train.py``
    (``script``), and the environment of a fresh ``KLEIO_HOME`` (``folder/home``): where
    a module's fixture runs the trials its tests start from."""
    project = folder / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(script)
    commit(project, "first")
    return project, clean_environment(folder / "home")


@pytest.fixture
def kleio(env, project):
    """``kleio(*args)``: the command, in the project, with the temporary home; those that
    only read the journal run in this process (``tests.helpers.kleio_runner``)."""
    return kleio_runner(env, project)


@pytest.fixture
def journal(home):
    """The SQLite journal the commands wrote, to check what they recorded."""
    store = SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE)
    yield store
    store.close()
