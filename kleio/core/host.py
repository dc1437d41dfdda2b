"""The host of one execution: machine, GPUs, scheduler job and a few variables.

Recorded for every execution and never a reason to refuse a resume: a trial may start
on one node of a cluster and resume on another.
"""

from __future__ import annotations

import csv
import getpass
import io
import os
import platform
import shutil
import socket
import subprocess
from typing import Any

from kleio.core.redact import is_secret_name, safe_environment

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
    executable = shutil.which("nvidia-smi", path=environ.get("PATH"))
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


def host_snapshot(environ: dict[str, str]) -> dict[str, Any]:
    try:
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
        "hostname": socket.gethostname(),
        "user": user,
        "platform": platform.platform(),
        "cpu": {"model": _cpu_model(), "count": os.cpu_count()},
        "memory": _memory(),
        "gpus": found,
        "gpu_driver": driver,
        "scheduler": dict(sorted(scheduler.items())),
        "environment": safe_environment(environ, ENVIRONMENT_ALLOWLIST),
    }
