"""The configuration a script resolved: what its argument parser made of the command
line, defaults included.

The command line gives a trial its identity (defaults are only known once the script
runs); the hook (:mod:`kleio.core.capture.hook`) reports, from inside the script, the namespace
its parser returned and which values the command line gave. Each execution records
what its script resolved on the trial document, as ``resolved``::

    {"parser": "argparse", "execution": 2,
     "values": {"lr": 20.0, "epochs": 3, "data": "data/"},   # as the script typed them
     "defaults": ["lr"]}                                      # not on the command line

Values are named as the command line names them: an option by its first long name
without dashes (``--learning-rate`` is ``learning-rate``, whatever its ``dest``), a
positional by its name. Secret values are masked as on the command line. A parser used
several times (``parse_known_args`` then ``parse_args``, a second parser) adds its
values; a value any of them took from the command line is not a default.

:func:`resolved_configuration` is what every reader shows (``kleio info``, the Python
API, comparisons, ``--where``): the command line's configuration with each value the
script resolved in its place, defaults added.
"""

from __future__ import annotations

from typing import Any

from kleio.core.capture.redact import masked_value
from kleio.core.model.commandline import check_caps
from kleio.core.model.trial import TrialDocument

#: The trial document's field.
FIELD = "resolved"


class Resolution:
    """What the script of one execution resolved, report after report."""

    def __init__(self, execution: int):
        self.execution = execution
        self.values: dict[str, Any] = {}
        self.typed: set[str] = set()
        self.parser: str | None = None

    def add(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Add a report of the hook; the trial's new ``resolved`` field, or None when
        the report says nothing Kleio can use. Raises
        :class:`~kleio.core.model.commandline.DocumentTooLarge` past the configuration caps."""
        values = record.get("values")
        if record.get("kind") != "argparse" or not isinstance(values, dict):
            return None
        keys = record.get("keys") if isinstance(record.get("keys"), dict) else {}
        typed = set(record.get("typed") or ())
        added = {str(keys.get(dest) or dest): value for dest, value in values.items()}
        check_caps({**self.values, **added})
        self.values.update(added)
        self.typed |= {str(keys.get(dest) or dest) for dest in typed}
        self.parser = record["kind"]
        return self.field()

    def field(self) -> dict[str, Any]:
        return {
            "parser": self.parser,
            "execution": self.execution,
            "values": masked_value(self.values),
            "defaults": [key for key in self.values if key not in self.typed],
        }


def resolved_configuration(document: TrialDocument) -> dict[str, Any]:
    """What the trial's script ran with: the command line's configuration, each value
    as the script's parser typed it (``--lr 20`` with ``type=float`` is ``20.0``, not the
    integer Kleio reads on the command line), plus the defaults it filled in. The
    command line's own values stay the trial's identity."""
    configuration = dict(document.get("configuration") or {})
    resolved = document.get(FIELD) or {}
    values = resolved.get("values") or {}
    for key, value in values.items():
        if key in configuration:
            configuration[key] = value
    for key in resolved.get("defaults") or ():
        if key in values and key not in configuration:
            configuration[key] = values[key]
    return configuration


def default_keys(document: TrialDocument) -> list[str]:
    """The keys of :func:`resolved_configuration` that the command line did not give."""
    configuration = document.get("configuration") or {}
    resolved = document.get(FIELD) or {}
    values = resolved.get("values") or {}
    return [
        key for key in resolved.get("defaults") or () if key in values and key not in configuration
    ]
