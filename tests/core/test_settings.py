"""Settings: flag > KLEIO_* environment > --config file > user file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from kleio.core.model.errors import SettingsError
from kleio.core.model.settings import load_settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_put_the_sqlite_journal_in_the_xdg_data_folder(tmp_path):
    settings = load_settings(
        environ={"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "none")}
    )
    assert settings.home == tmp_path / "data" / "kleio"
    assert settings.db_address == str(tmp_path / "data" / "kleio" / "kleio.db")
    assert (settings.db_name, settings.heartbeat, settings.lease) == ("kleio", 10.0, 60.0)


def test_each_source_overrides_the_ones_below(tmp_path):
    write(
        tmp_path / "config" / "kleio" / "config.yaml",
        "home: /from/user\ndatabase:\n  name: user\n  address: /user.db\nheartbeat: 1\nlease: 5\n",
    )
    given = write(
        tmp_path / "given.yaml", "database:\n  name: given\n  address: /given.db\nheartbeat: 2\n"
    )
    environ = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "KLEIO_DB_ADDRESS": "/env.db",
        "KLEIO_LEASE": "30",
    }
    settings = load_settings({"db_address": "mongodb://flag/"}, given, environ)
    assert settings.db_address == "mongodb://flag/"  # flag
    assert settings.lease == 30.0  # environment
    assert settings.db_name == "given" and settings.heartbeat == 2.0  # --config file
    assert settings.home == Path("/from/user")  # user file
    without_flag = load_settings({}, given, environ)
    assert without_flag.db_address == "/env.db"
    assert (
        load_settings({}, None, {"XDG_CONFIG_HOME": str(tmp_path / "config")}).db_address
        == "/user.db"
    )


def test_write_patience_comes_from_the_file_or_the_environment_and_reaches_children(tmp_path):
    none = {"XDG_CONFIG_HOME": str(tmp_path / "none")}
    assert load_settings({}, None, none).write_patience == 10.0
    given = write(tmp_path / "given.yaml", "write_patience: 2.5\n")
    assert load_settings({}, given, none).write_patience == 2.5
    from_environment = load_settings({}, given, {**none, "KLEIO_WRITE_PATIENCE": "40"})
    assert from_environment.write_patience == 40.0
    # The script's logger gets its settings from the environment kleio gives it.
    child = load_settings({}, None, from_environment.environment())
    assert child.write_patience == 40.0


def test_kleio_config_names_the_settings_file(tmp_path):
    given = write(tmp_path / "given.yaml", "database:\n  name: viaenv\n")
    environ = {"KLEIO_CONFIG": str(given), "XDG_CONFIG_HOME": str(tmp_path / "none")}
    assert load_settings({}, None, environ).db_name == "viaenv"


def test_a_relative_sqlite_address_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"db_address": "journal.db"}, None, {})
    assert settings.db_address == str(tmp_path / "journal.db")


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", "database:\n  address: [unclosed\n  name: x\n")
    with pytest.raises(SettingsError) as raised:
        load_settings({}, bad, {})
    message = str(raised.value)
    assert str(bad) in message and "line 3" in message and "\n" not in message


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("databse:\n  address: x\n", "unknown setting 'databse'"),
        ("database:\n  adress: x\n", "unknown setting 'database.adress'"),
        ("- a\n- b\n", "expected a mapping"),
        ("heartbeat: soon\n", "heartbeat must be a positive number"),
        ("lease: -1\n", "lease must be a positive number"),
        ("heartbeat: 30\nlease: 20\n", "must be longer than the heartbeat"),
        ("write_patience: 0\n", "write_patience must be a positive number"),
        ("write_patience: soon\n", "write_patience must be a positive number"),
        ("write_patience: true\n", "write_patience must be a positive number"),
        ("write_patience: .inf\n", "write_patience must be a positive number"),
    ],
)
def test_invalid_settings_are_one_line_errors(tmp_path, text, fragment):
    with pytest.raises(SettingsError, match=fragment):
        load_settings({}, write(tmp_path / "s.yaml", text), {})


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({}, tmp_path / "nope.yaml", {})
