"""A journal another process holds locked: Kleio waits for it, and says so."""

from __future__ import annotations

import os
import select
import sqlite3
import time

import pytest

from tests.conftest import write_script
from tests.helpers import start_kleio, text

WAITING = "waiting for the journal"


@pytest.mark.slow
def test_a_run_waiting_for_a_locked_journal_says_for_whom_once_then_runs(kleio, project, home, env):
    write_script(project, "quick.py", "print('ran')\n")
    assert kleio("python", "quick.py", "--n", "1").returncode == 0  # the journal exists
    holder = sqlite3.connect(home / "kleio.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        run = start_kleio(env, project, "python", "quick.py", "--n", "2")
        said = b""
        deadline = time.monotonic() + 5.0
        while WAITING.encode() not in said and time.monotonic() < deadline:
            ready, _, _ = select.select([run.stderr], [], [], deadline - time.monotonic())
            if ready:
                said += os.read(run.stderr.fileno(), 4096)
        # Said while still waiting: the lock is still held here.
        assert WAITING.encode() in said, text(said)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    out, rest = run.communicate(timeout=60)
    errors = text(said + rest)
    assert run.returncode == 0, errors
    assert out.decode().strip() == "ran"
    line = next(line for line in errors.splitlines() if WAITING in line)
    assert line.startswith(f"kleio: {WAITING} {home / 'kleio.db'}, locked by another process")
    assert f"(pid {os.getpid()})" in line, line
    assert errors.count(WAITING) == 1, errors
