"""``kleio [run] COMMAND``: journal, protect, resume and branch, end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from kleio.core.model import status as st
from kleio.core.model.printed import output_bytes
from tests.conftest import commit, git, write_script
from tests.faults.common import wait_until
from tests.helpers import start_kleio, text, trial_id_in, wait_for

FIXTURES = Path(__file__).parents[1] / "fixtures"
COMMAND = ("python", "train.py", "--lr", "0.1", "--epochs", "3")


def output_of(journal, trial_id: str, kind: str = "stdout") -> bytes:
    return b"".join(output_bytes(event.data) for event in journal.read_events(trial_id, [kind]))


def executions(journal, trial_id: str, phase: str = "start") -> list[dict]:
    return [
        e.data for e in journal.read_events(trial_id, ["execution"]) if e.data["phase"] == phase
    ]


# -- 1. what a run journals ------------------------------------------------------------


def test_a_run_journals_configuration_code_environment_and_execution(kleio, project, journal):
    (project / "cfg.yaml").write_text(
        "optimizer:\n  name: sgd\n  momentum: 0.9\nlayers: [64, 32]\n"
    )
    commit(project, "add cfg")
    (project / "train.py").write_text(
        "import sys\nprint('training with', sys.argv[1:])\nprint('done')\n"
    )  # uncommitted

    result = kleio(*COMMAND, "--config", "cfg.yaml")
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stdout) == (
        "training with ['--lr', '0.1', '--epochs', '3', '--config', 'cfg.yaml']\ndone\n"
    )
    trial_id = trial_id_in(result.stderr)
    assert "training with" not in text(result.stderr)

    document = journal.get_trial(trial_id)
    assert document["status"] == "completed" and document["exit_code"] == 0
    assert document["configuration"] == {
        "lr": 0.1,
        "epochs": 3,
        "config": {"optimizer": {"name": "sgd", "momentum": 0.9}, "layers": [64, 32]},
    }
    assert document["commandline"] == [*COMMAND, "--config", "cfg.yaml"]
    assert document["project"] == "mnist" and document["cwd"] == str(project)
    version = document["version"]
    assert version["commit"] == git(project, "rev-parse", "HEAD").strip()
    assert version["branch"] == "main" and version["dirty"] is True
    assert "+print('done')" in version["diff"] and version["changed_files"] == ["train.py"]
    environment = document["environment"]
    assert environment["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert "pytest" in environment["packages"] and environment["os"]["system"]

    (start,) = executions(journal, trial_id, "start")
    (end,) = executions(journal, trial_id, "end")
    assert start["host"]["hostname"] == socket.gethostname()
    assert start["host"]["cpu"]["count"] == os.cpu_count() and start["host"]["memory"] > 0
    assert start["host"]["gpus"] == []
    assert end["exit_code"] == 0 and end["end"] >= start["start"] and end["status"] == "completed"
    assert output_of(journal, trial_id) == result.stdout


def test_kleio_exits_with_the_scripts_exit_code(kleio, project, journal):
    write_script(project, "fail.py", "import sys\nprint('failing')\nsys.exit(3)\n")
    result = kleio("python", "fail.py")
    assert result.returncode == 3
    trial_id = trial_id_in(result.stderr)
    assert journal.get_trial(trial_id)["status"] == "broken"
    assert journal.get_trial(trial_id)["exit_code"] == 3


def test_gpus_come_from_nvidia_smi_when_it_exists(kleio, project, journal, tmp_path):
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--query-gpu*) exec cat '
        f"'{FIXTURES / 'nvidia-smi' / 'nvidia-smi-query.csv'}' ;; esac\n"
        f"exec cat '{FIXTURES / 'nvidia-smi' / 'nvidia-smi.txt'}'\n"
    )
    fake.chmod(0o755)
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    result = kleio(*COMMAND, PATH=f"{Path(sys.executable).parent}{os.pathsep}{path}")
    assert result.returncode == 0, text(result.stderr)
    host = executions(journal, trial_id_in(result.stderr))[0]["host"]
    assert host["gpu_driver"] == "580.159.04"
    (gpu,) = host["gpus"]
    assert gpu["name"] == "NVIDIA H200" and gpu["memory_mib"] == 143771
    assert gpu["uuid"] == "GPU-1c27f95c-baae-e316-605e-007c6d86f3a6"


def test_run_is_the_default_subcommand(kleio, journal):
    first = kleio("run", *COMMAND)
    second = kleio(*COMMAND)
    assert first.returncode == 0 and second.returncode == 0
    assert "already completed" in text(second.stderr)
    assert len(journal.find_trials()) == 1


# -- 2. completed ----------------------------------------------------------------------


def test_the_same_command_after_completion_runs_nothing(kleio, journal):
    first = kleio(*COMMAND)
    trial_id = trial_id_in(first.stderr)
    again = kleio(*COMMAND)
    assert again.returncode == 0
    assert "already completed" in text(again.stderr) and trial_id[:7] in text(again.stderr)
    assert again.stdout == b""
    assert len(executions(journal, trial_id)) == 1


# -- 3. protection against concurrent execution ----------------------------------------

SLOW = """\
import sys, time
with open("runs.txt", "a") as runs:
    runs.write(" ".join(sys.argv[1:]) + "\\n")
