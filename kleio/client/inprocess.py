"""Trials a process runs itself: ``kleio.start``, ``kleio.trial`` and ``kleio.current``.

.. code:: python

    import kleio

    with kleio.trial(config=vars(args)) as t:      # or: t = kleio.start(...); t.end()
        kleio.log_statistic(epoch=1, loss=0.5)

A trial started here lives as a trial launched by ``kleio python ...`` lives
(:mod:`kleio.core.running.inprocess`): reserved, running with a heartbeat, its output,
resources and the script's ``kleio_logger`` journalled, and ended ``completed``,
``broken`` (an exception, its traceback journalled with the output) or ``interrupted``
(``KeyboardInterrupt``); a process killed outright leaves it ``lost`` once the lease
expires. What the process cannot be asked, it is told by what it can see:

- the command line is ``python SCRIPT`` (the calling file, as ``sys.argv[0]`` names it
  when it is the main script, else relative to the working folder), followed by the
  script's arguments when no ``config`` is given (their configuration then is read as
  ``kleio python SCRIPT ARGS...`` reads it: the same trial); with a ``config``, the
  arguments are left out and the configuration is ``config`` made plain
  (:mod:`kleio.client.configuration`). In IPython the command line is
  ``<notebook> PATH`` (the notebook's path where the kernel tells it: the
  ``JPY_SESSION_NAME`` variable, or VS Code's ``__vsc_ipynb_file__``), ``<notebook>``
  without it, ``<ipython>`` in a terminal;
- the code is the git state of the calling file's repository (of the working folder in
  a notebook); in IPython the source of the cells executed so far is also kept, as the
  artifact ``notebook-cells.py`` (at the start, and at the end with the cells run
  meanwhile), since a notebook is rarely committed as it ran.

Under ``kleio`` (``KLEIO_TRIAL_ID`` is set, by ``kleio`` or by a parent process running
its own trial) nothing new is made: :func:`start` joins that trial and its ``end()``
leaves it to its owner.

One trial is open at a time: starting another ends the open one (completed, said on
stderr); starting the very same one again (a notebook cell run twice) returns it. A
trial still open when the interpreter leaves is ended completed, or broken by the
exception that ended the script; in IPython, a cell that raises ends the open trial
(broken, or interrupted by ``KeyboardInterrupt``).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from kleio.core.model.errors import KleioError

#: What ``end(status=...)`` may say.
_STATUSES = ("completed", "broken", "interrupted")
#: The notebook's cells, kept as an artifact (see the module documentation).
CELLS_ARTIFACT = "notebook-cells.py"
#: Exit codes of SystemExit that mean the process was asked to stop (SIGHUP, SIGINT,
#: SIGTERM, as the shell counts them).
_STOPPED_CODES = (129, 130, 143)

_lock = threading.RLock()
_open: Trial | None = None
_installed: set[str] = set()


class Trial:
    """An open trial of this process (see the module documentation).

    ``id`` is its full id. ``end()`` ends it once; the ``with`` block ends it as the
    block ends.
    """

    def __init__(self, trial_id: str, own: Any = None, key: Any = None, shell: Any = None):
        self.id = trial_id
        self._own = own  # the OwnExecution; None for a trial joined under kleio
        self._key = key
        self._shell = shell
        self._ended = False
        self._streams: list[_Tee] = []
        self._environ: dict[str, str | None] = {}

    @property
    def joined(self) -> bool:
        """Whether this is a trial ``kleio`` (or a parent process) runs: not ended here."""
        return self._own is None

    def __repr__(self) -> str:
        state = "ended" if self._ended else "joined" if self.joined else "open"
        return f"<kleio trial {self.id[:7]} ({state})>"

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> bool:
        if isinstance(error, SystemExit):
            code = error.code
            if code in (None, 0):
                self.end()
            elif code in _STOPPED_CODES:
                self.end("interrupted")
            else:
                self.end(error=error)
        else:
            self.end(error=error)
        return False

    def end(self, status: str | None = None, error: BaseException | None = None) -> None:
        """End the trial: ``completed`` by default; with ``error`` (an exception),
        ``broken`` with its traceback journalled, or ``interrupted`` for a
        ``KeyboardInterrupt``. A later call does nothing. A joined trial is only
        flushed: its owner ends it."""
        if status is not None and status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, not {type(error).__name__}")
        global _open
        with _lock:
            if self._ended:
                return
            self._ended = True
            if _open is self:
                _open = None
        from kleio.client.logger import kleio_logger

        if self._own is None:
            kleio_logger.flush()
            return
        if status is None:
            status = (
                "completed"
                if error is None
                else "interrupted"
                if isinstance(error, KeyboardInterrupt)
                else "broken"
            )
        exception = traceback = None
        if error is not None:
            import traceback as tracebacks

            exception = tracebacks.format_exception_only(type(error), error)[-1].strip()
            traceback = "".join(
                tracebacks.format_exception(type(error), error, error.__traceback__)
            )
        if self._shell is not None:
            _keep_cells(self._shell, "end")
        kleio_logger._restart()  # written (or spooled) before the end is recorded
        for stream in self._streams:
            stream.stop()
        _set_environment(self._environ)
        try:
            self._own.end(status, exception, traceback)
        except KleioError as refused:  # another process took the trial over meanwhile
            _say(str(refused))


def start(
    config: Any = None,
    *,
    project: str | None = None,
    tags: Any = (),
    name: str | None = None,
    resume: bool | str = True,
) -> Trial:
    """Start (or resume) this process's trial; see the module documentation."""
    try:
        return _start(config, project, tags, name, resume)
    except KleioError as error:
        raise _one_line(error) from None


