"""Kleio under a real SLURM: arrays of workers, scheduler signals, requeue."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.helpers import run_kleio, text

pytestmark = pytest.mark.slow  # a real SLURM, its jobs requeued and signalled

#: SQLite for every test; the wire backend (MongoDB, what a cluster of many nodes uses)
#: for the array of workers racing for saved trials: its reservations are the part of a
#: job that depends on the backend. Resuming, ranks joining and signals are the same
#: store calls on either (tests/store/test_contract.py runs them on every backend).
BACKENDS = ["sqlite", "wire"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "slurm"


@pytest.fixture
def examples(project):
    """The project holds the example training script, as the repository does."""
    (project / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "train.py", project / "examples" / "train.py")
    return project


@pytest.fixture
def cluster_env(request, env, tmp_path):
    """SQLite, or the backend a test names (``parametrize("cluster_env", BACKENDS,
    indirect=True)``)."""
    if getattr(request, "param", "sqlite") == "wire":
        server = request.getfixturevalue("wire_server")
        return {**env, "KLEIO_DB_ADDRESS": server.uri, "KLEIO_DB_NAME": f"slurm_{tmp_path.name}"}
    return env


def _store(env):
    from kleio.core.model.catalogue import open_journal

    return open_journal(
        env.get("KLEIO_DB_ADDRESS") or env["KLEIO_HOME"] + "/kleio.db",
        env.get("KLEIO_DB_NAME", "kleio"),
    )


def _ends(store, trial_id):
    return [e.data for e in store.read_events(trial_id, ["execution"]) if e.data["phase"] == "end"]


def _wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED"}


@pytest.mark.parametrize("cluster_env", BACKENDS, indirect=True)
def test_an_array_of_three_workers_runs_nine_saved_trials_once_each(
    slurm, cluster_env, examples, tmp_path
):
    for seed in range(9):
        saved = run_kleio(
            "save", "--tags", "sweep", "python", "examples/train.py", "--seed", str(seed),
            "--epochs", "3", "--sleep", "0", env=cluster_env, cwd=examples,
        )  # fmt: skip
        assert saved.returncode == 0, text(saved.stderr)
    job = slurm.sbatch(
        (EXAMPLES / "workers.sbatch").read_text(),
        "--array=0-2",
        "--time=00:10:00",
        f"--output={tmp_path}/worker-%A_%a.out",
        cwd=examples,
        env=cluster_env,
    )
    assert set(slurm.wait(job, DONE, timeout=240)) == {"COMPLETED"}

    with _store(cluster_env) as store:
        trials = store.find_trials(tags=["sweep"])
        assert len(trials) == 9
        assert {t["status"] for t in trials} == {"completed"}
        assert {t["executions"] for t in trials} == {1}
        tasks = []
        for trial in trials:
            (start,) = [
                e for e in store.read_events(trial["_id"], ["execution"])
                if e.data["phase"] == "start"
            ]  # fmt: skip
            job_facts = start.data["host"]["job"]
            assert job_facts["array_job_id"] == int(job)
            assert job_facts["partition"] == "debug" and job_facts["time_limit"] == "10:00"
            tasks.append(job_facts["array_task_id"])
            epochs = [e.data["epoch"] for e in store.read_events(trial["_id"], ["statistic"])]
            assert epochs == [1, 2, 3]
        assert set(tasks) <= {0, 1, 2}
    by_task = run_kleio(
        "ls", "--where", f"job.array_job_id={job}", "--where", f"job.array_task_id={tasks[0]}",
        "--format", "json", env=cluster_env, cwd=examples,
    )  # fmt: skip
    assert by_task.returncode == 0, text(by_task.stderr)
    listed = {row["id"] for row in json.loads(by_task.stdout)}
    assert listed and len(listed) == tasks.count(tasks[0])
    info = text(run_kleio("info", trials[0]["_id"], env=cluster_env, cwd=examples).stdout)
    assert f"(array {job}, task " in info
    assert "partition debug" in info and "time limit 10:00" in info


def test_an_array_of_study_workers_runs_a_swept_study_once(slurm, cluster_env, examples, tmp_path):
    """docs/studies.rst: a 3 x 3 sweep saved by one command, then examples/slurm/study.sbatch."""
    saved = run_kleio(
        "sweep", "--study", "lr-seed", "python", "examples/train.py", "--lr",
        "[0.1,0.01,0.001]", "--seed", "range(3)", "--epochs", "2", "--sleep", "0",
        env=cluster_env, cwd=examples,
    )  # fmt: skip
    assert saved.returncode == 0, text(saved.stderr)
    job = slurm.sbatch(
        (EXAMPLES / "study.sbatch").read_text(),
        "--time=00:10:00",
        f"--output={tmp_path}/study-%A_%a.out",
        cwd=examples,
        env=cluster_env,
    )
    assert set(slurm.wait(job, DONE, timeout=240)) == {"COMPLETED"}
    with _store(cluster_env) as store:
        trials = store.find_trials(study="lr-seed")
        assert len(trials) == 9
        assert {t["status"] for t in trials} == {"completed"}
        assert {t["executions"] for t in trials} == {1}
        points = {(t["configuration"]["lr"], t["configuration"]["seed"]) for t in trials}
        assert points == {(lr, seed) for lr in (0.1, 0.01, 0.001) for seed in range(3)}


def test_an_array_sweep_runs_one_trial_per_task_with_its_arguments(
    slurm, cluster_env, examples, tmp_path
):
    job = slurm.sbatch(
        (EXAMPLES / "sweep.sbatch").read_text(),
        "--array=0-1",
        f"--output={tmp_path}/sweep-%A_%a.out",
        cwd=examples,
        env=cluster_env,
    )
    assert set(slurm.wait(job, DONE, timeout=240)) == {"COMPLETED"}
    with _store(cluster_env) as store:
        trials = store.find_trials()
        assert sorted(t["configuration"]["lr"] for t in trials) == [0.1, 0.2]
        assert {t["status"] for t in trials} == {"completed"}


def test_a_job_checkpointing_on_usr1_before_its_time_limit_is_requeued_and_resumes(
    slurm, cluster_env, examples, tmp_path
):
    """examples/slurm/checkpoint.sbatch: `--signal=B:USR1@120` is simulated with
    `scancel --batch --signal=USR1` (the same signal to the batch script)."""
    job = slurm.sbatch(
        (EXAMPLES / "checkpoint.sbatch").read_text(),
        f"--output={tmp_path}/long-run-%j.out",
        cwd=examples,
        env=cluster_env,
        arguments=("--epochs", "150", "--sleep", "0.1"),
    )
    with _store(cluster_env) as store:
        deadline = time.monotonic() + 120
        while not store.find_trials() or not list(
            store.read_events(store.find_trials()[0]["_id"], ["statistic"])
        ):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.5)
    slurm.signal(job, "USR1", batch=True)
    slurm.release(job)  # requeued by the job itself
    slurm.wait(job, DONE, timeout=240)
    output = (tmp_path / f"long-run-{job}.out").read_text()
    assert "stopping" in output and "resuming after epoch" in output, output + slurm.describe(job)
    assert slurm.show(job)["Restarts"] == "1"
    with _store(cluster_env) as store:
        (trial,) = store.find_trials()
        assert trial["status"] == "completed" and trial["executions"] == 2
        epochs = [e.data["epoch"] for e in store.read_events(trial["_id"], ["statistic"])]
        assert epochs == list(range(1, 151))  # every epoch once over the two executions
        ends = _ends(store, trial["_id"])
        assert [end["status"] for end in ends] == ["interrupted", "completed"], (
            output + slurm.describe(job)
        )
        assert ("SIGUSR1", "caught") in [(s["signal"], s["effect"]) for s in ends[0]["signals"]]


CHECKPOINTING = """\
import os, signal, sys, time
from kleio.client.logger import kleio_logger as log
if os.path.exists("checkpoint"):
    print("resumed from step", open("checkpoint").read())
    log.log_statistic(resumed=1)
    sys.exit(0)