time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
"""


@pytest.mark.slow
def test_two_identical_commands_started_together_run_once(env, project, journal):
    write_script(project, "slow.py", SLOW)
    started = time.monotonic()
    both = [start_kleio(env, project, "python", "slow.py", "--sleep", "4") for _ in range(2)]
    finished = {}
    while len(finished) < 2:
        for index, process in enumerate(both):
            if index not in finished and process.poll() is not None:
                finished[index] = time.monotonic() - started
        time.sleep(0.05)
    outcomes = [
        (process.returncode, text(process.stderr.read()), finished[index])
        for index, process in enumerate(both)
    ]
    winners = [o for o in outcomes if o[0] == 0]
    losers = [o for o in outcomes if o[0] != 0]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    loser_code, loser_errors, loser_time = losers[0]
    assert loser_time < 5
    assert f"host {socket.gethostname()}" in loser_errors and "pid " in loser_errors
    assert (project / "runs.txt").read_text().count("\n") == 1


@pytest.mark.slow
def test_twenty_identical_commands_execute_once(env, project, journal):
    write_script(project, "slow.py", SLOW)
    processes = [start_kleio(env, project, "python", "slow.py", "--sleep", "2") for _ in range(20)]
    codes = [process.wait(120) for process in processes]
    assert codes.count(0) >= 1
    assert (project / "runs.txt").read_text().count("\n") == 1
    (trial,) = journal.find_trials()
    assert len(executions(journal, trial["_id"])) == 1


# -- 4. code and environment changes ---------------------------------------------------


def test_a_code_change_is_refused_then_branched_and_each_code_finds_its_trial(
    kleio, project, journal
):
    original = trial_id_in(kleio(*COMMAND).stderr)
    old_commit = git(project, "rev-parse", "HEAD").strip()
    (project / "train.py").write_text("import sys\nprint('version 2', sys.argv[1:])\n")
    commit(project, "v2")
    new_commit = git(project, "rev-parse", "HEAD").strip()

    refused = kleio(*COMMAND)
    assert refused.returncode != 0 and refused.stdout == b""
    message = text(refused.stderr)
    assert old_commit[:7] in message and new_commit[:7] in message
    assert "train.py" in message and "--allow-code-change" in message
    assert "Traceback" not in message

    branched = kleio("--allow-code-change", *COMMAND)
    assert branched.returncode == 0, text(branched.stderr)
    branch = trial_id_in(branched.stderr)
    assert branch != original and f"into trial {branch[:7]}" in text(branched.stderr)
    assert text(branched.stdout).startswith("version 2")
    document = journal.get_trial(branch)
    assert document["refers"]["parent"] == original
    assert document["version"]["commit"] == new_commit

    again = kleio(*COMMAND)  # the new code finds its branch
    assert again.returncode == 0 and branch[:7] in text(again.stderr)
    assert "already completed" in text(again.stderr)
    assert len(journal.find_trials()) == 2

    git(project, "checkout", "-q", old_commit)  # the old code resumes the original
    back = kleio(*COMMAND)
    assert back.returncode == 0 and f"trial {original[:7]} is already completed" in text(
        back.stderr
    )


def _wheel(folder: Path, version: str) -> Path:
    """A minimal wheel, installable offline."""
    wheel = folder / f"kleio_probe-{version}-py3-none-any.whl"
    info = f"kleio_probe-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("kleio_probe/__init__.py", f"VERSION = {version!r}\n")
        archive.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: kleio-probe\nVersion: {version}\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: kleio-tests\n"
            "Root-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.mark.slow
def test_an_environment_change_is_refused_then_branched(kleio, project, journal, tmp_path, env):
    import venv

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False, symlinks=True)
    site = next(environment.glob("lib/python*/site-packages"))
    path = f"{environment / 'bin'}{os.pathsep}{env['PATH']}"

    def install(version: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--upgrade",
                "--target",
                str(site),
                str(_wheel(tmp_path, version)),
            ],
            check=True,
            capture_output=True,
        )

    original = trial_id_in(kleio(*COMMAND, PATH=path).stderr)
    install("1.0")
    refused = kleio(*COMMAND, PATH=path)
    assert refused.returncode != 0
    assert "added kleio-probe 1.0" in text(refused.stderr)
    assert "--allow-env-change" in text(refused.stderr)

    branched = kleio("--allow-env-change", *COMMAND, PATH=path)
    branch = trial_id_in(branched.stderr)
    assert journal.get_trial(branch)["refers"]["parent"] == original
    assert journal.get_trial(branch)["environment"]["packages"]["kleio-probe"] == "1.0"
    assert branch[:7] in text(kleio(*COMMAND, PATH=path).stderr)  # found again

    # Code and environment both change: --allow-any-change covers both.
    install("2.0")
    (project / "train.py").write_text("print('v3')\n")
    commit(project, "v3")
    both = kleio(*COMMAND, PATH=path)
    assert both.returncode != 0
    assert "--allow-code-change and --allow-env-change" in text(both.stderr)
    anything = kleio("--allow-any-change", *COMMAND, PATH=path)
    assert anything.returncode == 0, text(anything.stderr)
    third = trial_id_in(anything.stderr)
    assert third not in (original, branch)
    assert journal.get_trial(third)["environment"]["packages"]["kleio-probe"] == "2.0"


# -- 5. broken trials ------------------------------------------------------------------

FAILS_ONCE = """\
import os, sys
if not os.path.exists("failed-once"):
    open("failed-once", "w").close()
    print("failing")
    sys.exit(1)