def trial(config: Any = None, **options: Any) -> Trial:
    """:func:`start` for a ``with`` block, which ends the trial as the block ends."""
    return start(config, **options)


def current() -> Trial | None:
    """The open trial of this process: one it started, or the one ``kleio`` runs it
    under (joined); None outside of both."""
    global _open
    with _lock:
        if _open is None and os.environ.get("KLEIO_TRIAL_ID"):
            _open = Trial(os.environ["KLEIO_TRIAL_ID"])
        return _open


def _start(config: Any, project: str | None, tags: Any, name: str | None, resume: Any) -> Trial:
    from kleio.client.configuration import plain_configuration
    from kleio.core.running.inprocess import RESUME_MODES

    if not any(resume is mode for mode in RESUME_MODES[:2]) and resume != "branch":
        raise ValueError(f'resume must be True, False or "branch", not {resume!r}')
    if isinstance(tags, str):
        from kleio.core.model.trial import split_tags

        tags = split_tags(tags)
    tags = [str(tag) for tag in tags]
    configuration = plain_configuration(config)
    global _open
    with _lock:
        opened = _open
        if opened is not None and opened.joined:
            return opened
        if opened is None and os.environ.get("KLEIO_TRIAL_ID"):
            _open = _joined(os.environ["KLEIO_TRIAL_ID"], configuration)
            return _open
        shell = _ipython()
        command = _command(configuration, os.getcwd(), shell)
        key = (command, repr(configuration), project, tuple(tags), name, resume)
        if opened is not None:
            if opened._key == key:
                return opened
            _say(f"trial {opened.id[:7]} ended (completed) to start another")
            opened.end()
        _open = _own_trial(command, configuration, project, tags, name, resume, shell, key)
        return _open


def _joined(trial_id: str, configuration: dict[str, Any] | None) -> Trial:
    """The trial ``kleio`` runs this process under. A ``config`` given is recorded as
    the configuration the script resolved (the trial's ``resolved`` field, as the
    argparse hook records one) if none was: the command line keeps the identity."""
    if configuration is not None:
        from kleio.core.capture.redact import masked_value
        from kleio.core.capture.resolved import FIELD
        from kleio.core.model.catalogue import open_journal
        from kleio.core.model.settings import load_settings

        settings = load_settings()
        store = open_journal(settings.db_address, settings.db_name)
        document = store.get_trial(trial_id) or {}
        if document and not document.get(FIELD):
            given = document.get("configuration") or {}
            store.update_trial(
                trial_id,
                {
                    FIELD: {
                        "parser": "kleio.start",
                        "execution": document.get("executions") or 1,
                        "values": masked_value(configuration),
                        "defaults": [key for key in configuration if key not in given],
                    }
                },
            )
    return Trial(trial_id)