asked = []
signal.signal(signal.SIGUSR1, lambda signum, frame: asked.append(signum))
open("ready", "w").close()
for step in range(1200):
    if asked:
        with open("checkpoint", "w") as out:
            out.write(str(step))
        print("checkpointed at step", step, flush=True)
        sys.exit(3)
    time.sleep(0.05)
"""

ONE_COMMAND = """#!/bin/bash
#SBATCH --output={out}/job-%j.txt
#SBATCH --open-mode=append
exec kleio python {script}
"""


def test_scancel_signal_usr1_reaches_the_checkpointing_script_and_the_trial_resumes(
    slurm, cluster_env, project, tmp_path
):
    (project / "train.py").write_text(CHECKPOINTING)
    job = slurm.sbatch(
        ONE_COMMAND.format(out=tmp_path, script="train.py"), cwd=project, env=cluster_env
    )
    _wait_for(project / "ready")
    slurm.signal(job, "USR1")
    slurm.wait(job, DONE)
    output = (tmp_path / f"job-{job}.txt").read_text()
    assert "checkpointed at step" in output, output

    with _store(cluster_env) as store:
        (trial,) = store.find_trials()
        assert trial["status"] == "interrupted"
        (end,) = _ends(store, trial["_id"])  # kleio lived to journal the end
        assert end["exit_code"] == 3
        assert ("SIGUSR1", "caught") in [(s["signal"], s["effect"]) for s in end["signals"]]

    resumed = run_kleio("python", "train.py", env=cluster_env, cwd=project)
    assert resumed.returncode == 0, text(resumed.stderr)
    assert "resumed from step" in text(resumed.stdout)
    with _store(cluster_env) as store:
        assert store.get_trial(trial["_id"])["status"] == "completed"


#: Six seconds of steps for the first execution, long enough to be requeued in; the
#: second, resumed, runs the steps left at once.
LONG_RUN = """\
import os, time
from kleio.client.logger import kleio_logger as log
done = [s["step"] for s in log.load_statistics()]
start = done[-1] + 1 if done else 0
execution = int(os.environ["KLEIO_EXECUTION"])
for step in range(start, 30):
    log.log_statistic(step=step, execution=execution)
    if step == 5:
        open("ready", "w").close()
    time.sleep(0.2 if execution == 1 else 0)
