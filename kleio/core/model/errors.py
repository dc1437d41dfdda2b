"""Errors a user can cause or fix. The CLI prints their message as one line."""

from __future__ import annotations


class KleioError(Exception):
    """A failure explained to the user in one line; no traceback is shown."""

    #: The exit status of ``kleio`` when this error ends a command.
    exit_code = 1


class SettingsError(KleioError):
    """A setting, a configuration file or a command-line value is invalid."""

    exit_code = 2


class CommandNotFound(KleioError):
    """The command names no program, path or trial: nothing was run nor recorded."""

    exit_code = 127


class UnknownTrial(KleioError):
    """No trial has that id or id prefix."""


class AmbiguousTrial(KleioError):
    """An id prefix matches several trials."""

    def __init__(self, prefix: str, candidates: list[str]):
        shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
        super().__init__(
            f"id prefix {prefix!r} matches {len(candidates)} trials: {shown}; give more characters"
        )
        self.candidates = candidates


class TrialNotReservable(KleioError):
    """The trial cannot be reserved now: busy, completed or broken."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


class DamagedTrial(KleioError):
    """The trial's document holds what no Kleio writes (another program wrote it): it
    cannot be shown, only deleted."""
