"""Where Kleio keeps its journal and how it keeps trials alive.

Each setting is taken from the first source that gives it:

1. a command-line flag (``kleio --database ADDRESS ...``);
2. a ``KLEIO_*`` environment variable;
3. the file given by ``kleio --config FILE`` (or ``KLEIO_CONFIG``);
4. the user's file ``$XDG_CONFIG_HOME/kleio/config.yaml`` (``~/.config/kleio/config.yaml``);
5. the defaults below.

A configuration file is YAML::

    home: ~/experiments/kleio      # KLEIO_HOME
    database:
      address: mongodb://user:password@db.example.org/   # KLEIO_DB_ADDRESS
      name: kleio                  # KLEIO_DB_NAME
    heartbeat: 10                  # KLEIO_HEARTBEAT, seconds
    lease: 60                      # KLEIO_LEASE, seconds
    write_patience: 10             # KLEIO_WRITE_PATIENCE, seconds a writer retries a
                                   # database that fails before it spools
    scalars: true                  # KLEIO_SCALARS=1: kleio run --scalars (or a list of
                                   # patterns, as --scalar-pattern gives them)
    log_ranks: false               # KLEIO_LOG_RANKS=0: of a parallel launch (torchrun,
                                   # srun -n), only rank 0 journals what it logs

PyYAML is imported only when a configuration file exists.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kleio.core.model.errors import SettingsError
from kleio.value import Value

#: Setting name -> (environment variable, path in a configuration file).
_SOURCES = {
    "home": ("KLEIO_HOME", ("home",)),
    "db_address": ("KLEIO_DB_ADDRESS", ("database", "address")),
    "db_name": ("KLEIO_DB_NAME", ("database", "name")),
    "heartbeat": ("KLEIO_HEARTBEAT", ("heartbeat",)),
    "lease": ("KLEIO_LEASE", ("lease",)),
    "write_patience": ("KLEIO_WRITE_PATIENCE", ("write_patience",)),
    "scalars": ("KLEIO_SCALARS", ("scalars",)),
    "log_ranks": ("KLEIO_LOG_RANKS", ("log_ranks",)),
}
_KNOWN_KEYS = {
    "home": None,
    "database": {"address", "name"},
    "heartbeat": None,
    "lease": None,
    "write_patience": None,
    "scalars": None,
    "log_ranks": None,
}
#: What ``KLEIO_SCALARS`` and ``scalars:`` (and the other switches) may say, and what it
#: means.
_SWITCHES = {"1": True, "true": True, "yes": True, "on": True}
_SWITCHES.update({"0": False, "false": False, "no": False, "off": False})

DEFAULT_HEARTBEAT = 10.0
DEFAULT_LEASE = 60.0
#: Seconds a writer (the script's statistics and artifacts, the launcher's output) retries
#: a database that fails before it spools what it holds: a flaky network or a slow shared
#: filesystem is outlasted by waiting, a database gone for longer is not waited for.
DEFAULT_WRITE_PATIENCE = 10.0


class Settings(Value):
    """Resolved settings; ``db_address`` is never empty. ``scalars``: the patterns a
    run reads statistics from its output with (``("default",)``: the default ones), or
    None: it does not (:mod:`kleio.core.running.scalars`, ``kleio run --scalars``).
    ``log_ranks``: every rank of a parallel launch journals what its script logs
    (statistics, artifacts); False: rank 0 alone (see ``kleio_logger.log_ranks``).
    ``write_patience``: seconds a writer retries a failing database before it spools
    (:class:`kleio.core.running.sink.EventSink`)."""

    FIELDS = (
        "home",
        "db_address",
        "db_name",
        "heartbeat",
        "lease",
        "scalars",
        "log_ranks",
        "write_patience",
    )

    def __init__(
        self,
        home: Path,
        db_address: str,
        db_name: str,
        heartbeat: float,
        lease: float,
        scalars: tuple[str, ...] | None = None,
        log_ranks: bool = True,
        write_patience: float = DEFAULT_WRITE_PATIENCE,
    ):
        self.home, self.db_address, self.db_name = home, db_address, db_name
        self.heartbeat, self.lease, self.scalars = heartbeat, lease, scalars
        self.log_ranks = log_ranks
        self.write_patience = write_patience

    def environment(self) -> dict[str, str]:
        """The ``KLEIO_*`` variables that give a child process these same settings."""
        return {
            "KLEIO_HOME": str(self.home),
            "KLEIO_DB_ADDRESS": self.db_address,
            "KLEIO_DB_NAME": self.db_name,
            "KLEIO_HEARTBEAT": f"{self.heartbeat:g}",
            "KLEIO_LEASE": f"{self.lease:g}",
            "KLEIO_SCALARS": _scalars_text(self.scalars),
            "KLEIO_LOG_RANKS": "1" if self.log_ranks else "0",
            "KLEIO_WRITE_PATIENCE": f"{self.write_patience:g}",
        }


def default_home(environ: Mapping[str, str] = os.environ) -> Path:
    data = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "kleio"


def user_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "kleio" / "config.yaml"


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in a YAML file; errors name the file and the line."""
    import yaml

    from kleio.core.model.commandline import DocumentTooLarge, parse_yaml

    try:
        with open(path, encoding="utf-8") as stream:
            content = parse_yaml(stream.read())
    except DocumentTooLarge as error:
        raise SettingsError(f"configuration file {path} {error}: refused") from None
    except FileNotFoundError:
        raise SettingsError(f"configuration file {path} does not exist") from None
    except OSError as error:
        raise SettingsError(f"cannot read configuration file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"configuration file {path} is not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: {describe_yaml_error(error)}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise SettingsError(
            f"{path}: expected a mapping of settings, found {type(content).__name__}"
        )
    for key, value in content.items():
        if key not in _KNOWN_KEYS:
            raise SettingsError(
                f"{path}: unknown setting {key!r} (known: {', '.join(_KNOWN_KEYS)})"
            )
        allowed = _KNOWN_KEYS[key]
        if allowed is not None:
            if not isinstance(value, dict):
                raise SettingsError(
                    f"{path}: {key!r} must be a mapping of {', '.join(sorted(allowed))}"
                )
            for sub in value:
                if sub not in allowed:
                    raise SettingsError(f"{path}: unknown setting '{key}.{sub}'")
    return content


def describe_yaml_error(error: Exception) -> str:
    """``line 3, column 7: mapping values are not allowed here``."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"


def _lookup(content: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = content
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _seconds(name: str, value: Any, source: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0 or isinstance(value, bool):
        raise SettingsError(
            f"{name} must be a positive number of seconds, not {value!r} ({source})"
        )
    return seconds


def _scalars(value: Any, source: str) -> tuple[str, ...] | None:
    """``scalars``: a switch (the default patterns when on), or a list of patterns (in
    ``KLEIO_SCALARS``, a JSON list)."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, bool):
        return ("default",) if value else None
    if isinstance(value, str) and value.strip().lower() in _SWITCHES:
        return ("default",) if _SWITCHES[value.strip().lower()] else None
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise SettingsError(
        f"scalars must be true, false or a list of patterns, not {value!r} ({source})"
    )


def _switch(name: str, value: Any, source: str) -> bool:
    """A setting that is on or off: a YAML boolean, or 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and str(value).strip().lower() in _SWITCHES:
        return _SWITCHES[str(value).strip().lower()]
    raise SettingsError(f"{name} must be true or false (1 or 0), not {value!r} ({source})")


def _scalars_text(scalars: tuple[str, ...] | None) -> str:
    """``KLEIO_SCALARS`` for a child: ``0``, ``1`` (the default patterns) or a JSON list."""
    if scalars is None:
        return "0"
    if scalars == ("default",):
        return "1"
    import json

    return json.dumps(list(scalars))


def _config_layers(
    config_file: str | os.PathLike | None, environ: Mapping[str, str]
) -> list[tuple[str, Mapping[str, Any]]]:
    """The settings files, highest precedence first: ``--config`` (or KLEIO_CONFIG),
    then the user's file."""
    layers: list[tuple[str, Mapping[str, Any]]] = []
    config_file = config_file or environ.get("KLEIO_CONFIG") or None
    if config_file:
        layers.append((str(config_file), read_config_file(config_file)))
    user_file = user_config_path(environ)
    if user_file.is_file():
        layers.append((str(user_file), read_config_file(user_file)))
    return layers


def load_settings(
    flags: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Resolve every setting from its sources, in order of precedence."""
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, (variable, _) in _SOURCES.items():
        if name in flags:
            values[name], origins[name] = flags[name], "command line"
        elif environ.get(variable):
            values[name], origins[name] = environ[variable], variable
    if len(values) < len(_SOURCES):
        # Files are read only for what flags and variables leave open: a child of
        # `kleio` has every setting in its environment and reads no file.
        for source, content in _config_layers(config_file, environ):
            for name, (_, path) in _SOURCES.items():
                found = _lookup(content, path) if name not in values else None
                if found is not None:
                    values[name], origins[name] = found, source

    home = Path(os.path.expanduser(str(values.get("home") or default_home(environ)))).absolute()
    heartbeat = _seconds(
        "heartbeat", values.get("heartbeat", DEFAULT_HEARTBEAT), origins.get("heartbeat", "default")
    )
    lease = _seconds("lease", values.get("lease", DEFAULT_LEASE), origins.get("lease", "default"))
    if lease <= heartbeat:
        raise SettingsError(
            f"the lease ({lease:g} s) must be longer than the heartbeat ({heartbeat:g} s)"
        )
    write_patience = _seconds(
        "write_patience",
        values.get("write_patience", DEFAULT_WRITE_PATIENCE),
        origins.get("write_patience", "default"),
    )
    address = str(values.get("db_address") or "").strip()
    if not address:
        address = str(home / "kleio.db")
    elif "://" not in address:
        address = os.path.abspath(os.path.expanduser(address))
    name = str(values.get("db_name") or "kleio")
    scalars = _scalars(values["scalars"], origins["scalars"]) if "scalars" in values else None
    log_ranks = (
        _switch("log_ranks", values["log_ranks"], origins["log_ranks"])
        if "log_ranks" in values
        else True
    )
    return Settings(
        home=home,
        db_address=address,
        db_name=name,
        heartbeat=heartbeat,
        lease=lease,
        scalars=scalars,
        log_ranks=log_ranks,
        write_patience=write_patience,
    )
