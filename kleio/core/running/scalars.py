"""Scalars read from what a script prints: ``kleio run --scalars`` turns lines such as
``loss: 0.31`` or ``epoch 3 loss=0.31 acc=0.9`` into statistics of the trial, as the
output is read, so ``kleio plot`` draws the curve while the script runs.

Imported only by a run that asks for it: a run without ``--scalars`` pays nothing, not
even this import (the launcher records output with a plain
:class:`~kleio.core.running.recorder.OutputRecorder`).

How a line is read (the user's guide is ``docs/logging.rst``, "Scalars from printed
output"):

- A line is what ends with ``\\n`` (or the output's end). A progress bar that rewrites
  its line with ``\\r`` gives its last state only: one row when the line ends (tqdm
  refreshes ten times a second; its intermediate states are samples of no step).
  ANSI colour codes are removed first.
- Each pattern is applied to the line; what they find makes one statistic (one row). A
  key found by two patterns, or twice, keeps its first value.
- A pattern either has the groups ``key`` and ``value`` (every match gives one pair), or
  groups named after statistics (``(?P<loss>...)``: its first match gives each); any
  other shape is refused before the run starts, in one line.
- Values are numbers only: integers, decimals, exponents (``4.5e-05``), ``nan`` and
  ``inf``; a group whose text is no number gives nothing.
- ``epoch`` and ``step`` (any case: ``Epoch 3``) are the x of a row. A line that gives
  only them (Keras' ``Epoch 3/10``) logs nothing: they are kept, and added to the rows
  of the next lines of the same stream that do not have their own. A row without
  either is placed by its number (``kleio plot --x step``).
- Keys starting with ``_`` (Kleio's ``_trial``, ``_time``...) or ``$``, or holding NUL,
  are never logged. The default patterns also leave out ``v_num`` (PyTorch Lightning's
  logger version) and names written like environment variables (``LOCAL_RANK``,
  ``CUDA_VISIBLE_DEVICES``).

Where they come from is journalled with the execution (its start event names the
patterns and the writer of these statistics), so readers tell them from the logger's:
``kleio stats --with-meta`` shows ``_source``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from kleio.core.model.errors import KleioError
from kleio.core.model.journal import EventWriter
from kleio.core.running.recorder import OutputRecorder
from kleio.core.running.sink import EventSink

#: A number as a script prints it: 3, -0.180, 4.5e-05, .5, nan, inf.
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf(?:inity)?)"

#: Where a value ends: at the end of the line, before punctuation that separates pairs
#: (``,`` not followed by a digit: ``1,000`` is no 1), or before the next pair. A value
#: followed by a unit or a word (``0.31s``, ``2ms/step``, ``using: 0 TPU cores``,
#: ``3.5.1``, ``epoch=3-step=100.ckpt``) is not taken.
_END = (
    r"(?=\s*$|\s*(?:[;|)\]}]|,(?!\d))|\s+[^\w\s]"
    r"|\s+['\"]?[A-Za-z_][\w./-]*['\"]?(?:\s*=|:[ \t]))"
)

#: ``key: value`` (a space after the colon: ``host:8080`` and ``12:30`` are no pairs)
#: and ``key=value``, the key quoted or not (``{'loss': 0.69}``). A key is the first word
#: of what it names: it starts the line, or follows punctuation or a number, so
#: ``Total params: 66`` and ``Num Epochs = 3`` give nothing, ``Train loss: 0.3`` neither
#: (``train_loss: 0.3`` does; a pattern of one's own takes the rest).
KEY_VALUE = (
    r"(?:^|(?<=[^\w\s./-])|(?<=[^\w\s])(?=\s)|(?<=\d)(?=\s))\s*"
    r"(['\"]?)(?P<key>[A-Za-z_][\w./-]*)\1(?:\s*=\s*|:[ \t]+)"
    rf"(?P<value>{NUMBER}){_END}"
)
#: ``Epoch 3``, ``epoch 3/10``, ``Step 100:``: the x of the row, as a word and an integer.
X_WORD = r"\b(?P<key>(?i:epoch|step))\s+(?P<value>\d+)(?=\s*$|[\s:/,;|)\]])"
#: The patterns of ``--scalars`` alone (and of ``--scalar-pattern default``).
DEFAULT_PATTERNS = (KEY_VALUE, X_WORD)
#: What ``--scalar-pattern`` takes to mean the default patterns.
DEFAULT = "default"

#: The keys that place a row (lower-cased when found).
X_KEYS = ("epoch", "step")
#: Keys the default patterns leave out: PyTorch Lightning's logger version, and names
#: written like environment variables (``LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]``).
IGNORED = frozenset({"v_num"})
_ENVIRONMENT_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
#: Longest line read, in bytes: a longer one (or a line never ended, such as a progress
#: bar rewritten for hours) is skipped, so memory stays bounded.
MAX_LINE = 64 * 1024
#: Longest key kept, in characters.
MAX_KEY = 200

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(NUMBER)
_INT_BOUND = 1 << 63


class Pattern:
    """A compiled pattern and how its matches give values: pairs of ``key`` and
    ``value`` (``pairs``), or groups named after statistics."""

    __slots__ = ("text", "regex", "pairs", "default")

    def __init__(self, text: str, default: bool = False):
        self.text, self.default = text, default
        # As the user typed it (repr would double every backslash), on one line.
        shown = text if len(text) <= 80 else text[:77] + "..."
        shown = "'" + shown.replace("\n", "\\n") + "'"
        try:
            self.regex = re.compile(text)
        except re.error as error:
            raise KleioError(
                f"--scalar-pattern {shown} is not a regular expression ({error})"
            ) from None
        names = set(self.regex.groupindex)
        self.pairs = bool(names & {"key", "value"})
        if self.pairs and names != {"key", "value"}:
            missing = {"key", "value"} - names
            raise KleioError(
                f"--scalar-pattern {shown} needs a group named {missing.pop()}"
                if missing
                else f"--scalar-pattern {shown}: with groups key and value, no other "
                f"group may be named ({', '.join(sorted(names - {'key', 'value'}))})"
            )
        if not names:
            raise KleioError(
                f"--scalar-pattern {shown} names no group: give groups named key and "
                "value, or name a group after its statistic, as in (?P<loss>[0-9.]+)"
            )
        reserved = sorted(name for name in names if name.startswith("_"))
        if reserved and not self.pairs:
            raise KleioError(
                f"--scalar-pattern {shown}: statistic names starting with _ are "
                f"Kleio's ({', '.join(reserved)})"
            )

    def values(self, line: str) -> list[tuple[str, str]]:
        """The ``(key, text)`` pairs the pattern finds in ``line``, in order."""
        if self.pairs:
            return [match.group("key", "value") for match in self.regex.finditer(line)]
        match = self.regex.search(line)
        if match is None:
            return []
        return [(key, text) for key, text in match.groupdict().items() if text is not None]


def compile_patterns(texts: Sequence[str]) -> list[Pattern]:
    """The patterns of ``--scalar-pattern`` (``default``: the default patterns); the
    default patterns when none is given. A bad one is a :class:`KleioError` of one line,
    raised before the run starts."""
    patterns: list[Pattern] = []
    for text in texts or (DEFAULT,):
        if text == DEFAULT:
            patterns.extend(Pattern(default, default=True) for default in DEFAULT_PATTERNS)
        else:
            patterns.append(Pattern(text))
    return patterns


def number(text: str) -> int | float | None:
    """The number ``text`` writes (an int when it is one that fits 64 bits), else None."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        value = int(text)
        return value if -_INT_BOUND <= value < _INT_BOUND else float(value)
    if _NUMBER.fullmatch(text):
        return float(text)
    return None


