"""What Kleio sees while the script runs: its output, live wherever kleio's own output
goes, and the resources its processes use."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_script
from tests.helpers import follow, invoke, run_kleio, start_kleio, stop, text, trial_id_in

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nvidia-smi"
H200_UUID = "GPU-1c27f95c-baae-e316-605e-007c6d86f3a6"


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


@pytest.mark.slow
def test_output_reaches_the_journal_within_a_second_when_kleio_writes_to_a_file(
    env, project, tmp_path
):
    write_script(project, "quiet.py", QUIET_PRINTER)
    env = without_unbuffered(env)
    log = tmp_path / "kleio.log"
    with open(log, "wb") as out:  # as under nohup or sbatch: no terminal anywhere
        running = start_kleio(env, project, "python", "quiet.py", stdout=out, stderr=out)
    follower = None
    try:
        deadline = time.monotonic() + 30
        while "trial reserved with id" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        trial = trial_id_in(log.read_bytes())
        received, follower = follow(env, project, "-n", "0", trial[:7])
        assert running.wait(30) == 0
        assert follower.wait(10) == 0, text(follower.stderr.read())
    finally:
        stop(running, follower)
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


BUFFERING = "import sys; print(sys.stdout.write_through)"


def test_a_python_script_prints_in_blocks_unless_the_user_chose_unbuffered(env, project):
    """Live output without a write per print: the hook makes the script's stdout
    buffered again and flushes it (see the test above for "live"), unless the user
    asked for unbuffered output (the variable, -u) or turned the hook off."""
    env = without_unbuffered(env)
    assert text(run_kleio("python", "-c", BUFFERING, env=env, cwd=project).stdout) == "False\n"
    for words, extra in (
        (["python", "-u", "-c", BUFFERING], {}),
        (["python", "-c", BUFFERING, "variable"], {"PYTHONUNBUFFERED": "1"}),
        (["--no-hook", "python", "-c", BUFFERING, "no hook"], {}),
    ):
        chosen = run_kleio(*words, env={**env, **extra}, cwd=project)
        assert text(chosen.stdout) == "True\n", words


FORKER = """\
import os, sys
print("before the fork")  # no flush
pid = os.fork()
if pid == 0:
    print("in the child")
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
print("after the fork")
"""


def test_a_script_that_forks_without_flushing_prints_each_line_once(env, project):
    write_script(project, "forker.py", FORKER)
    ran = run_kleio("python", "forker.py", env=without_unbuffered(env), cwd=project)
    assert text(ran.stdout) == "before the fork\nin the child\nafter the fork\n"
    trial = trial_id_in(ran.stderr)
    journalled = invoke("cat", trial[:7], env=env, cwd=project)
    assert text(journalled.stdout) == text(ran.stdout)


ALLOCATOR = """\
import multiprocessing, time

def work(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass

if __name__ == "__main__":
    block = bytearray(200 * 1024 * 1024)  # touched: resident
    workers = [multiprocessing.Process(target=work, args=(1.5,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    for worker in workers:
        worker.join()
    time.sleep(0.5)
    print("done")
"""


def fake_nvidia_smi(folder: Path) -> str:
    """A PATH whose ``nvidia-smi`` answers the usage query as the real one does, with
    the H200 of the fixtures (index and uuid) at 87 % and 8053 MiB."""
    fake = folder / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *utilization.gpu*)\n'
        "  echo 'index, uuid, utilization.gpu [%], memory.used [MiB]'\n"
        f"  echo '0, {H200_UUID}, 87 %, 8053 MiB'; exit 0 ;; esac\n"
        f"exec cat '{FIXTURES / 'nvidia-smi-query.csv'}'\n"
    )
    fake.chmod(0o755)
    return f"{Path(sys.executable).parent}{os.pathsep}{folder}{os.pathsep}{os.environ['PATH']}"


def test_resources_of_a_script_that_allocates_200_mb_and_forks_workers(
    kleio, project, env, tmp_path
):
    write_script(project, "allocate.py", ALLOCATOR)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    result = kleio(
        "--sample-interval", "0.2", "python", "allocate.py", PATH=fake_nvidia_smi(bin_folder)
    )
    assert result.returncode == 0, text(result.stderr)
    trial = trial_id_in(result.stderr)

    listed = invoke("stats", trial[:7], "--resources", "--format", "json", env=env, cwd=project)
    samples = json.loads(listed.stdout)
    assert len(samples) >= 5
    assert max(sample["rss"] for sample in samples) >= 200 * 1024 * 1024
    assert max(sample["processes"] for sample in samples) >= 3  # the script and 2 workers
    assert max(sample["cpu_percent"] for sample in samples) > 50
    assert all(sample["execution"] == 1 for sample in samples)
    assert samples[0]["time"].endswith("Z")
    assert {sample["gpu0_memory"] for sample in samples} == {8053 * 1024 * 1024}
    assert {sample["gpu0_utilization"] for sample in samples} == {87}

    shown = text(invoke("info", trial[:7], env=env, cwd=project).stdout)
    section = shown.split("Resource use\n------------\n")[1].split("\n\n")[0]
    lines = dict(line.strip().split(":", 1) for line in section.splitlines())
    assert float(lines["peak memory"].split()[0]) >= 200
    assert lines["peak memory"].split()[1] == "MB"
    assert lines["gpu 0"].strip() == "peak memory 7.9 GB, mean utilization 87%"

    import kleio as api

    usage = api.load_trial(trial, home=env["KLEIO_HOME"]).resource_usage
    assert [sample["rss"] for sample in usage] == [sample["rss"] for sample in samples]
    assert usage.column("processes") == [sample["processes"] for sample in samples]


def test_sampling_is_off_with_an_interval_of_0_and_a_bad_interval_is_refused(
    kleio, project, env, journal
):
    write_script(project, "nap.py", "import time\ntime.sleep(0.6)\n")
    result = kleio("--sample-interval", "0", "python", "nap.py", KLEIO_SAMPLE_INTERVAL="0.1")
    assert result.returncode == 0, text(result.stderr)
    assert list(journal.read_events(trial_id_in(result.stderr), ["usage"])) == []
    sampled = kleio("python", "nap.py", "again", KLEIO_SAMPLE_INTERVAL="0.1")
    assert len(list(journal.read_events(trial_id_in(sampled.stderr), ["usage"]))) >= 2
    refused = kleio("python", "nap.py", "third", KLEIO_SAMPLE_INTERVAL="often")
    assert refused.returncode != 0
    assert text(refused.stderr).strip().splitlines() == [
        "kleio: error: KLEIO_SAMPLE_INTERVAL must be a number of seconds >= 0, not 'often'"
    ]
    bad_option = kleio("--sample-interval", "-1", "python", "nap.py")
    assert bad_option.returncode == 2
    assert "expected a number of seconds >= 0, not '-1'" in text(bad_option.stderr)
