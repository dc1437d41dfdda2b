"""The ``kleio`` command itself: help, version, settings and store errors (``kleio ls``,
which only reads, runs in this process)."""

from __future__ import annotations

import json
import time

import pytest

from kleio import __version__
from tests.helpers import invoke, run_kleio, text


def test_version_and_help(env):
    version = run_kleio("--version", env=env)
    assert version.returncode == 0 and text(version.stdout).strip() == f"kleio {__version__}"
    helped = run_kleio("--help", env=env)
    assert helped.returncode == 0
    assert "ls" in text(helped.stdout) and "kleio python train.py" in text(helped.stdout)


def test_python_dash_m_kleio_is_the_same_command(env):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "kleio", "--version"], env=env, capture_output=True
    )
    assert result.returncode == 0 and __version__ in text(result.stdout)


def test_ls_on_a_new_home_exits_0_and_creates_the_sqlite_file(env, home):
    result = invoke("ls", env=env)
    assert result.returncode == 0, text(result.stderr)
    assert (home / "kleio.db").is_file()
    listed = invoke("ls", "--json", env=env)
    assert json.loads(listed.stdout) == []


@pytest.mark.slow
def test_an_unreachable_mongodb_is_one_line_with_the_password_masked(env):
    env["KLEIO_DB_ADDRESS"] = "mongodb://user:secret@127.0.0.1:1/"
    started = time.monotonic()
    result = invoke("ls", env=env)
    elapsed = time.monotonic() - started
    errors = text(result.stderr)
    assert result.returncode != 0
    assert elapsed < 10
    assert errors.count("\n") == 1, errors
    assert "mongodb://***@127.0.0.1:1/" in errors
    assert "secret" not in errors + text(result.stdout)
    assert "Traceback" not in errors


def test_a_malformed_settings_file_names_the_file_and_line(env, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("database:\n  address: /tmp/x.db\n  name: [oops\nlease: 3\n")
    result = invoke("--config", str(config), "ls", env=env)
    errors = text(result.stderr)
    assert result.returncode != 0
    assert errors.count("\n") == 1 and str(config) in errors and "line 4" in errors
    assert "Traceback" not in errors


def test_a_malformed_user_settings_file_is_reported_too(env, home):
    user_file = home.parent / "xdg-config" / "kleio" / "config.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("heartbeat: 10\n\tlease: 3\n")
    result = invoke("ls", env=env)
    assert result.returncode != 0
    assert str(user_file) in text(result.stderr) and "line 2" in text(result.stderr)


def test_a_file_that_is_not_a_kleio_database_is_refused(env, tmp_path):
    not_kleio = tmp_path / "notes.txt"
    not_kleio.write_text("my notes\n" * 500)
    env["KLEIO_DB_ADDRESS"] = str(not_kleio)
    result = invoke("ls", env=env)
    assert result.returncode != 0
    assert "notes.txt" in text(result.stderr) and "Traceback" not in text(result.stderr)
    assert not_kleio.read_text() == "my notes\n" * 500


def test_the_wire_backend_is_selected_by_a_mongodb_address(env, wire_server):
    env["KLEIO_DB_ADDRESS"] = wire_server.uri
    env["KLEIO_DB_NAME"] = "cli_basics"
    result = invoke("ls", "--json", env=env)
    assert result.returncode == 0, text(result.stderr)
    assert json.loads(result.stdout) == []


def test_an_unknown_command_option_is_a_usage_error(env):
    result = invoke("ls", "--no-such-option", env=env)
    assert result.returncode == 2
    assert "Traceback" not in text(result.stderr)