def _kept(key: str, default: bool) -> bool:
    """Whether a key found by a pattern (a default one: ``default``) may be logged."""
    if not key or key[0] in "_$" or "\x00" in key or len(key) > MAX_KEY:
        return False
    return not default or (key not in IGNORED and not _ENVIRONMENT_NAME.fullmatch(key))


class LineReader:
    """The rows of one stream's lines: fed bytes as they are read, it gives a row per
    complete line that holds a value other than the x (see the module documentation).
    Keeps at most :data:`MAX_LINE` bytes of a line that has not ended."""

    def __init__(self, patterns: Sequence[Pattern]):
        self._patterns = patterns
        self._pending = bytearray()
        self._skipping = False  # the line being read is too long: skipped to its end
        #: The x of the rows to come, from the last line that gave it.
        self.x: dict[str, int | float] = {}

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        rows = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
                self._pending.clear()
            else:
                self._pending += data[start:end]
                row = self._row(self._pending)
                self._pending.clear()
                if row:
                    rows.append(row)
            start = end + 1
        if start < len(data) and not self._skipping:
            self._pending += data[start:]
            # A progress bar's earlier states are of no use: keep the one after the last
            # \r (not a final \r: it may be the start of \r\n).
            cut = self._pending.rfind(b"\r", 0, len(self._pending) - 1)
            if cut >= 0:
                del self._pending[: cut + 1]
            if len(self._pending) > MAX_LINE:
                self._pending.clear()
                self._skipping = True
        return rows

    def end(self) -> list[dict[str, Any]]:
        """The row of a last line the output did not end with ``\\n``."""
        row = None if self._skipping else self._row(self._pending)
        self._pending.clear()
        return [row] if row else []

    def _row(self, raw: bytes | bytearray) -> dict[str, Any] | None:
        if raw.endswith(b"\r"):  # \r\n
            raw = raw[:-1]
        raw = raw[raw.rfind(b"\r") + 1 :]
        if not raw or len(raw) > MAX_LINE:
            return None
        line = raw.decode("utf-8", "replace")
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        row: dict[str, Any] = {}
        for pattern in self._patterns:
            for key, text in pattern.values(line):
                if key.lower() in X_KEYS:
                    key = key.lower()
                if key in row or not _kept(key, pattern.default):
                    continue
                value = number(text)
                if value is not None:
                    row[key] = value
        if not row:
            return None
        x = {key: row[key] for key in X_KEYS if key in row}
        if len(x) == len(row):  # only the x: it places the rows to come
            self.x = x
            return None
        if x:
            self.x = {**self.x, **x}
        # The x first, as a script logging it would put it: ``kleio stats`` shows it so.
        return {**self.x, **row}


