"""Resource samples: GPU fields parsed from nvidia-smi's real output, a process tree
sampled, and the summary ``kleio info`` shows."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from kleio.core.capture.host import query_rows
from kleio.core.capture.usage import (
    GPU_FIELDS,
    UsageSampler,
    gpu_usage,
    sample_interval,
    usage_summary,
)

NVIDIA_SMI = Path(__file__).parents[1] / "fixtures" / "nvidia-smi"
UUID = "GPU-1c27f95c-baae-e316-605e-007c6d86f3a6"


def query_output_of_the_real_gpu() -> str:
    """What ``nvidia-smi --query-gpu=GPU_FIELDS --format=csv`` prints for the H200 whose
    full report (``nvidia-smi -q -x``) is in the fixtures: its values, nvidia-smi's
    CSV layout (a header naming each field with its unit, values with theirs)."""
    gpu = ElementTree.parse(NVIDIA_SMI / "nvidia-smi-q.xml").getroot().find("gpu")
    assert GPU_FIELDS == "index,uuid,utilization.gpu,memory.used"
    return (
        "index, uuid, utilization.gpu [%], memory.used [MiB]\n"
        f"{gpu.findtext('minor_number')}, {gpu.findtext('uuid')}, "
        f"{gpu.findtext('utilization/gpu_util')}, {gpu.findtext('fb_memory_usage/used')}\n"
    )


def test_the_real_query_output_is_read_by_field_without_units():
    (row,) = query_rows((NVIDIA_SMI / "nvidia-smi-query.csv").read_text())
    assert row["index"] == "0" and row["uuid"] == UUID
    assert row["memory.total"] == "143771 MiB"
    # That query asks for no usage: nothing is made up.
    assert gpu_usage((NVIDIA_SMI / "nvidia-smi-query.csv").read_text()) == {}


def test_usage_of_the_real_gpu():
    assert gpu_usage(query_output_of_the_real_gpu()) == {
        "gpu0_utilization": 0.0,
        "gpu0_memory": 0,
    }


def test_busy_and_unsupported_fields():
    text = (
        "index, uuid, utilization.gpu [%], memory.used [MiB]\n"
        f"0, {UUID}, 87 %, 8053 MiB\n"
        "1, GPU-other, [N/A], [Not Supported]\n"
    )
    assert gpu_usage(text) == {"gpu0_utilization": 87.0, "gpu0_memory": 8053 * 1024 * 1024}
    assert gpu_usage(text, visible=UUID) == gpu_usage(text, visible="0")
    assert gpu_usage(text, visible="1") == {}


def test_interval_from_option_environment_or_default():
    from kleio.core.model.errors import SettingsError

    assert sample_interval(None, {}) == 10.0
    assert sample_interval(None, {"KLEIO_SAMPLE_INTERVAL": "0.5"}) == 0.5
    assert sample_interval(0.0, {"KLEIO_SAMPLE_INTERVAL": "3"}) == 0.0
    for bad in ("fast", "-1", "nan", "inf"):
        with pytest.raises(SettingsError, match="KLEIO_SAMPLE_INTERVAL"):
            sample_interval(None, {"KLEIO_SAMPLE_INTERVAL": bad})


TREE = """\
import os, sys, time
block = bytearray(150 * 1024 * 1024)
for _ in range(2):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
print("ready", flush=True)
end = time.time() + 0.5
while time.time() < end:
    pass
time.sleep(30)
"""


def test_a_process_tree_is_sampled_whole():
    process = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"ready\n"
        import psutil

        sampler = UsageSampler(1.0, lambda sample: None, 2, {"PATH": ""})
        root = psutil.Process(process.pid)
        sample = sampler.sample(root)
        assert sample["execution"] == 2 and sample["processes"] == 3
        assert sample["threads"] >= 3
        assert sample["rss"] >= 150 * 1024 * 1024
        assert sample["cpu_percent"] > 0
        assert not any(key.startswith("gpu") for key in sample)  # no nvidia-smi on PATH
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()
    assert sampler.sample(root) is None  # gone: the sampler stops


def test_summary_peaks_and_means():
    samples = [
        {"rss": 10, "cpu_percent": 50.0, "threads": 2, "processes": 1, "gpu0_memory": 5},
        {"rss": 30, "cpu_percent": 150.0, "threads": 4, "processes": 2, "gpu0_utilization": 80},
        {"rss": 20, "cpu_percent": 100.0, "threads": 3, "processes": 2, "gpu0_utilization": 40},
    ]
    assert usage_summary(samples) == {
        "samples": 3,
        "peak_rss": 30,
        "mean_cpu_percent": 100.0,
        "peak_threads": 4,
        "peak_processes": 2,
        "gpus": {"0": {"peak_memory": 5, "mean_utilization": 60.0}},
    }
    assert usage_summary([]) == {"samples": 0}