def _own_trial(
    command: Any,
    configuration: dict[str, Any] | None,
    project: str | None,
    tags: list[str],
    name: str | None,
    resume: Any,
    shell: Any,
    key: Any,
) -> Trial:
    from kleio.client.logger import kleio_logger
    from kleio.core.capture.snapshot import snapshot_of
    from kleio.core.model import status as st
    from kleio.core.model.catalogue import open_journal
    from kleio.core.model.errors import TrialNotReservable
    from kleio.core.model.settings import load_settings
    from kleio.core.model.trial import short_id
    from kleio.core.running.execution import Runner, RunOptions
    from kleio.core.running.inprocess import ALLOWED, OwnExecution, trial_to_run
    from kleio.core.running.templates import default_working_root

    settings = load_settings()
    environ = dict(os.environ)
    store = open_journal(settings.db_address, settings.db_name)
    store.connect_ahead()  # a server far away answers while git is looked at
    options = RunOptions(tags=tags, project=project, name=name, allowed=ALLOWED)
    runner = Runner(store, settings, environ, lambda message, plain=False: _say(message))
    runner.options = options
    snapshot = snapshot_of(command, os.getcwd(), environ, settings, project).replace(
        given=configuration, working_root=default_working_root(settings.home)
    )
    document = trial_to_run(runner, snapshot, resume)
    try:
        own = OwnExecution(runner, document)
    except TrialNotReservable as refusal:
        label = short_id(document["_id"])
        if refusal.status in (st.COMPLETED, st.BROKEN):
            raise TrialNotReservable(
                f'{refusal}: kleio.start(resume="branch") makes a branch of it, '
                "resume=False a new trial"
                + (
                    f", `kleio switchover {label}` lets it run again"
                    if refusal.status == st.BROKEN
                    else ""
                ),
                refusal.status,
            ) from None
        raise
    _say(f"trial reserved with id: {own.trial_id}", plain=True)
    opened = Trial(own.trial_id, own, key, shell)
    opened._environ = _set_environment(
        {
            **settings.environment(),
            "KLEIO_TRIAL_ID": own.trial_id,
            "KLEIO_EXECUTION": str(own.number),
            "KLEIO_TRIAL_WORKING_DIR": own.document["working_dir"],
            "KLEIO_PID": str(os.getpid()),  # the process holding the lease: this one
        }
    )
    kleio_logger._restart()
    kleio_logger._start()
    opened._streams = [_Tee.install(kind, own) for kind in ("stdout", "stderr")]
    _install_exit_handlers(shell)
    if shell is not None:
        _keep_cells(shell, "start")
    return opened


def _set_environment(values: dict[str, str | None]) -> dict[str, str | None]:
    """Set (or, for None, remove) variables; what they were, to set them back."""
    former = {}
    for variable, value in values.items():
        former[variable] = os.environ.get(variable)
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value
    return former


