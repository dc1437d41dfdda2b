"""Running ``kleio`` in tests: one way in a process of its own, one way in this process.

- :func:`run_kleio` (to completion) and :func:`start_kleio` (in the background) start the
  real command, as a user does: runs, signals, terminals and anything that needs a process.
- :func:`invoke` runs it in this process with captured streams (0.2 to 0.4 s less per
  command than an interpreter's start): the commands that only read the journal.
- :func:`kleio_runner` chooses between them by the command (:data:`READING`); the
  ``kleio`` fixture of ``tests/conftest.py`` is one.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

#: The console script installed beside this interpreter (``pip install -e .``).
KLEIO = [str(Path(sys.executable).with_name("kleio"))]
if not Path(KLEIO[0]).exists():  # pragma: no cover - an interpreter without the script
    KLEIO = [sys.executable, "-m", "kleio"]


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """The user's environment without any KLEIO_* setting, with a fresh KLEIO_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLEIO_")}
    env.update(KLEIO_HOME=str(home), XDG_CONFIG_HOME=str(home.parent / "xdg-config"))
    # `python` in a test's command is the interpreter running the tests.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def run_kleio(
    *args: str,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = 120,
    input: bytes | None = None,
) -> subprocess.CompletedProcess:
    """``kleio ARGS`` to completion; stdout and stderr captured as text."""
    return subprocess.run(
        [*KLEIO, *args], env=env, cwd=cwd, timeout=timeout, input=input, capture_output=True
    )


def text(output: bytes) -> str:
    return output.decode("utf-8", "replace")


def one_line_error(
    result: subprocess.CompletedProcess, *fragments: str, code: int | None = None
) -> str:
    """The one line ``kleio: error: ...`` that a command which failed (with exit status
    ``code`` when given) wrote on stderr, holding every fragment; no traceback anywhere."""
    errors = text(result.stderr)
    assert result.returncode == code if code is not None else result.returncode != 0, errors
    assert "Traceback" not in errors + text(result.stdout), errors
    lines = [line for line in errors.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("kleio: error: "), errors
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def trial_id_in(stderr: bytes) -> str:
    """The id ``kleio`` printed as reserved."""
    import re

    match = re.search(r"trial reserved with id: ([0-9a-f]{32})", text(stderr))
    assert match, text(stderr)
    return match.group(1)


def start_kleio(
    env: dict[str, str],
    cwd: Path,
    *args: str,
    stdout: IO | int = subprocess.PIPE,
    stderr: IO | int = subprocess.PIPE,
    stdin: IO | int | None = None,
    preexec_fn: Callable[[], None] | None = None,
    **extra: str,
) -> subprocess.Popen:
    """``kleio ARGS`` in the background with ``env`` and ``extra``, its output captured
    (or written where ``stdout`` and ``stderr`` say)."""
    return subprocess.Popen(
        [*KLEIO, *args],
        cwd=cwd,
        env={**env, **extra},
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=preexec_fn,
    )


def follow(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 60
) -> tuple[list[tuple[str, float]], subprocess.Popen]:
    """``kleio tail -f ARGS`` to its end: each line it printed with the time the test read
    it, and the finished process. Killed after ``timeout`` seconds."""
    import threading

    follower = start_kleio(env, cwd, "tail", "-f", *args)
    watchdog = threading.Timer(timeout, follower.kill)
    watchdog.start()
    try:
        received = [
            (text(line).rstrip("\n"), time.time()) for line in iter(follower.stdout.readline, b"")
        ]
    finally:
        watchdog.cancel()
    return received, follower


def stop(*processes: subprocess.Popen | None) -> None:
    """Kill the processes still running, and reap them."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@contextlib.contextmanager
def _environment(env: dict[str, str], cwd: Path | None) -> Iterator[None]:
    """``os.environ`` replaced by ``env`` and the working folder by ``cwd``, then restored."""
    saved, folder = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd or folder)
    time.tzset()  # local times follow TZ, as in a process started with it
    try:
        yield
    finally:
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(saved)
        time.tzset()


def invoke(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``kleio ARGS`` run in this process (HTTPie's MockEnvironment, click's CliRunner):
    the same result as :func:`run_kleio`, without starting an interpreter. For commands
    that read the journal; a run's end-to-end tests keep the real subprocess. One thread
    at a time: the command gets this process's environment and working folder."""
    from kleio.cli.main import main

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    with _environment(env, cwd):
        code = main(list(args), stdout=stdout, stderr=stderr)
    return subprocess.CompletedProcess(
        ["kleio", *args], code, stdout.buffer.getvalue(), stderr.buffer.getvalue()
    )


#: Commands that only read the journal (``export`` and ``artifacts get`` write a file at
#: most): :func:`kleio_runner` runs them in this process, but ``tail -f``, which waits.
READING = frozenset(
    {"ls", "info", "cat", "tail", "stats", "artifacts", "compare", "diff", "export", "studies"}
)


def reads_only(args: tuple[str, ...]) -> bool:
    """Whether ``kleio ARGS`` only reads the journal and returns (see :data:`READING`)."""
    return bool(args) and args[0] in READING and not {"-f", "--follow"} & set(args)


def kleio_runner(
    env: dict[str, str], folder: Path, timeout: float = 120
) -> Callable[..., subprocess.CompletedProcess]:
    """``kleio(*args, cwd=None, timeout=timeout, **extra_env)``: ``kleio ARGS`` in ``cwd``
    (default ``folder``) with ``env`` and ``extra_env``, to completion. Commands that only
    read run in this process (:func:`invoke`, no timeout), the others as a user runs them
    (:func:`run_kleio`)."""
    longest = timeout

    def kleio(
        *args: str, cwd: Path | None = None, timeout: float = longest, **extra_env: str
    ) -> subprocess.CompletedProcess:
        environment = {**env, **extra_env}
        if reads_only(args):
            return invoke(*args, env=environment, cwd=cwd or folder)
        return run_kleio(*args, env=environment, cwd=cwd or folder, timeout=timeout)

    return kleio
