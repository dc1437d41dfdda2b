"""What Kleio sees while the script runs: its output, live wherever kleio's own output
goes, and the resources its processes use."""

from __future__ import annotations

import subprocess
import threading
import time

from tests.conftest import write_script
from tests.helpers import KLEIO, run_kleio, start_kleio, text, trial_id_in


def without_unbuffered(env: dict[str, str]) -> dict[str, str]:
    """The environment of a user who never set PYTHONUNBUFFERED."""
    return {name: value for name, value in env.items() if name != "PYTHONUNBUFFERED"}


QUIET_PRINTER = """\
import time
for i in range(12):
    print(i, repr(time.time()))  # no flush: Python buffers a pipe by blocks
    time.sleep(0.25)
print("done")
"""


def test_output_reaches_the_journal_within_a_second_when_kleio_writes_to_a_file(
    env, project, tmp_path
):
    write_script(project, "quiet.py", QUIET_PRINTER)
    env = without_unbuffered(env)
    log = tmp_path / "kleio.log"
    with open(log, "wb") as out:  # as under nohup or sbatch: no terminal anywhere
        running = subprocess.Popen(
            [*KLEIO, "python", "quiet.py"], cwd=project, env=env, stdout=out, stderr=out
        )
    follower = None
    try:
        deadline = time.monotonic() + 30
        while "trial reserved with id" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        trial = trial_id_in(log.read_bytes())
        follower = start_kleio(env, project, "tail", "-f", "-n", "0", trial[:7])
        watchdog = threading.Timer(60, follower.kill)
        watchdog.start()
        received = [
            (text(line).rstrip("\n"), time.time()) for line in iter(follower.stdout.readline, b"")
        ]
        watchdog.cancel()
        assert running.wait(30) == 0
    finally:
        for process in (running, follower):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert received[-1][0] == "done"
    delays = [when - float(line.split()[1]) for line, when in received[:-1]]
    assert len(delays) >= 6, received
    assert max(delays) < 1.0, delays


def test_a_python_script_is_unbuffered_unless_the_user_said_otherwise(env, project):
    script = "import os; print(repr(os.environ.get('PYTHONUNBUFFERED')))"
    env = without_unbuffered(env)
    default = run_kleio("python", "-c", script, env=env, cwd=project)
    assert text(default.stdout) == "'1'\n"
    chosen = run_kleio(
        "python", "-c", script, "again", env={**env, "PYTHONUNBUFFERED": ""}, cwd=project
    )
    assert text(chosen.stdout) == "''\n"
