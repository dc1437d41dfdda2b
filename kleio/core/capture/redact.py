"""Keeping secrets out of the journal.

One rule says which names hold secrets (:func:`kleio.redaction.is_secret_name`), for
environment variables, the options of a command line, configuration keys and the
parameters of URLs alike; the store masks database addresses by the same rule.

Credentials in a URL and the values of its secret parameters (``?access_token=``) are
masked wherever they appear: git remotes, recorded variables, words of a command line.

A command line is stored with the values of secret options and the credentials of its
URLs replaced by :data:`MASK`, in its words and in its configuration (configuration
files named on it included); the script gets the real values. The trial's identity
stands on the real values through a slow, salted hash of them (:func:`fingerprint`):
the same values resume the same trial, other values make another one, and the id does
not let anyone test guesses cheaply.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from kleio.core.model.commandline import CONFIG_SUFFIXES, Assignment, Command, Option
from kleio.core.model.errors import KleioError
from kleio.redaction import MASK, holds_mask, is_secret_name, mask_url
from kleio.value import Value

#: Iterations of the hash of secret values in a trial's identity: tens of milliseconds,
#: paid only by a command line that holds secrets.
FINGERPRINT_ITERATIONS = 100_000


def without_credentials(text: str) -> str:
    """A URL (a git remote, a variable's value) with its credentials and the values of
    its secret parameters replaced by ``***`` (:func:`kleio.redaction.mask_url`)."""
    return mask_url(text)


def safe_environment(environ: dict[str, str], names) -> dict[str, str]:
    """The variables among ``names`` that are set, except secret ones; URLs unmasked of
    their credentials."""
    return {
        name: without_credentials(environ[name])
        for name in names
        if name in environ and not is_secret_name(name)
    }


def masked_value(value: Any) -> Any:
    """A configuration as stored: under a secret key, anything but a flag or nothing is
    :data:`MASK`; credentials in URLs are masked; the rest is unchanged."""
    if isinstance(value, Mapping):
        return {
            key: MASK
            if is_secret_name(str(key)) and not isinstance(item, (bool, type(None)))
            else masked_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked_value(item) for item in value]
    if isinstance(value, str):
        return without_credentials(value)
    return value


class MaskedWords(Value):
    """The words of a command line as Kleio stores them (see the module documentation):
    ``masked`` is what was masked, as the user wrote it (option names, or the words
    themselves); ``unknown`` those whose value was a mask already (a stored command line
    given back to Kleio): their real value is unknown, the command cannot run."""

    FIELDS = ("argv", "masked", "unknown")

    def __init__(
        self, argv: tuple[str, ...], masked: tuple[str, ...] = (), unknown: tuple[str, ...] = ()
    ):
        self.argv, self.masked, self.unknown = argv, masked, unknown


class MaskedCommand(MaskedWords):
    """A command line and its configuration as Kleio stores them; ``fingerprint`` is a
    hash of the real values standing for them in the identity, "" with no secret."""

    FIELDS = (*MaskedWords.FIELDS, "configuration", "fingerprint")

    def __init__(
        self,
        argv: tuple[str, ...],
        masked: tuple[str, ...] = (),
        unknown: tuple[str, ...] = (),
        configuration: dict[str, Any] | None = None,
        fingerprint: str = "",
    ):
        super().__init__(argv, masked, unknown)
        self.configuration = {} if configuration is None else configuration
        self.fingerprint = fingerprint


def mask_words(command: Command, cwd: str) -> MaskedWords:
    """The words of ``command`` as stored (its configuration need not be read)."""
    masked: list[str] = []
    unknown: list[str] = []

    def word(text: str, label: str | None = None) -> str:
        stored = without_credentials(text)
        given_masked = holds_mask(text)  # a stored command line given back
        if stored != text or given_masked:
            masked.append(label or stored)
        if given_masked:
            unknown.append(label or stored)
        return stored

    def option(part: Option) -> Option:
        if not (is_secret_name(part.key) and part.values):
            return Option(part.name, [word(value, part.name) for value in part.values], part.joined)
        # A configuration file's name is not the secret: its content, masked in the
        # configuration, is; the file is read again when the command is replayed.
        values = [value if _names_file(value, cwd) else MASK for value in part.values]
        if values != part.values or MASK in part.values:
            masked.append(part.name)
        if MASK in part.values:
            unknown.append(part.name)
        return Option(part.name, values, part.joined)

    def assignment(part: Assignment) -> Assignment:
        if part.value is None:
            return part
        if not any(is_secret_name(name) for name in part.path):
            return Assignment(part.prefix, part.key, word(part.value, part.key))
        if part.value == MASK:
            unknown.append(part.key)
        if not _names_file(part.value, cwd):
            masked.append(part.key)
            return Assignment(part.prefix, part.key, MASK)
        return part

    stored = Command(command.argv, command.start, command.program, command.interpreter)
    stored.parts = [
        option(part)
        if isinstance(part, Option)
        else assignment(part)
        if isinstance(part, Assignment)
        else word(part)
        if isinstance(part, str)
        else part
        for part in command.parts
    ]
    argv = tuple([*(word(text) for text in command.prefix), *stored.words()[command.start :]])
    return MaskedWords(argv, tuple(dict.fromkeys(masked)), tuple(dict.fromkeys(unknown)))


def mask_command(
    command: Command, configuration: dict[str, Any], project: str, cwd: str
) -> MaskedCommand:
    """``command`` (with its parsed ``configuration``) as stored."""
    words = mask_words(command, cwd)
    stored_configuration = masked_value(configuration)
    secret = words.argv != tuple(command.argv) or stored_configuration != configuration
    return MaskedCommand(
        words.argv,
        words.masked,
        words.unknown,
        stored_configuration,
        fingerprint(list(command.argv), configuration, project) if secret else "",
    )


def fingerprint(argv: list[str], configuration: dict[str, Any], project: str) -> str:
    """A slow, salted hash of a command line's real values (PBKDF2-SHA256)."""
    from kleio.core.model.trial import canonical_json

    text = canonical_json([argv, configuration]).encode("utf-8", "surrogatepass")
    salt = f"kleio secrets of {project}".encode("utf-8", "surrogatepass")
    return hashlib.pbkdf2_hmac("sha256", text, salt, FINGERPRINT_ITERATIONS).hex()[:32]


def _names_file(text: str, cwd: str) -> bool:
    return text.endswith(CONFIG_SUFFIXES) and os.path.isfile(
        os.path.join(cwd, os.path.expanduser(text))
    )


class MaskedValuesError(KleioError):
    """A command line holds values Kleio masked when it recorded them: it cannot run."""

    def __init__(self, stored: MaskedWords):
        import shlex

        example = shlex.join(
            word.replace(f"://{MASK}@", "://USER:PASSWORD@").replace(MASK, "VALUE")
            for word in stored.argv
        )
        names = ", ".join(stored.unknown)
        super().__init__(
            f"cannot replay {names}: Kleio never stores secrets, it recorded them masked; "
            f"run the command itself with the real values (`kleio {example}`: the same "
            "values resume the same trial) or give them as options to `kleio branch ID`"
        )