print("works now")
"""


def test_a_broken_trial_runs_again_only_after_a_switchover(kleio, project, journal):
    write_script(project, "flaky.py", FAILS_ONCE)
    failed = kleio("python", "flaky.py")
    assert failed.returncode == 1
    trial_id = trial_id_in(failed.stderr)
    assert journal.get_trial(trial_id)["status"] == "broken"

    refused = kleio("python", "flaky.py")
    assert refused.returncode != 0 and refused.stdout == b""
    assert f"kleio switchover {trial_id[:7]}" in text(refused.stderr)
    assert "--switch-over" in text(refused.stderr)

    switched = kleio("switchover", trial_id[:7])
    assert switched.returncode == 0, text(switched.stderr)
    rerun = kleio("python", "flaky.py")
    assert rerun.returncode == 0 and text(rerun.stdout) == "works now\n"
    assert journal.get_trial(trial_id)["status"] == "completed"


def test_switch_over_flag_runs_a_broken_trial(kleio, project, journal):
    write_script(project, "flaky.py", FAILS_ONCE)
    trial_id = trial_id_in(kleio("python", "flaky.py").stderr)
    result = kleio("run", "--switch-over", "python", "flaky.py")
    assert result.returncode == 0 and trial_id_in(result.stderr) == trial_id


def test_a_command_that_is_not_found_is_refused_with_127_and_records_nothing(kleio, journal):
    result = kleio("nosuchprogram-kleio", "--x", "1")
    assert result.returncode == 127
    assert "command not found: nosuchprogram-kleio" in text(result.stderr)
    assert "Traceback" not in text(result.stderr)
    assert journal.find_trials() == []


def test_a_program_gone_since_its_trial_was_saved_breaks_the_trial_with_127(
    kleio, project, journal
):
    tool = write_script(project, "tool.sh", "#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    saved = kleio("save", "./tool.sh", "--x", "1")
    assert saved.returncode == 0, text(saved.stderr)
    (trial,) = journal.find_trials()
    tool.unlink()
    result = kleio("run", trial["_id"][:7])
    assert result.returncode == 127
    assert "command not found: ./tool.sh" in text(result.stderr)
    assert "Traceback" not in text(result.stderr)
    trial = journal.get_trial(trial_id_in(result.stderr))
    assert trial["status"] == "broken" and trial["exit_code"] == 127


def test_an_empty_command_is_an_error(kleio):
    result = kleio("run")
    assert result.returncode != 0 and "no command given" in text(result.stderr)


# -- 6. signals and a killed kleio -----------------------------------------------------

PATIENT = """\
import os, signal, sys, time
if os.path.exists("finished"):
    print("resumed and finished")
    sys.exit(0)
