"""A trial's values are shown on a terminal, never acted on by it.

A command line, a tag, a note or an artifact's name may hold escape sequences (a title
change, a screen clear, a colour that hides text, a bidirectional override): ``ls``,
``info``, ``note`` and ``artifacts`` print them escaped on a terminal (as git prints
such file names), and as they are when piped.
"""

from __future__ import annotations

import os
import pty

from tests.conftest import commit, write_script
from tests.helpers import KLEIO, text, trial_id_in

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202eevil"

SCRIPT = """\
import sys
from kleio.client.logger import kleio_logger as log
log.log_artifact(sys.argv[-1] + ".bin", b"bytes")
"""


def _on_a_terminal(env, cwd, *args: str) -> bytes:
    """What ``kleio ARGS`` writes on a terminal (80 columns, no colours)."""
    pid, controller = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(KLEIO[0], [*KLEIO, *args], {**env, "NO_COLOR": "1", "COLUMNS": "200"})
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    os.close(controller)
    return output


def test_escape_sequences_in_a_trial_are_shown_not_run_on_a_terminal(kleio, project, env):
    write_script(project, "hostile.py", SCRIPT)
    commit(project)
    ran = kleio("run", "--tags", f"t{HOSTILE}", "python", "hostile.py", "--name", HOSTILE)
    assert ran.returncode == 0, text(ran.stderr)
    trial = trial_id_in(ran.stderr)[:7]
    assert kleio("note", trial, f"note {HOSTILE}").returncode == 0
    for command in (["ls"], ["info", trial], ["note", trial], ["artifacts", trial]):
        shown = _on_a_terminal(env, project, *command)
        assert b"\x1b" not in shown and b"\x07" not in shown, (command, shown)
        assert "\u202e".encode() not in shown, (command, shown)
        assert b"\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil" in shown, (command, shown)
    piped = kleio("ls")  # a pipe gets the values as they are
    assert HOSTILE in text(piped.stdout)
