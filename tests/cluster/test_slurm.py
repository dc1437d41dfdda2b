"""Kleio under a real SLURM: arrays of workers, scheduler signals, requeue."""

from __future__ import annotations

import pytest

from tests.helpers import run_kleio, text

BACKENDS = ["sqlite", "wire"]

WORKER = """#!/bin/bash
#SBATCH --output={out}/worker-%A_%a.txt
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
exec kleio run --tags sw
"""

TRAIN = """\
import sys, time
from kleio.client.logger import kleio_logger as log
time.sleep(0.2)
log.log_statistic(seed=int(sys.argv[2]), done=1)
"""


@pytest.fixture(params=BACKENDS)
def cluster_env(request, env, tmp_path):
    if request.param == "wire":
        server = request.getfixturevalue("wire_server")
        return {**env, "KLEIO_DB_ADDRESS": server.uri, "KLEIO_DB_NAME": f"slurm_{tmp_path.name}"}
    return env


def _store(env):
    from kleio.store import open_store

    return open_store(
        env.get("KLEIO_DB_ADDRESS") or env["KLEIO_HOME"] + "/kleio.db",
        env.get("KLEIO_DB_NAME", "kleio"),
    )


def test_an_array_of_three_workers_runs_nine_saved_trials_once_each(
    slurm, cluster_env, project, tmp_path
):
    (project / "train.py").write_text(TRAIN)
    for seed in range(9):
        saved = run_kleio(
            "save",
            "--tags",
            "sw",
            "python",
            "train.py",
            "--seed",
            str(seed),
            env=cluster_env,
            cwd=project,
        )
        assert saved.returncode == 0, text(saved.stderr)
    job = slurm.sbatch(WORKER.format(out=tmp_path), "--array=0-2", cwd=project, env=cluster_env)
    assert set(slurm.wait(job, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=240)) == {"COMPLETED"}

    with _store(cluster_env) as store:
        trials = store.find_trials(tags=["sw"])
        assert len(trials) == 9
        assert {t["status"] for t in trials} == {"completed"}
        assert {t["executions"] for t in trials} == {1}
        tasks = []
        for trial in trials:
            (start,) = [
                e
                for e in store.read_events(trial["_id"], ["execution"])
                if e.data["phase"] == "start"
            ]
            scheduler = start.data["host"]["scheduler"]
            assert scheduler["SLURM_ARRAY_JOB_ID"] == job
            tasks.append(scheduler["SLURM_ARRAY_TASK_ID"])
            job_facts = start.data["host"]["job"]
            assert job_facts["array_job_id"] == job
            assert job_facts["array_task_id"] == scheduler["SLURM_ARRAY_TASK_ID"]
            assert job_facts["partition"] == "debug" and job_facts["time_limit"] == "10:00"
        assert set(tasks) <= {"0", "1", "2"}
    info = run_kleio("info", trials[0]["_id"], env=cluster_env, cwd=project)
    assert "slurm job " in text(info.stdout)
    assert f"(array {job}, task " in text(info.stdout)
    assert "partition debug" in text(info.stdout) and "time limit 10:00" in text(info.stdout)