def stop(signum, frame):
    with open("signals.txt", "a") as log:
        log.write(signal.Signals(signum).name + "\\n")
    open("finished", "w").close()
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
with open("pid.txt", "w") as out:
    out.write(str(os.getpid()))
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_kleio_reaches_the_script_and_the_trial_resumes(
    env, project, journal, kleio, signum
):
    write_script(project, "patient.py", PATIENT)
    process = start_kleio(env, project, "python", "patient.py")
    wait_for(project / "pid.txt")
    process.send_signal(signum)
    assert process.wait(30) == 128 + signum
    assert (project / "signals.txt").read_text() == signal.Signals(signum).name + "\n"
    trial_id = trial_id_in(process.stderr.read())
    assert journal.get_trial(trial_id)["status"] == "interrupted"

    resumed = kleio("python", "patient.py")
    assert resumed.returncode == 0 and trial_id_in(resumed.stderr) == trial_id
    assert text(resumed.stdout) == "resumed and finished\n"
    assert [e["number"] for e in executions(journal, trial_id)] == [1, 2]
    assert journal.get_trial(trial_id)["status"] == "completed"


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_after_kill_9_the_trial_is_lost_then_resumable(env, project, journal, kleio):
    write_script(project, "patient.py", PATIENT)
    fast = {"KLEIO_HEARTBEAT": "1", "KLEIO_LEASE": "3"}
    process = start_kleio(env, project, "python", "patient.py", **fast)
    wait_for(project / "pid.txt")
    script_pid = int((project / "pid.txt").read_text())
    process.kill()
    process.wait(10)
    deadline = time.monotonic() + 10
    while process_exists(script_pid):  # the script does not outlive kleio
        assert time.monotonic() < deadline, "the script survived kleio"
        time.sleep(0.1)
    (trial,) = journal.find_trials()
    # Until its last heartbeat is older than the lease (3 s), not a fixed 3.5 s.
    wait_until(
        lambda: st.observed_status(journal.get_trial(trial["_id"]), 3) == st.LOST,
        timeout=15,
        interval=0.05,
        what="the lease to expire",
    )
    listed = kleio("ls", **fast)
    assert f"{trial['_id'][:7]}  lost" in text(listed.stdout)
    resumed = kleio("python", "patient.py", **fast)
    assert resumed.returncode == 0, text(resumed.stderr)
    assert trial_id_in(resumed.stderr) == trial["_id"]


# -- 7. output of every kind -----------------------------------------------------------

NOISY = r"""
import sys
out = sys.stdout.buffer
for i in range(100_000):
    out.write(b"line %d\n" % i)
out.write(b"invalid \xff\xfe bytes \xc3\x28 here\n")
for percent in range(0, 101, 10):
    out.write(b"\rprogress %3d%%" % percent)
out.write(b"\n" + "unicode é € 😀\n".encode())
out.write(b"x" * 1_000_000 + b"\n")
out.write(b"tail without newline")
sys.stderr.buffer.write(b"warning \xe9 on stderr\n")
"""


def test_any_output_is_journalled_and_valid_text_comes_back_byte_for_byte(kleio, project, journal):
    write_script(project, "noisy.py", NOISY)
    result = kleio("python", "noisy.py")
    assert result.returncode == 0, text(result.stderr)
    expected = b"".join(b"line %d\n" % i for i in range(100_000))
    assert result.stdout.startswith(expected)
    assert b"\xff\xfe bytes \xc3\x28" in result.stdout and result.stdout.endswith(b"newline")
    trial_id = trial_id_in(result.stderr)
    assert output_of(journal, trial_id) == result.stdout
    assert output_of(journal, trial_id, "stderr") == b"warning \xe9 on stderr\n"
    # Valid text is stored as text (readable in the database); only invalid bytes are not.
    stored = [e.data for e in journal.read_events(trial_id, ["stdout"])]
    assert b"".join(output_bytes(d) for d in stored if "base64" in d) == b"\xff\xfe\xc3"
    assert "".join(d["text"] for d in stored if "text" in d).encode() == result.stdout.replace(
        b"\xff\xfe", b""
    ).replace(b"\xc3\x28", b"\x28")


