"""Running the real ``kleio`` command the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def trial_id_in(stderr: bytes) -> str:
    """The id ``kleio`` printed as reserved."""
    import re

    match = re.search(r"trial reserved with id: ([0-9a-f]{32})", text(stderr))
    assert match, text(stderr)
    return match.group(1)


def start_kleio(env: dict[str, str], cwd: Path, *args: str, **extra: str) -> subprocess.Popen:
    """``kleio ARGS`` in the background, its output captured."""
    return subprocess.Popen(
        [*KLEIO, *args],
        cwd=cwd,
        env={**env, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