"""


def test_a_requeued_job_resumes_its_trial_and_logs_every_statistic_once(
    slurm, cluster_env, project, tmp_path
):
    (project / "train.py").write_text(LONG_RUN)
    job = slurm.sbatch(
        ONE_COMMAND.format(out=tmp_path, script="train.py"),
        "--requeue",
        cwd=project,
        env=cluster_env,
    )
    _wait_for(project / "ready")
    slurm.requeue(job)
    slurm.wait(job, DONE, timeout=180)
    assert slurm.show(job)["Restarts"] == "1"

    with _store(cluster_env) as store:
        (trial,) = store.find_trials()
        assert trial["status"] == "completed", (
            tmp_path / f"job-{job}.txt"
        ).read_text() + slurm.describe(job)
        assert trial["executions"] == 2
        steps = [e.data["step"] for e in store.read_events(trial["_id"], ["statistic"])]
        assert steps == list(range(30))  # each once, in order, over two executions
        executions = {e.data["execution"] for e in store.read_events(trial["_id"], ["statistic"])}
        assert executions == {1, 2}
        ends = _ends(store, trial["_id"])
        assert [end["status"] for end in ends] == ["interrupted", "completed"], (
            tmp_path / f"job-{job}.txt"
        ).read_text() + slurm.describe(job)
    info = text(run_kleio("info", trial["_id"], env=cluster_env, cwd=project).stdout)
    assert "#1  interrupted" in info and "#2  completed" in info
    assert f"slurm job {job}" in info and "restarted 1 time" in info


def test_a_requeued_data_parallel_job_resumes_with_a_second_execution_of_its_ranks(
    slurm, cluster_env, project, tmp_path
):
    """examples/slurm/ranks.sbatch: `srun -n 2 kleio python examples/slurm/ranks.py`, one
    execution of 2 ranks, requeued while both log; the job runs again and the same trial
    resumes with a second execution of 2 ranks. Every rank logs each step once over the
    two executions: (rank, step) pairs are exactly {0, 1} x range(STEPS), each once, each
    journalled with the rank that logged it."""
    steps = 30
    (project / "examples" / "slurm").mkdir(parents=True)
    shutil.copy(EXAMPLES / "ranks.py", project / "examples" / "slurm" / "ranks.py")
    job = slurm.sbatch(
        (EXAMPLES / "ranks.sbatch").read_text(),
        f"--output={tmp_path}/ranks-%j.out",
        cwd=project,
        env=cluster_env,
        arguments=("--steps", str(steps), "--sleep", "0.2"),
    )
    with _store(cluster_env) as store:
        deadline = time.monotonic() + 120
        while True:  # both ranks joined and each logged some steps, none logged all
            trials = store.find_trials()
            ranks = [
                e.data["rank"]
                for e in (store.read_events(trials[0]["_id"], ["statistic"]) if trials else [])
            ]
            if ranks.count(0) >= 5 and ranks.count(1) >= 5:
                break
            assert time.monotonic() < deadline, "the job never started" + slurm.describe(job)
            time.sleep(0.2)
    slurm.requeue(job)
    slurm.wait(job, DONE, timeout=180)
    output = (tmp_path / f"ranks-{job}.out").read_text()
    assert slurm.show(job)["Restarts"] == "1", output + slurm.describe(job)
    assert "rank 0 resuming after step" in output and "rank 1 resuming after step" in output

    with _store(cluster_env) as store:
        (trial,) = store.find_trials()
        assert trial["status"] == "completed", output + slurm.describe(job)
        assert trial["executions"] == 2
    shown = run_kleio("info", "--json", trial["_id"], env=cluster_env, cwd=project)
    executions = json.loads(shown.stdout)["executions"]
    assert [e["status"] for e in executions] == ["interrupted", "completed"], output
    groups = [e["group"] for e in executions]
    assert groups == [f"slurm:{job}.0", f"slurm:{job}.0+r1"]  # one job step, run twice
    for execution, status in zip(executions, ["interrupted", "completed"], strict=True):
        assert execution["world_size"] == 2
        members = {m["rank"]: m for m in execution["members"]}
        assert sorted(members) == [0, 1] and {m["status"] for m in members.values()} == {status}
    rows = json.loads(
        run_kleio(
            "stats", trial["_id"], "--with-meta", "--format", "json", env=cluster_env, cwd=project
        ).stdout
    )
    logged = [(row["_rank"], row["step"]) for row in rows]
    assert sorted(logged) == [(rank, step) for rank in (0, 1) for step in range(steps)]
    assert all(row["rank"] == row["_rank"] for row in rows)  # journalled as its rank's
    for rank in (0, 1):
        mine = [row for row in rows if row["_rank"] == rank]
        assert [row["step"] for row in mine] == list(range(steps))  # in order
        assert {row["_execution"] for row in mine} == {1, 2}  # each rank resumed