# -- 8. workers ------------------------------------------------------------------------

WORK = """\
import sys, time
with open("done.txt", "a") as done:
    done.write(sys.argv[2] + "\\n")
time.sleep(0.2)
"""


@pytest.mark.slow
def test_three_workers_run_thirty_saved_trials_exactly_once(env, project, journal, kleio):
    write_script(project, "work.py", WORK)
    # Saved by one kleio, not thirty `kleio save` (a third of a second each): the same
    # trials, with the same ids (tests/cli/test_studies.py).
    saved = kleio("sweep", "--tags", "sweep", "python", "work.py", "--i", "range(30)")
    assert saved.returncode == 0 and "30 saved" in text(saved.stderr), text(saved.stderr)
    assert len(journal.find_trials(tags=["sweep"], status=["new"])) == 30
    workers = [start_kleio(env, project, "run", "--tags", "sweep") for _ in range(3)]
    assert [worker.wait(300) for worker in workers] == [0, 0, 0]
    done = (project / "done.txt").read_text().split()
    assert sorted(map(int, done)) == list(range(30))
    assert len(journal.find_trials(tags=["sweep"], status=["completed"])) == 30


# -- 9. secrets ------------------------------------------------------------------------


def test_secret_variables_are_never_stored(kleio, home):
    secrets = {
        "MY_API_TOKEN": "tok-1234567",
        "AWS_SECRET_ACCESS_KEY": "aws-7654321",
        "DB_PASSWORD": "pw-5555555",
        "SLURM_JOB_KEY": "slurmkey-999",
        "WANDB_API_KEY": "wandb-000111",
    }
    result = kleio(*COMMAND, SLURM_JOB_ID="4242", CUDA_VISIBLE_DEVICES="0", **secrets)
    assert result.returncode == 0
    with sqlite3.connect(home / "kleio.db") as connection:
        dump = "\n".join(connection.iterdump())
    for value in secrets.values():
        assert value not in dump
    assert "4242" in dump and '"CUDA_VISIBLE_DEVICES":"0"' in dump


@pytest.mark.slow
def test_a_mongodb_password_never_appears_in_output(kleio):
    address = "mongodb://kleio:hunter2secret@127.0.0.1:1/?serverSelectionTimeoutMS=1000"
    for args in (COMMAND, ("ls",), ("save", *COMMAND)):
        result = kleio(*args, KLEIO_DB_ADDRESS=address)
        assert result.returncode != 0
        assert "hunter2secret" not in text(result.stdout) + text(result.stderr)
        assert "mongodb://***@127.0.0.1:1" in text(result.stderr)


def test_the_batch_job_of_the_latest_execution_can_be_queried(kleio, journal):
    slurm = {"SLURM_JOB_ID": "4243", "SLURM_ARRAY_JOB_ID": "4240", "SLURM_ARRAY_TASK_ID": "3",
             "SLURM_JOB_PARTITION": "gpu", "SLURM_RESTART_COUNT": "1"}  # fmt: skip
    on_gpu = kleio("python", "train.py", "--lr", "0.1", **slurm)
    elsewhere = kleio("python", "train.py", "--lr", "0.2")
    assert on_gpu.returncode == 0 and elsewhere.returncode == 0
    (trial,) = [t for t in journal.find_trials() if t["configuration"]["lr"] == 0.1]
    assert trial["job"] == {
        "scheduler": "slurm", "job_id": 4243, "array_job_id": 4240,
        "array_task_id": 3, "partition": "gpu", "restart_count": 1,
    }  # fmt: skip
    listed = kleio("ls", "--where", "job.partition=gpu", "--where", "job.restart_count>0",
                   "--format", "json")  # fmt: skip
    assert [row["id"] for row in json.loads(listed.stdout)] == [trial["_id"]]
    compared = kleio("compare", "--sort", "-job.array_task_id", "--format", "json")
    assert [row["id"] for row in json.loads(compared.stdout)][0] == trial["_id"]