# -- what the process is ----------------------------------------------------------------
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _calling_file() -> str | None:
    """The file of the first frame outside Kleio (and the import machinery)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = os.path.abspath(filename).startswith(_PACKAGE + os.sep)
        if not inside and not filename.startswith("<frozen"):
            return filename
        frame = frame.f_back
    return None


def _relative(path: str, cwd: str) -> str:
    path = os.path.abspath(path)
    return os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path


def _command(configuration: dict[str, Any] | None, cwd: str, shell: Any) -> Any:
    """The command line standing for this process (see the module documentation)."""
    from kleio.core.model.commandline import Command, split_command

    if shell is not None:
        path = _notebook_path(shell)
        kind = "<notebook>" if getattr(shell, "kernel", None) is not None else "<ipython>"
        argv = (kind, _relative(path, cwd)) if path else (kind,)
        return Command(argv, len(argv), program=path, interpreter=sys.executable)
    filename = _calling_file()
    if filename is None or filename.startswith("<") or not os.path.isfile(filename):
        return Command(("python",), 1, interpreter=sys.executable)
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    is_main = os.path.isfile(main) and os.path.samefile(main, filename)
    words = ["python", main if is_main else _relative(filename, cwd)]
    if is_main and configuration is None:
        words += sys.argv[1:]
    return split_command(words).replace(interpreter=sys.executable)


def _ipython() -> Any:
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except Exception:  # an IPython too old or half imported
        return None


def _notebook_path(shell: Any) -> str | None:
    path = os.environ.get("JPY_SESSION_NAME") or (shell.user_ns or {}).get("__vsc_ipynb_file__")
    return str(path) if path else None


def _keep_cells(shell: Any, phase: str) -> None:
    """Journal the cells executed so far as :data:`CELLS_ARTIFACT`."""
    from kleio.client.logger import kleio_logger

    cells = [cell for cell in (shell.user_ns.get("In") or [])[1:] if cell]
    if not cells:
        return
    text = "\n\n".join(f"# In[{index}]:\n{cell}" for index, cell in enumerate(cells, 1))
    path = _notebook_path(shell)
    kleio_logger.log_artifact(
        CELLS_ARTIFACT,
        text.encode("utf-8", "backslashreplace"),
        phase=phase,
        cells=len(cells),
        notebook=path,
    )


# -- output and exits ---------------------------------------------------------------------
class _Tee:
    """``sys.stdout`` or ``sys.stderr`` while a trial is open: what is written goes where
    it went, and into the trial's journal (writes from Kleio's own threads excepted)."""

    def __init__(self, kind: str, original: Any, own: Any):
        self._kind, self._original, self._own = kind, original, own

    @classmethod
    def install(cls, kind: str, own: Any) -> _Tee:
        tee = cls(kind, getattr(sys, kind), own)
        setattr(sys, kind, tee)
        return tee

    def stop(self) -> None:
        self._own = None
        if getattr(sys, self._kind) is self:
            setattr(sys, self._kind, self._original)

    @property
    def original(self) -> Any:
        return self._original

    def write(self, text: Any) -> int:
        written = self._original.write(text)
        own = self._own
        if own is not None and not threading.current_thread().name.startswith("kleio-"):
            data = text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text
            try:
                own.printed(self._kind, bytes(data))
            except Exception:  # journalling output never breaks a print
                pass
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _say(message: str, plain: bool = False) -> None:
    """One line on the process's stderr, not journalled as its output."""
    stream = sys.stderr
    if isinstance(stream, _Tee):
        stream = stream.original
    try:
        print(message if plain else f"kleio: {message}", file=stream, flush=True)
    except (OSError, ValueError):
        pass


def _one_line(error: KleioError) -> KleioError:
    """``error`` shown as one line if nothing catches it: ``kleio: error: ...`` (by the
    interpreter's excepthook, or IPython's rendering of it)."""
    error._render_traceback_ = lambda: [f"kleio: error: {error}"]  # type: ignore[attr-defined]
    _install_exit_handlers(None)
    return error


def _install_exit_handlers(shell: Any) -> None:
    """Once: the atexit end, the excepthook, and IPython's after-cell check."""
    if "atexit" not in _installed:
        import atexit

        _installed.add("atexit")
        atexit.register(_at_exit)
        previous = sys.excepthook

        def excepthook(kind: Any, error: BaseException, traceback: Any) -> None:
            opened = _open
            if opened is not None and not opened.joined:
                opened.end(error=error.with_traceback(traceback))
            if isinstance(error, KleioError) and hasattr(error, "_render_traceback_"):
                _say(f"error: {error}")
                return
            previous(kind, error, traceback)

        sys.excepthook = excepthook
    if shell is not None and "ipython" not in _installed:
        _installed.add("ipython")
        shell.events.register("post_run_cell", _after_cell)


def _after_cell(result: Any) -> None:
    error = getattr(result, "error_in_exec", None)
    opened = _open
    if error is not None and opened is not None and not opened.joined:
        opened.end(error=error)


def _at_exit() -> None:
    opened = _open
    if opened is not None and not opened.joined:
        opened.end()