class ScalarRecorder(OutputRecorder):
    """An :class:`OutputRecorder` that also journals the rows of the lines it records,
    as statistics of ``scalar_writer`` (the writer the execution's start names), each at
    the time the read that ended its line came."""

    def __init__(
        self,
        sink: EventSink,
        writer: EventWriter,
        trial_id: str,
        kind: str,
        patterns: Sequence[Pattern],
        scalar_writer: EventWriter,
    ):
        super().__init__(sink, writer, trial_id, kind)
        self._lines = LineReader(patterns)
        self._scalar_writer = scalar_writer

    def add(self, data: bytes) -> None:
        super().add(data)
        self._log(self._lines.feed(data))

    def finish(self) -> None:
        super().finish()
        self._log(self._lines.end())

    def _log(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            moment = time.time()
            items = [("statistic", moment, row) for row in rows]
            self._sink.put_many(self._scalar_writer.events(self._trial, items))


class Scalars:
    """What an execution reading scalars needs: its patterns, the writer of their
    statistics, and what its start event says of them."""

    def __init__(self, texts: Sequence[str], patterns: Sequence[Pattern] | None = None):
        self.texts = list(texts) or [DEFAULT]
        self.patterns = compile_patterns(self.texts) if patterns is None else patterns
        self.writer = EventWriter()

    def for_execution(self) -> Scalars:
        """The same patterns with a writer of their own: each execution names its own."""
        return Scalars(self.texts, self.patterns)

    def recorder_factory(
        self, sink: EventSink, writer: EventWriter, trial_id: str
    ) -> Callable[[str], OutputRecorder]:
        """Makes the recorder of one stream (``stdout`` or ``stderr``)."""
        return lambda kind: ScalarRecorder(sink, writer, trial_id, kind, self.patterns, self.writer)

    def record(self) -> dict[str, Any]:
        """What the execution's start event keeps of them: the patterns, and the writer
        whose statistics came from the output."""
        return {"writer": self.writer.id, "patterns": self.texts}
