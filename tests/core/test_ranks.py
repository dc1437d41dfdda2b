"""Which rank of which launch a process is, from its launcher's variables."""

from __future__ import annotations

import pytest

from kleio.core.capture.ranks import ALONE, Ranks, detect_ranks

TORCHRUN = {
    "RANK": "1",
    "WORLD_SIZE": "2",
    "LOCAL_RANK": "1",
    "TORCHELASTIC_RUN_ID": "none",
    "TORCHELASTIC_RESTART_COUNT": "0",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29500",
}
SRUN = {
    "SLURM_JOB_ID": "4243",
    "SLURM_STEP_ID": "0",
    "SLURM_PROCID": "3",
    "SLURM_NTASKS": "8",
    "SLURM_STEP_NUM_TASKS": "8",
}


def test_a_process_alone_is_rank_0_of_1_and_not_parallel():
    assert detect_ranks({}) == ALONE
    assert not ALONE.parallel and (ALONE.rank, ALONE.world_size, ALONE.group) == (0, 1, None)


def test_torchrun_ranks_with_the_default_run_id_are_told_by_their_rendezvous_address():
    ranks = detect_ranks(TORCHRUN)
    assert ranks == Ranks(1, 2, "torch:127.0.0.1:29500", "torch") and ranks.parallel


def test_a_torchrun_run_id_names_the_launch_and_a_restart_makes_another():
    environ = {**TORCHRUN, "TORCHELASTIC_RUN_ID": "job7"}
    assert detect_ranks(environ).group == "torch:job7"
    restarted = detect_ranks({**environ, "TORCHELASTIC_RESTART_COUNT": "2"})
    assert restarted.group == "torch:job7+r2"


def test_a_slurm_job_step_is_a_launch_and_a_requeue_another():
    assert detect_ranks(SRUN) == Ranks(3, 8, "slurm:4243.0", "slurm")
    assert detect_ranks({**SRUN, "SLURM_STEP_ID": "1"}).group == "slurm:4243.1"
    assert detect_ranks({**SRUN, "SLURM_RESTART_COUNT": "1"}).group == "slurm:4243.0+r1"


def test_the_batch_script_of_a_job_of_many_tasks_is_one_process():
    # sbatch --ntasks=8 runs its script once: SLURM_PROCID=0 and SLURM_NTASKS=8 there.
    batch = {"SLURM_JOB_ID": "4243", "SLURM_PROCID": "0", "SLURM_NTASKS": "8"}
    assert detect_ranks(batch) == ALONE
    assert detect_ranks({**batch, "SLURM_STEP_ID": str(0xFFFFFFFE)}) == ALONE


def test_torch_variables_come_before_the_slurm_step_they_run_in():
    # srun -N 2 torchrun ...: SLURM_PROCID counts nodes, RANK counts processes.
    environ = {**SRUN, "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2", **TORCHRUN}
    environ.update(RANK="5", WORLD_SIZE="8", TORCHELASTIC_RUN_ID="")
    assert detect_ranks(environ) == Ranks(5, 8, "slurm:4243.0", "torch")


def test_mpirun_ranks_are_told_by_their_job_id():
    environ = {
        "OMPI_COMM_WORLD_RANK": "2",
        "OMPI_COMM_WORLD_SIZE": "4",
        "OMPI_MCA_ess_base_jobid": "123",
    }
    assert detect_ranks(environ) == Ranks(2, 4, "openmpi:123", "openmpi")
    pmi = {"PMI_RANK": "0", "PMI_SIZE": "2", **SRUN}
    assert detect_ranks(pmi) == Ranks(0, 2, "slurm:4243.0", "pmi")


def test_ranks_without_a_launch_id_run_as_a_process_alone():
    ranks = detect_ranks({"RANK": "1", "WORLD_SIZE": "2"})
    assert (ranks.rank, ranks.world_size, ranks.group) == (1, 2, None) and not ranks.parallel


def test_a_group_set_by_hand_comes_first():
    environ = {**TORCHRUN, "KLEIO_RANK_GROUP": "mine"}
    assert detect_ranks(environ).group == "mine"
    assert detect_ranks({"KLEIO_RANK": "0", "KLEIO_WORLD_SIZE": "3", "KLEIO_RANK_GROUP": "g"}) == (
        Ranks(0, 3, "g", "kleio")
    )


@pytest.mark.parametrize(
    "rank, size", [("2", "2"), ("-1", "2"), ("0", "0"), ("x", "2"), ("0", ""), ("0", "1")]
)
def test_ranks_that_make_no_sense_or_a_world_of_one_are_a_process_alone(rank, size):
    assert detect_ranks({**TORCHRUN, "RANK": rank, "WORLD_SIZE": size}) == ALONE


def test_a_ranked_writer_names_its_rank_in_every_key_a_forked_child_included():
    import os

    from kleio.core.model.journal import EventWriter
    from kleio.store.keys import rank_of_writer, writer_of

    writer = EventWriter(rank=3)
    assert rank_of_writer(writer_of(writer.event("t", "statistic", {}).key)) == 3
    assert rank_of_writer(writer_of(EventWriter().event("t", "statistic", {}).key)) is None
    assert rank_of_writer(None) is None and rank_of_writer("r1") is None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's writer has an id of its own, with the rank
        key = writer.event("t", "statistic", {}).key
        os.write(write, key.encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    assert writer_of(child) != writer.id and rank_of_writer(writer_of(child)) == 3


@pytest.mark.parametrize(
    ("text", "expected"), [("0", False), ("false", False), ("off", False), ("1", True)]
)
def test_log_ranks_is_a_setting_of_its_own(tmp_path, text, expected):
    from kleio.core.model.settings import load_settings

    environ = {"KLEIO_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    assert load_settings(environ=environ).log_ranks is True
    settings = load_settings(environ={**environ, "KLEIO_LOG_RANKS": text})
    assert settings.log_ranks is expected
    assert settings.environment()["KLEIO_LOG_RANKS"] == ("1" if expected else "0")
    (tmp_path / "kleio").mkdir()
    (tmp_path / "kleio" / "config.yaml").write_text(f"log_ranks: {text}\n")
    assert load_settings(environ=environ).log_ranks is expected
