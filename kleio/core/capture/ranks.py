"""Which rank of a parallel launch a process is, read from what its launcher set.

A data-parallel job runs one command once per rank (``torchrun``, ``srun -n``,
``mpirun``); each copy of ``kleio`` reads here which rank it is, how many ranks there
are, and the *group*: one id shared by every rank of one launch (one job step) and by no
other launch, which lets the ranks of a launch join one execution of one trial while a
command of any other launch is refused as before.

Sources, in order of precedence (the first whose rank and size are both set wins)::

    KLEIO_RANK, KLEIO_WORLD_SIZE         set by hand (group: KLEIO_RANK_GROUP)
    RANK, WORLD_SIZE                     torchrun, torch.distributed, accelerate
    OMPI_COMM_WORLD_RANK, ..._SIZE       Open MPI's mpirun
    PMIX_RANK, PMIX_SIZE                 PMIx (Open MPI 5, srun --mpi=pmix)
    PMI_RANK, PMI_SIZE                   MPICH/Hydra, Intel MPI, srun --mpi=pmi2
    SLURM_PROCID, SLURM_STEP_NUM_TASKS   a SLURM job step (srun), not the batch script

The launchers that run inside another (torchrun or mpirun under ``srun``, whose
``SLURM_PROCID`` counts nodes, not ranks) set their own variables, hence this order.

The group, in order: ``KLEIO_RANK_GROUP``; the source's own launch id
(``TORCHELASTIC_RUN_ID`` with ``TORCHELASTIC_RESTART_COUNT``, or, for torchrun's
default run id ``none``, ``MASTER_ADDR:MASTER_PORT``; Open MPI's job id; PMIx's
namespace); else the SLURM job step (``SLURM_JOB_ID.SLURM_STEP_ID`` with
``SLURM_RESTART_COUNT``: a requeued job keeps its id and starts its steps again at 0),
since every process of a step, whatever launcher runs inside it, belongs to the same
launch. A parallel process with no group (``RANK``/``WORLD_SIZE`` set by hand, say)
cannot tell its launch from another: it runs as a process alone, as it would without
ranks (the first reserves the trial, the others are refused).

Pure: reads the mapping it is given; a run imports nothing for it.
"""

from __future__ import annotations

from collections.abc import Mapping

from kleio.value import Value

#: (rank, size) variables of each source, by precedence; the name the group is told by.
SOURCES = (
    ("kleio", "KLEIO_RANK", "KLEIO_WORLD_SIZE"),
    ("torch", "RANK", "WORLD_SIZE"),
    ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("pmix", "PMIX_RANK", "PMIX_SIZE"),
    ("pmi", "PMI_RANK", "PMI_SIZE"),
    ("slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
)
#: SLURM's step ids from 0xFFFFFFF0 up name special steps (batch, extern, interactive):
#: the batch script sees SLURM_PROCID=0 and SLURM_NTASKS of the whole job, yet is one
#: process.
_SPECIAL_STEPS = 0xFFFFFFF0


class Ranks(Value):
    """One process's place in a parallel launch.

    ``rank`` counts from 0 below ``world_size``; ``group`` is the launch's id (None:
    none was found, see the module's docstring); ``source``: whose variables told it.
    """

    FIELDS = ("rank", "world_size", "group", "source")

    def __init__(self, rank: int = 0, world_size: int = 1, group: str | None = None, source=None):
        self.rank, self.world_size, self.group, self.source = rank, world_size, group, source

    @property
    def parallel(self) -> bool:
        """One of several ranks of one launch: joins its launch's execution."""
        return self.world_size > 1 and self.group is not None


#: What a process alone is.
ALONE = Ranks()


def _integer(environ: Mapping[str, str], name: str) -> int | None:
    try:
        return int(environ.get(name, "").strip())
    except ValueError:
        return None


def _slurm_step(environ: Mapping[str, str]) -> str | None:
    """``JOB.STEP`` (``+rN`` when requeued N times) of a job step, None outside one."""
    job = _integer(environ, "SLURM_JOB_ID")
    step = _integer(environ, "SLURM_STEP_ID")
    if step is None:
        step = _integer(environ, "SLURM_STEPID")
    if job is None or step is None or step >= _SPECIAL_STEPS:
        return None
    restarts = _integer(environ, "SLURM_RESTART_COUNT") or 0
    return f"slurm:{job}.{step}" + (f"+r{restarts}" if restarts else "")


def _own_group(source: str, environ: Mapping[str, str]) -> str | None:
    """The launch id a source sets itself, if any."""
    if source == "torch":
        run = environ.get("TORCHELASTIC_RUN_ID", "")
        if not run:
            return None
        restarts = _integer(environ, "TORCHELASTIC_RESTART_COUNT") or 0
        if run == "none":  # torchrun's default: its rendezvous address tells the launch
            address, port = environ.get("MASTER_ADDR"), environ.get("MASTER_PORT")
            if not (address and port):
                return None
            run = f"{address}:{port}"
        return f"torch:{run}" + (f"+r{restarts}" if restarts else "")
    if source == "openmpi":
        for name in ("OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_ess_jobid", "PMIX_NAMESPACE"):
            if environ.get(name):
                return f"openmpi:{environ[name]}"
        return None
    if source == "pmix":
        return f"pmix:{environ['PMIX_NAMESPACE']}" if environ.get("PMIX_NAMESPACE") else None
    return None


def detect_ranks(environ: Mapping[str, str]) -> Ranks:
    """This process's rank, world size and group, from its launcher's variables (see the
    module's docstring for their precedence); :data:`ALONE` when none says more than one
    rank. A rank outside ``0 .. size-1`` or a size below 1 is not believed."""
    for source, rank_name, size_name in SOURCES:
        if source == "slurm" and _slurm_step(environ) is None:
            continue  # the batch script, or no job: SLURM_PROCID says nothing of ranks
        rank, size = _integer(environ, rank_name), _integer(environ, size_name)
        if source == "slurm" and size is None:
            size = _integer(environ, "SLURM_NTASKS")
        if rank is None or size is None:
            continue
        if size < 1 or not 0 <= rank < size:
            continue
        if size == 1:
            return ALONE
        group = (
            environ.get("KLEIO_RANK_GROUP") or _own_group(source, environ) or _slurm_step(environ)
        )
        return Ranks(rank, size, group, source)
    return ALONE
