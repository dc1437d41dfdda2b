"""Resource use over time: samples of the script's whole process tree while it runs.

Every ``interval`` seconds (default 10; ``--sample-interval`` or
``KLEIO_SAMPLE_INTERVAL``; 0: never), a thread of ``kleio`` (never of the script, which
it must not slow down) reads the script's process and all its descendants with psutil,
and the GPUs with ``nvidia-smi`` where it is on the PATH. Each sample is a ``usage``
event of the trial::

    {"execution": 1, "processes": 3, "threads": 9,
     "cpu_percent": 198.5,            # of one core, summed over the processes
     "rss": 210763776,                # resident memory in bytes, summed
     "read_bytes": 0, "write_bytes": 4096,    # storage I/O so far of the living processes
     "gpu0_utilization": 87, "gpu0_memory": 8053063680}   # %, bytes used

CPU is measured over the interval for a process seen before, over its life for a new
one. GPUs are those ``CUDA_VISIBLE_DEVICES`` names (indices or UUIDs) when it is set,
else every GPU of the machine; a GPU field that ``nvidia-smi`` cannot give is left out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kleio.core.capture.host import nvidia_smi, query_rows

#: The kind of the journal's events.
KIND = "usage"
DEFAULT_INTERVAL = 10.0
GPU_FIELDS = "index,uuid,utilization.gpu,memory.used"
_MIB = 1024 * 1024


def sample_interval(option: float | None, environ: dict[str, str]) -> float:
    """The interval asked for: the option, else ``KLEIO_SAMPLE_INTERVAL``, else 10 s."""
    from kleio.core.model.errors import SettingsError

    if option is not None:
        return option
    text = environ.get("KLEIO_SAMPLE_INTERVAL", "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise SettingsError(f"KLEIO_SAMPLE_INTERVAL must be a number of seconds >= 0, not {text!r}")
    return value


def _number(text: str | None) -> float | None:
    """``"87 %"`` -> 87, ``"8053 MiB"`` -> 8053; None for ``[N/A]`` or ``[Not Supported]``."""
    word = (text or "").split(" ")[0]
    try:
        return float(word)
    except ValueError:
        return None


def gpu_usage(text: str, visible: str | None = None) -> dict[str, float]:
    """The GPU fields of a sample from ``nvidia-smi --query-gpu=GPU_FIELDS --format=csv``,
    for the GPUs ``visible`` (``CUDA_VISIBLE_DEVICES``) names, or all when it is None."""
    wanted = None if visible is None else {name.strip() for name in visible.split(",")}
    fields: dict[str, float] = {}
    for row in query_rows(text):
        index = row.get("index", "")
        if not index.isdigit():
            continue
        if wanted is not None and index not in wanted and row.get("uuid") not in wanted:
            continue
        utilization = _number(row.get("utilization.gpu"))
        memory = _number(row.get("memory.used"))
        if utilization is not None:
            fields[f"gpu{index}_utilization"] = utilization
        if memory is not None:
            fields[f"gpu{index}_memory"] = int(memory * _MIB)
    return fields


class UsageSampler:
    """Samples a process tree every ``interval`` seconds in a thread of its own and
    hands each sample to ``emit`` (see the module documentation)."""

    def __init__(
        self,
        interval: float,
        emit: Callable[[dict[str, Any]], None],
        execution: int,
        environ: dict[str, str],
    ):
        self.interval, self._emit, self._execution = interval, emit, execution
        self._environ = environ
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu: dict[tuple[int, float], tuple[float, float]] = {}  # process -> (cpu, when)
        self._gpus = True  # nvidia-smi answered (or was not asked yet)
        self.emitted = 0

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(pid,), name="kleio-usage", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, pid: int) -> None:
        if self._stop.wait(self.interval):
            return  # a script shorter than the interval: psutil is never even imported
        try:
            import psutil

            root = psutil.Process(pid)
        except Exception:  # psutil cannot see it (gone already): nothing to sample
            return
        while True:
            try:
                sample = self.sample(root)
            except Exception:  # a sample that fails is skipped, never the run
                continue
            if sample is None:
                return
            self._emit(sample)
            self.emitted += 1
            if self._stop.wait(self.interval):
                return

    def at_end(self, cpu_seconds: float, peak_rss: int, duration: float) -> dict[str, Any] | None:
        """A run shorter than the interval got no sample: one at its end from what the
        kernel counted of the script's own process (its CPU time and peak memory; not
        what its children used), without psutil. It is returned, not emitted: the caller
        journals it with the execution's end, in the same append (on MongoDB an append
        of its own costs three round trips more). None if a sample was emitted."""
        if self.emitted:
            return None
        self.emitted += 1
        return {
            "execution": self._execution,
            "processes": 1,
            "cpu_percent": round(100.0 * cpu_seconds / duration, 1) if duration > 0 else 0.0,
            "rss": peak_rss,
            "at_end": True,
        }

    def sample(self, root) -> dict[str, Any] | None:
        """One sample of ``root``'s tree (a ``psutil.Process``); None once it is gone."""
        import psutil

        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        totals = {"processes": 0, "threads": 0, "cpu_percent": 0.0, "rss": 0}
        io = {"read_bytes": 0, "write_bytes": 0}
        io_seen = False
        now = time.time()
        alive: dict[tuple[int, float], tuple[float, float]] = {}
        for process in processes:
            try:
                with process.oneshot():
                    created = process.create_time()
                    times = process.cpu_times()
                    rss = process.memory_info().rss
                    threads = process.num_threads()
                    try:
                        counters = process.io_counters()
                    except (psutil.AccessDenied, AttributeError, NotImplementedError):
                        counters = None
            except psutil.Error:
                continue  # ended meanwhile
            cpu = times.user + times.system
            key = (process.pid, created)
            before, since = self._cpu.get(key, (0.0, created))
            elapsed = now - since
            totals["cpu_percent"] += 100.0 * (cpu - before) / elapsed if elapsed > 0 else 0.0
            alive[key] = (cpu, now)
            totals["processes"] += 1
            totals["threads"] += threads
            totals["rss"] += rss
            if counters is not None:
                io_seen = True
                io["read_bytes"] += counters.read_bytes
                io["write_bytes"] += counters.write_bytes
        if not totals["processes"]:
            return None
        self._cpu = alive
        totals["cpu_percent"] = round(totals["cpu_percent"], 1)
        sample = {"execution": self._execution, **totals, **(io if io_seen else {})}
        sample.update(self._gpu_fields())
        return sample

    def _gpu_fields(self) -> dict[str, float]:
        if not self._gpus:
            return {}
        output = nvidia_smi(self._environ, GPU_FIELDS, timeout=max(5.0, self.interval))
        if output is None:
            self._gpus = False  # absent or failing: not asked again in this execution
            return {}
        return gpu_usage(output, self._environ.get("CUDA_VISIBLE_DEVICES"))


def usage_summary(samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Peak memory, mean CPU, peaks of threads and processes, and per GPU its peak
    memory and mean utilisation, over ``samples``."""
    samples = list(samples)
    summary: dict[str, Any] = {"samples": len(samples)}
    if not samples:
        return summary

    def values(key: str) -> list[float]:
        return [s[key] for s in samples if isinstance(s.get(key), (int, float))]

    for key, name, reduce in (
        ("rss", "peak_rss", max),
        ("cpu_percent", "mean_cpu_percent", lambda v: round(sum(v) / len(v), 1)),
        ("threads", "peak_threads", max),
        ("processes", "peak_processes", max),
    ):
        found = values(key)
        if found:
            summary[name] = reduce(found)
    gpus: dict[str, dict[str, float]] = {}
    for key in sorted({key for sample in samples for key in sample if key.startswith("gpu")}):
        index, _, field = key[3:].partition("_")
        found = values(key)
        entry = gpus.setdefault(index, {})
        if field == "memory":
            entry["peak_memory"] = max(found)
        elif field == "utilization":
            entry["mean_utilization"] = round(sum(found) / len(found), 1)
    if gpus:
        summary["gpus"] = gpus
    return summary
