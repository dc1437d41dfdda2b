"""The trial a framework's logger or callback writes into (:mod:`.lightning`,
:mod:`.transformers`, :mod:`.keras`).

Joined
    Under ``kleio`` (``kleio python train.py``), or after the script's own
    ``kleio.start()``, the trial is open already: the integration writes into it and
    never ends it (the wrapper, or the script, does). The trial's configuration is its
    identity, given by the command line or by ``kleio.start``; what the framework calls
    its configuration (Lightning's hyperparameters, Transformers' training arguments and
    model configuration, Keras' fit parameters) is recorded beside it, as the artifact
    :data:`CONFIGURATION` (JSON), each time the framework gives it. The latest one is
    what the latest training ran with.
Opened
    Otherwise the integration opens one with ``kleio.start(config=...)``, the framework's
    configuration as the trial's, and ends it with the training's outcome: completed,
    broken (an exception; ``error`` is it), interrupted (Ctrl-C). A trial left open when
    the interpreter leaves (an exception no one caught, ``sys.exit`` in a callback) is
    ended then, by :func:`_end_open_trials`: a process never leaves a trial it opened
    running.

Statistics and artifacts go through ``kleio_logger`` in both cases: it writes into the
open trial.
"""

from __future__ import annotations

import enum
import json
import os
import sys
import threading
from typing import Any

from kleio.client.logger import kleio_logger

#: The artifact that holds the framework's configuration when the trial was open already.
CONFIGURATION = "configuration.json"

#: Trials opened by an integration and not ended yet (ended when the interpreter leaves).
_OPEN: list[FrameworkTrial] = []
_OPEN_LOCK = threading.Lock()
_EXITS_INSTALLED = False


def _in_process() -> tuple[Any, Any]:
    """``kleio.start`` and ``kleio.current`` (:mod:`kleio.client.inprocess`, which the
    package loads when first asked: a run under the wrapper never loads it otherwise),
    looked up on the package each time, so that a script or a test may stand in for them."""
    kleio = sys.modules["kleio"]  # the package, imported with this module
    return kleio.start, kleio.current


def plain(value: Any) -> Any:
    """``value`` as values Kleio stores (JSON's, and non-finite floats), or :data:`_DROP`.

    Enumerations become their value, paths their text, tuples and sets lists, numpy
    scalars and 0-d arrays numbers, ``torch.dtype`` and the like their name when they
    are simple (:func:`_named`); what is none of these (a module, a tensor, a function)
    is left out, with its key: a configuration records settings, not objects.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, int) or -(1 << 63) <= value < 1 << 63 else _DROP
    if isinstance(value, float):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return plain_mapping(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(item) for item in value]
        return [item for item in items if item is not _DROP]
    if getattr(value, "shape", None) == () and hasattr(value, "item"):  # numpy, 0-d tensor
        return plain(value.item())
    return _named(value)


def _named(value: Any) -> Any:
    """The text of a value whose type prints it as a short name (``torch.float32``)."""
    if type(value).__module__.startswith("torch") and type(value).__name__ in {"dtype", "device"}:
        return str(value)
    return _DROP


def plain_mapping(mapping: Any) -> dict[str, Any]:
    """:func:`plain` of each value of ``mapping``, keys as text; the others left out."""
    items = ((str(key), plain(value)) for key, value in dict(mapping).items())
    return {key: value for key, value in items if value is not _DROP}


_DROP = object()


class FrameworkTrial:
    """The trial one logger or callback writes into: joined or opened (see the module).

    ``config``, ``project``, ``tags``, ``name`` and ``resume`` are ``kleio.start``'s,
    used when the integration opens the trial; ``config`` is merged under the
    framework's configuration.
    """

    def __init__(
        self,
        framework: str,
        *,
        config: dict[str, Any] | None = None,
        project: str | None = None,
        tags: Any = (),
        name: str | None = None,
        resume: bool = True,
    ) -> None:
        self.framework = framework
        self._options = {"project": project, "tags": tags, "name": name, "resume": resume}
        self._config = dict(config or {})
        self._opened: Any = None  # the trial this object opened, until it ends it
        self._joined = False
        self._recorded: dict[str, Any] | None = None

    @property
    def opened(self) -> Any:
        """The trial this integration opened and has not ended, or None."""
        return self._opened

    @property
    def id(self) -> str | None:
        """The id of the trial written into, or None before it is known."""
        if self._opened is not None:
            return self._opened.id
        current = _in_process()[1]()
        return None if current is None else current.id

    def begin(self, configuration: dict[str, Any] | None = None) -> None:
        """Join the open trial, or open one with ``configuration``; when joined, record
        ``configuration`` (once per distinct value) as :data:`CONFIGURATION`."""
        if self._opened is None and not self._joined:
            start, current = _in_process()
            if current() is not None:
                self._joined = True
            else:
                config = {**self._config, **(configuration or {})}
                self._opened = start(config or None, **self._options)
                self._recorded = configuration
                _remember(self)
                return
        if configuration is not None and configuration != self._recorded:
            self._recorded = configuration
            document = {"framework": self.framework, "configuration": configuration}
            data = json.dumps(document, indent=1, sort_keys=True, default=str).encode()
            kleio_logger.log_artifact(CONFIGURATION, data, framework=self.framework)

    def statistic(self, values: dict[str, Any]) -> None:
        """Journal ``values`` (opening the trial first if needed); what Kleio cannot
        store is left out (:func:`plain`), non-finite floats are kept."""
        self.begin()
        kept = plain_mapping(values)
        if kept:
            kleio_logger.log_statistic(**kept)

    def artifact(self, filename: str, path: Any, **metadata: Any) -> None:
        """Store the file at ``path`` as ``filename`` with ``metadata``."""
        self.begin()
        kleio_logger.log_artifact(filename, path, **plain_mapping(metadata))

    def end(self, error: BaseException | None = None, status: str | None = None) -> None:
        """End the trial this integration opened (completed; ``error`` makes it broken,
        or interrupted for Ctrl-C); a joined trial is left to whoever opened it."""
        trial, self._opened = self._opened, None
        if trial is None:
            return
        with _OPEN_LOCK:
            if self in _OPEN:
                _OPEN.remove(self)
        kleio_logger.flush()
        trial.end(status=status, error=error)


def _remember(trial: FrameworkTrial) -> None:
    """Keep ``trial`` to end when the interpreter leaves, if its training has not."""
    global _EXITS_INSTALLED
    with _OPEN_LOCK:
        _OPEN.append(trial)
        if _EXITS_INSTALLED:
            return
        _EXITS_INSTALLED = True
    import atexit

    previous = sys.excepthook

    def excepthook(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        _end_open_trials(error)
        previous(kind, error, traceback)

    sys.excepthook = excepthook
    atexit.register(_end_open_trials, None)


def _end_open_trials(error: BaseException | None) -> None:
    """End every trial an integration opened and left open: broken by ``error`` (an
    exception nobody caught), or interrupted when the interpreter leaves without one
    (``sys.exit`` during training, an exception the script caught): the training did
    not reach its end, and the trial may be resumed."""
    with _OPEN_LOCK:
        left = list(_OPEN)
    for trial in left:
        if error is None:
            trial.end(status="interrupted")
        else:
            trial.end(error=error)
