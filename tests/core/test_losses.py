"""What a trial's processes could not journal reaches its kleio, from any process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kleio.core.running.losses import REPORT, LossReport, describe

TELL = (
    "import sys; from kleio.core.running.losses import tell_kleio; "
    "tell_kleio({'statistic': int(sys.argv[1]), 'artifact': 0}, 'database or disk is full')"
)


@pytest.fixture
def report():
    report = LossReport()
    yield report
    report.close()


def test_a_process_that_inherited_the_pipe_tells_kleio(report):
    env = {**os.environ, **report.environment()}
    subprocess.run(
        [sys.executable, "-c", TELL, "12"], env=env, pass_fds=(report.write_fd,), check=True
    )
    report.collect()
    assert report.counts == {"statistic": 12}
    assert report.reasons == ["database or disk is full"]


def test_a_process_without_the_pipe_reopens_it(report):
    # multiprocessing's spawn and forkserver pass only the descriptors they need.
    env = {**os.environ, **report.environment()}
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", TELL, str(count)], env=env, check=True)
    report.collect()
    assert report.counts == {"statistic": 7}


def test_a_descriptor_that_is_not_the_pipe_is_never_written(report, tmp_path):
    # A process that did not inherit the pipe may have a file of its own at that number.
    target = tmp_path / "a file of the script"
    code = (
        "import os, sys; from kleio.core.running.losses import tell_kleio; "
        f"fd = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT); "
        f"os.environ[{REPORT!r}] = f'{{fd}}:' + sys.argv[1].split(':')[1]; "
        "os.environ.pop('KLEIO_PID'); tell_kleio({'statistic': 1}, 'x')"
    )
    env = {**os.environ, **report.environment()}
    subprocess.run([sys.executable, "-c", code, env[REPORT]], env=env, check=True)
    assert target.read_bytes() == b""


def test_what_is_missing_reads_as_a_sentence():
    assert describe({"statistic": 1200, "stdout": 1}) == "1,200 statistic events and 1 stdout event"
    assert describe({"a": 1, "b": 2, "c": 3}) == "1 a event, 2 b events and 3 c events"
