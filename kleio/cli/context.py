"""What every command needs: the settings and, when first asked for, the store."""

from __future__ import annotations

from functools import cached_property

from kleio.core.settings import Settings, load_settings
from kleio.store.base import Store, open_store


class Context:
    """Settings resolved from the global flags; the store opened on first use."""

    def __init__(self, flags: dict, config_file: str | None = None):
        self._flags = flags
        self._config_file = config_file

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self._flags, self._config_file)

    @cached_property
    def store(self) -> Store:
        settings = self.settings
        return open_store(settings.db_address, settings.db_name)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()


def trial_record(context: Context, id_or_prefix: str):
    """The trial an id or unique prefix names (one-line errors otherwise)."""
    from kleio.core.record import TrialRecord
    from kleio.core.trial import resolve_trial

    document = resolve_trial(context.store, id_or_prefix)
    return TrialRecord(context.store, document, context.settings.lease)
