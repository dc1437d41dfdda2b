"""The watcher that stops a script's group if its kleio dies, once dismissed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from kleio.core.running.launcher import _Watcher


def _state(pid: int) -> str | None:
    """The process's state letter (``Z``: a zombie nobody reaped), None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


def test_a_dismissed_watcher_leaves_the_group_alone_and_is_reaped_by_the_next(tmp_path):
    # A worker runs trial after trial: the watchers it sent away must not pile up as
    # zombies, though it waits for none of them.
    group = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        first = _Watcher(group.pid, grace=1.0)
        pid = first._process.pid
        first.dismiss()
        deadline = time.monotonic() + 30
        while _state(pid) not in ("Z", None) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _state(pid) in ("Z", None), "the dismissed watcher should have exited"
        second = _Watcher(group.pid, grace=1.0)
        assert _state(pid) is None, "nothing reaped the dismissed watcher"
        second.dismiss()
        assert group.poll() is None, "a dismissed watcher must not stop the group"
    finally:
        group.kill()
        group.wait()
