"""The host of one execution: machine, GPUs, scheduler job and a few variables.

Recorded for every execution and never a reason to refuse a resume: a trial may start
on one node of a cluster and resume on another.
"""

from __future__ import annotations

import io
import os
import subprocess
from typing import Any

from kleio.core.capture.programs import which
from kleio.core.capture.redact import is_secret_name, safe_environment

#: Variables recorded when set (values of secret-looking names never are).
ENVIRONMENT_ALLOWLIST = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PYTHONHASHSEED",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "CONDA_DEFAULT_ENV",
    "CONDA_PREFIX",
    "CUBLAS_WORKSPACE_CONFIG",
    "LANG",
    "LC_ALL",
    "TZ",
)
SCHEDULER_PREFIXES = ("SLURM_", "PBS_", "LSB_", "SGE_", "JOB_ID", "COBALT_")
_GPU_FIELDS = "index,name,uuid,memory.total,driver_version,pci.bus_id,compute_cap"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _memory() -> int | None:
    """Physical memory in bytes; sysconf where it exists (free), psutil elsewhere."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except (ImportError, OSError):
        return None


def _mib(text: str) -> int | None:
    number = text.strip().split()[0] if text.strip() else ""
    return int(number) if number.isdigit() else None


def nvidia_smi(environ: dict[str, str], fields: str, timeout: float = 15) -> str | None:
    """The CSV ``nvidia-smi`` prints for ``--query-gpu=FIELDS``; None without it."""
    executable = which("nvidia-smi", path=environ.get("PATH"))
    if executable is None:
        return None
    try:
        result = subprocess.run(
            [executable, f"--query-gpu={fields}", "--format=csv"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=environ,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def query_rows(text: str) -> list[dict[str, str]]:
    """The rows of ``nvidia-smi --query-gpu=... --format=csv`` (with its header), by
    field name without its unit (``memory.total [MiB]`` is ``memory.total``)."""
    import csv  # here: the snapshot runs beside the script's start

    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    if not rows:
        return []
    header = [name.split(" [")[0].strip() for name in rows[0]]
    return [
        dict(zip(header, (cell.strip() for cell in row), strict=True))
        for row in rows[1:]
        if len(row) == len(header)
    ]


def parse_gpu_query(text: str) -> list[dict[str, Any]]:
    """GPUs from ``nvidia-smi --query-gpu=... --format=csv`` (with its header)."""
    gpus = []
    for values in query_rows(text):
        gpus.append(
            {
                "index": int(values["index"]) if values.get("index", "").isdigit() else None,
                "name": values.get("name"),
                "uuid": values.get("uuid"),
                "memory_mib": _mib(values.get("memory.total", "")),
                "driver": values.get("driver_version"),
                "pci_bus": values.get("pci.bus_id"),
                "compute_capability": values.get("compute_cap"),
            }
        )
    return gpus


def gpus(environ: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """``(GPUs, driver version)`` from ``nvidia-smi``, or nothing where it is absent."""
    output = nvidia_smi(environ, _GPU_FIELDS)
    if output is None:
        return [], None
    found = parse_gpu_query(output)
    driver = next((gpu["driver"] for gpu in found if gpu.get("driver")), None)
    return found, driver


#: Scheduler -> (variables that say a job runs under it, fact -> its variables: the first
#: set wins).
_JOB_VARIABLES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "slurm": (
        ("SLURM_JOB_ID",),
        {
            "job_id": ("SLURM_JOB_ID",),
            "array_job_id": ("SLURM_ARRAY_JOB_ID",),
            "array_task_id": ("SLURM_ARRAY_TASK_ID",),
            "restart_count": ("SLURM_RESTART_COUNT",),
            "partition": ("SLURM_JOB_PARTITION",),
            "nodes": ("SLURM_JOB_NODELIST", "SLURM_NODELIST"),
            "cluster": ("SLURM_CLUSTER_NAME",),
        },
    ),
    "pbs": (
        ("PBS_JOBID",),
        {
            "job_id": ("PBS_JOBID",),
            "array_task_id": ("PBS_ARRAY_INDEX", "PBS_ARRAYID"),
            "partition": ("PBS_QUEUE",),
            "time_limit": ("PBS_WALLTIME",),
        },
    ),
    "lsf": (
        ("LSB_JOBID",),
        {
            "job_id": ("LSB_JOBID",),
            "array_task_id": ("LSB_JOBINDEX",),
            "partition": ("LSB_QUEUE",),
            "nodes": ("LSB_HOSTS",),
        },
    ),
    "sge": (
        ("JOB_ID", "SGE_ROOT"),
        {
            "job_id": ("JOB_ID",),
            "array_task_id": ("SGE_TASK_ID",),
            "partition": ("QUEUE",),
        },
    ),
}
#: Facts kept as integers when they are written as one (SLURM's ids are; PBS's are not).
_INTEGER_FACTS = ("restart_count", "job_id", "array_job_id", "array_task_id")


def _slurm_time_limit(job_id: str, environ: dict[str, str]) -> str | None:
    """The job's time limit (``1-00:00:00``, ``UNLIMITED``): SLURM does not export it."""
    squeue = which("squeue", path=environ.get("PATH"))
    if squeue is None:
        return None
    try:
        result = subprocess.run(
            [squeue, "-h", "-j", job_id, "-o", "%l"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env=environ,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    limit = result.stdout.strip().splitlines()
    return limit[0].strip() if result.returncode == 0 and limit else None


def scheduler_job(environ: dict[str, str], ask: bool = True) -> dict[str, Any] | None:
    """The batch job this runs in, the same facts whatever the scheduler: ``scheduler``,
    ``job_id``, ``array_job_id``, ``array_task_id``, ``restart_count``, ``partition``,
    ``nodes``, ``time_limit`` (those the scheduler gives); None outside a job.

    ``ask=False`` reads the environment only: SLURM's time limit, which takes a call to
    ``squeue``, is left out."""
    for scheduler, (markers, facts) in _JOB_VARIABLES.items():
        if not all(environ.get(marker) for marker in markers):
            continue
        job: dict[str, Any] = {"scheduler": scheduler}
        for fact, names in facts.items():
            # SGE says "undefined" for the task of a job that is no array.
            value = next(
                (environ[name] for name in names if environ.get(name, "undefined") != "undefined"),
                None,
            )
            if value is not None:
                job[fact] = int(value) if fact in _INTEGER_FACTS and value.isdigit() else value
        if scheduler == "slurm":
            job.setdefault("restart_count", 0)
            limit = _slurm_time_limit(str(job["job_id"]), environ) if ask else None
            if limit:
                job["time_limit"] = limit
        if scheduler == "lsf" and environ.get("LSB_RESTART") == "Y":
            job["restart_count"] = 1
        return job
    return None


def _platform() -> str:
    """``Linux-6.8.0-x86_64-with-glibc2.39``: on Linux, what ``platform.platform()``
    says without the processor, which it asks a ``uname -p`` process for (16 ms, while
    the script starts beside it)."""
    system = os.uname()
    if system.sysname != "Linux":
        import platform

        return platform.platform()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.39"
    except (ValueError, OSError):
        libc = ""
    name = f"{system.sysname}-{system.release}-{system.machine}"
    return f"{name}-with-{libc.replace(' ', '')}" if libc else name


def host_snapshot(environ: dict[str, str]) -> dict[str, Any]:
    """The host's facts; taken beside the script's start, hence the imports here."""
    try:
        import getpass

        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    found, driver = gpus(environ)
    scheduler = {
        name: value
        for name, value in environ.items()
        if name.startswith(SCHEDULER_PREFIXES) and not is_secret_name(name)
    }
    return {
        "hostname": os.uname().nodename,
        "user": user,
        "platform": _platform(),
        "cpu": {"model": _cpu_model(), "count": os.cpu_count()},
        "memory": _memory(),
        "gpus": found,
        "gpu_driver": driver,
        "scheduler": dict(sorted(scheduler.items())),
        "job": scheduler_job(environ),
        "environment": safe_environment(environ, ENVIRONMENT_ALLOWLIST),
    }
