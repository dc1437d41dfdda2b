"""What every command gets: the settings, the store when first asked for, and the
streams it prints to (so commands run in-process in tests, with captured streams)."""

from __future__ import annotations

import sys
from functools import cached_property
from typing import IO, TYPE_CHECKING

from kleio.core.model.catalogue import open_journal
from kleio.core.model.settings import Settings, load_settings
from kleio.store import Store

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from kleio.core.reading.record import TrialRecord
    from kleio.core.reading.selection import Skipped


class Context:
    """Settings resolved from the global flags; the store opened on first use."""

    def __init__(
        self,
        flags: dict,
        config_file: str | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ):
        self._flags = flags
        self._config_file = config_file
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @classmethod
    def of(
        cls,
        args: argparse.Namespace,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> Context:
        """The context of parsed arguments: the global flags, and the settings file of
        ``run --config`` or else of ``kleio --config``. Any of them may be missing (a
        command line being completed)."""
        flags = {name: getattr(args, name, None) for name in ("db_address", "db_name", "home")}
        config = getattr(args, "run_config", None) or getattr(args, "config", None)
        return cls(flags, config, stdout, stderr)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self._flags, self._config_file)

    @cached_property
    def store(self) -> Store:
        settings = self.settings
        return open_journal(settings.db_address, settings.db_name)

    def notify(self, message: str, plain: bool = False) -> None:
        """Kleio's own messages, on stderr so the script's stdout stays pipeable:
        ``kleio: message``, or the message as it is when ``plain``."""
        print(message if plain else f"kleio: {message}", file=self.stderr, flush=True)

    def warn_skipped(self, skipped: Sequence[Skipped]) -> None:
        """The one warning of a listing that skipped trials it could not read."""
        if skipped:
            from kleio.core.reading.selection import describe_skipped

            self.notify(describe_skipped(skipped))

    def record(self, id_or_prefix: str) -> TrialRecord:
        """The trial an id or unique prefix names (one-line errors otherwise)."""
        from kleio.core.model.trial import resolve_trial
        from kleio.core.reading.record import TrialRecord

        document = resolve_trial(self.store, id_or_prefix)
        return TrialRecord(self.store, document, self.settings.lease)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
