"""What a run records of its code, its software environment and its host."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kleio.core.capture import environment
from kleio.core.capture.code import code_identity, code_snapshot, describe_code_change
from kleio.core.capture.environment import environment_snapshot, python_environment
from kleio.core.capture.host import host_snapshot, parse_gpu_query, scheduler_job
from kleio.core.model.commandline import split_command

GPU_QUERY = Path(__file__).parent.parent / "fixtures" / "nvidia-smi" / "nvidia-smi-query.csv"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e.org", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """git reads no configuration of this machine and looks no higher than the test."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def repo(tmp_path):
    """A repository on ``main`` with one commit of train.py and model.py."""
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "train.py").write_text("print('training')\n")
    (folder / "model.py").write_text("LAYERS = 2\n")
    commit(folder, "first")
    return folder


# -- code ------------------------------------------------------------------------------


def test_a_clean_repository_gives_its_commit_and_branch(repo):
    snapshot = code_snapshot(str(repo), "train.py")
    assert snapshot["type"] == "git"
    assert os.path.realpath(snapshot["root"]) == os.path.realpath(repo)
    assert snapshot["commit"] == git(repo, "rev-parse", "HEAD")
    assert snapshot["branch"] == "main"
    assert (snapshot["dirty"], snapshot["diff"]) == (False, "")
    assert (snapshot["changed_files"], snapshot["untracked"]) == ([], [])
    assert snapshot["remotes"] == {}


def test_uncommitted_changes_are_recorded_as_a_diff(repo):
    (repo / "train.py").write_text("print('training harder')\n")
    (repo / "notes.txt").write_text("try a larger batch\n")
    (repo / "data").mkdir()
    (repo / "data" / "new.csv").write_text("a,b\n")
    snapshot = code_snapshot(str(repo), "train.py")
    assert snapshot["dirty"] is True
    assert "-print('training')" in snapshot["diff"]
    assert "+print('training harder')" in snapshot["diff"]
    assert snapshot["diff_sha256"] == hashlib.sha256(snapshot["diff"].encode()).hexdigest()
    assert snapshot["changed_files"] == ["train.py"]
    assert sorted(snapshot["untracked"]) == ["data/new.csv", "notes.txt"]


def test_staged_changes_are_part_of_the_diff(repo):
    (repo / "model.py").write_text("LAYERS = 3\n")
    git(repo, "add", "model.py")
    snapshot = code_snapshot(str(repo), "train.py")
    assert snapshot["dirty"] and snapshot["changed_files"] == ["model.py"]


def test_changed_files_with_non_ascii_names_are_listed(repo):
    # git quotes such names in its diff headers: "a/donn\303\251es.py".
    (repo / "données.py").write_text("x = 1\n")
    commit(repo)
    (repo / "données.py").write_text("x = 2\n")
    (repo / "model.py").write_text("LAYERS = 3\n")
    snapshot = code_snapshot(str(repo), "train.py")
    assert snapshot["changed_files"] == ["données.py", "model.py"]


def test_a_snapshot_from_a_subfolder_describes_the_whole_repository(repo):
    (repo / "scripts").mkdir()
    (repo / "model.py").write_text("LAYERS = 3\n")
    snapshot = code_snapshot(str(repo / "scripts"), "run.py")
    assert os.path.realpath(snapshot["root"]) == os.path.realpath(repo)
    assert snapshot["changed_files"] == ["model.py"]


def test_a_snapshot_from_a_subfolder_records_every_change_and_untracked_file(repo):
    # git runs from the subfolder: what it prints must still cover the repository,
    # with paths from its top, even for a user whose git shows diffs relative.
    git(repo, "config", "diff.relative", "true")
    (repo / "scripts").mkdir()
    (repo / "scripts" / "run.py").write_text("print('run')\n")
    (repo / "notes.txt").write_text("outside the subfolder\n")
    (repo / "model.py").write_text("LAYERS = 3\n")
    snapshot = code_snapshot(str(repo / "scripts"), "run.py")
    assert snapshot["dirty"] is True
    assert "+LAYERS = 3" in snapshot["diff"]
    assert snapshot["changed_files"] == ["model.py"]
    assert sorted(snapshot["untracked"]) == ["notes.txt", "scripts/run.py"]
    assert snapshot == {**code_snapshot(str(repo), "run.py"), "root": snapshot["root"]}


def test_a_detached_head_has_no_branch(repo):
    git(repo, "checkout", "-q", "--detach")
    snapshot = code_snapshot(str(repo), "train.py")
    assert snapshot["branch"] is None
    assert snapshot["commit"] == git(repo, "rev-parse", "HEAD")


def test_a_remote_url_is_stored_without_its_password(repo):
    git(repo, "remote", "add", "origin", "https://alice:s3cret@example.org/lab/repo.git")
    git(repo, "remote", "add", "mirror", "git@example.org:lab/repo.git")
    snapshot = code_snapshot(str(repo), "train.py")
    assert snapshot["remotes"] == {
        "origin": "https://***@example.org/lab/repo.git",
        "mirror": "git@example.org:lab/repo.git",
    }
    assert "s3cret" not in json.dumps(snapshot)


def test_outside_git_the_code_version_is_the_scripts_sha256(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_bytes(b"print('no git here')\n")
    assert code_snapshot(str(folder), "train.py") == {
        "type": "file",
        "path": "train.py",
        "sha256": hashlib.sha256(b"print('no git here')\n").hexdigest(),
    }
    assert code_snapshot(str(folder), "missing.py")["sha256"] is None
    assert code_snapshot(str(folder), None) == {"type": "file", "path": None, "sha256": None}


def test_the_code_identity_changes_with_the_diff_and_only_with_it(repo):
    clean = code_identity(code_snapshot(str(repo), "train.py"))
    (repo / "train.py").write_text("print('v2')\n")
    edited = code_identity(code_snapshot(str(repo), "train.py"))
    assert edited != clean
    assert code_identity(code_snapshot(str(repo), "train.py")) == edited
    (repo / "train.py").write_text("print('v3')\n")
    assert code_identity(code_snapshot(str(repo), "train.py")) not in (clean, edited)
    (repo / "train.py").write_text("print('training')\n")
    assert code_identity(code_snapshot(str(repo), "train.py")) == clean


def test_the_code_identity_of_a_file_follows_its_content(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("a = 1\n")
    before = code_identity(code_snapshot(str(tmp_path), "train.py"))
    script.write_text("a = 2\n")
    assert code_identity(code_snapshot(str(tmp_path), "train.py")) != before


def test_a_code_change_names_both_commits_and_the_changed_files(repo):
    old = code_snapshot(str(repo), "train.py")
    (repo / "model.py").write_text("LAYERS = 4\n")
    (repo / "loss.py").write_text("def loss(): ...\n")
    new_commit = commit(repo, "deeper")
    (repo / "train.py").write_text("print('uncommitted')\n")
    new = code_snapshot(str(repo), "train.py")
    message = describe_code_change(old, new)
    assert f"commit {old['commit'][:7]} -> {new_commit[:7]}" in message
    assert "uncommitted changes differ" in message
    assert "changed files: loss.py, model.py, train.py" in message


def test_a_change_between_two_commits_lists_only_the_files_they_touch(repo):
    old = code_snapshot(str(repo), "train.py")
    (repo / "model.py").write_text("LAYERS = 4\n")
    commit(repo)
    message = describe_code_change(old, code_snapshot(str(repo), "train.py"))
    assert message.endswith("; changed files: model.py")
    assert "uncommitted" not in message


# -- software environment --------------------------------------------------------------


@pytest.fixture
def probes(monkeypatch):
    """The interpreters actually started to list their packages."""
    started = []
    real = environment._probe

    def counting(interpreter, environ, cwd):
        started.append(interpreter)
        return real(interpreter, environ, cwd)

    monkeypatch.setattr(environment, "_probe", counting)
    return started


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("python-*.json")) if cache.exists() else []


def test_the_running_interpreter_reports_its_version_and_packages(workdir):
    python = python_environment(sys.executable, dict(os.environ), str(workdir), None)
    assert python["version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert python["implementation"] == platform.python_implementation()
    assert python["packages"]["pytest"] == pytest.__version__


def test_the_environment_of_a_python_command_holds_python_packages_and_os(workdir):
    command = split_command([sys.executable, "train.py", "--lr", "0.1"])
    snapshot = environment_snapshot(command, dict(os.environ), str(workdir))
    assert snapshot["python"]["version"] == platform.python_version()
    assert "pytest" in snapshot["packages"]
    assert snapshot["os"]["system"] == platform.system()
    assert snapshot["os"]["machine"] == platform.machine()


def test_a_command_that_is_not_python_has_no_python_environment(workdir, probes):
    snapshot = environment_snapshot(split_command(["./run.sh"]), dict(os.environ), str(workdir))
    assert (snapshot["python"], snapshot["packages"]) == (None, {})
    assert probes == []


def test_the_cached_environment_is_reused_without_starting_python(tmp_path, workdir, probes):
    cache = tmp_path / "cache"
    first = python_environment(sys.executable, dict(os.environ), str(workdir), cache)
    assert len(probes) == 1 and len(cache_files(cache)) == 1
    second = python_environment(sys.executable, dict(os.environ), str(workdir), cache)
    assert second == first
    assert len(probes) == 1


def install_fake_package(site: Path, name: str, version: str) -> None:
    """What pip leaves in a site folder, as far as package listing goes."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_a_package_installed_in_a_folder_of_the_import_path_invalidates_the_cache(
    tmp_path, workdir, probes
):
    cache, site = tmp_path / "cache", tmp_path / "site"
    site.mkdir()
    an_hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(site, ns=(an_hour_ago, an_hour_ago))
    environ = {**os.environ, "PYTHONPATH": str(site)}
    python = python_environment(sys.executable, environ, str(workdir), cache)
    assert str(site) in python["path"] and "fakepkg" not in python["packages"]
    python_environment(sys.executable, environ, str(workdir), cache)
    assert len(probes) == 1
    install_fake_package(site, "fakepkg", "1.0")
    python = python_environment(sys.executable, environ, str(workdir), cache)
    assert len(probes) == 2
    assert python["packages"]["fakepkg"] == "1.0"
    python_environment(sys.executable, environ, str(workdir), cache)
    assert len(probes) == 2  # cached again


def test_a_folder_of_the_import_path_created_after_caching_invalidates_the_cache(tmp_path, workdir):
    # `pip install --target libs` (or a first `pip install --user`) with the folder
    # already named in the import path but not created yet.
    cache, site = tmp_path / "cache", tmp_path / "libs"
    environ = {**os.environ, "PYTHONPATH": str(site)}
    python_environment(sys.executable, environ, str(workdir), cache)
    install_fake_package(site, "fakepkg", "1.0")
    python = python_environment(sys.executable, environ, str(workdir), cache)
    assert python["packages"].get("fakepkg") == "1.0"


def test_an_interpreter_that_is_a_script_is_never_cached(tmp_path, workdir, probes):
    shim = tmp_path / "shims" / "python"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    cache = tmp_path / "cache"
    for _ in range(2):
        python = python_environment(str(shim), dict(os.environ), str(workdir), cache)
        assert python["version"] == platform.python_version()
    assert len(probes) == 2
    assert cache_files(cache) == []


def test_an_interpreter_that_cannot_be_found_gives_no_environment(workdir):
    environ = {**os.environ, "PATH": str(workdir)}
    assert python_environment("python-absent", environ, str(workdir), None) is None


# -- host ------------------------------------------------------------------------------


def test_nvidia_smi_query_output_gives_each_gpu():
    assert parse_gpu_query(GPU_QUERY.read_text()) == [
        {
            "index": 0,
            "name": "NVIDIA H200",
            "uuid": "GPU-1c27f95c-baae-e316-605e-007c6d86f3a6",
            "memory_mib": 143771,
            "driver": "580.159.04",
            "pci_bus": "00000000:00:06.0",
            "compute_capability": "9.0",
        }
    ]


def test_a_query_without_gpus_gives_none():
    assert parse_gpu_query("") == []
    assert parse_gpu_query(GPU_QUERY.read_text().splitlines()[0] + "\n") == []


@pytest.fixture
def empty_path(tmp_path):
    """A PATH without nvidia-smi."""
    folder = tmp_path / "empty-bin"
    folder.mkdir()
    return str(folder)


def test_the_host_records_the_scheduler_job_and_allowlisted_variables_but_no_secret(
    empty_path,
):
    environ = {
        "PATH": empty_path,
        "SLURM_JOB_ID": "7",
        "SLURM_AUTH_KEY": "hunter2",
        "MY_TOKEN": "x",
        "CUDA_VISIBLE_DEVICES": "0",
        "UNRELATED": "y",
    }
    snapshot = host_snapshot(environ)
    assert snapshot["scheduler"] == {"SLURM_JOB_ID": "7"}
    assert snapshot["environment"] == {"CUDA_VISIBLE_DEVICES": "0"}
    recorded = json.dumps(snapshot)
    assert "MY_TOKEN" not in recorded and "hunter2" not in recorded
    assert snapshot["hostname"] == socket.gethostname()
    assert snapshot["cpu"]["count"] == os.cpu_count()
    assert (snapshot["gpus"], snapshot["gpu_driver"]) == ([], None)


def test_the_host_is_read_without_starting_a_process_when_no_tool_is_on_the_path(
    empty_path, monkeypatch
):
    # It is taken while the script starts: a process (`uname -p`, which
    # platform.platform() runs) would compete with the script for the CPU.
    def refused(*args, **kwargs):
        raise AssertionError(f"the host snapshot started {args[0]!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)
    snapshot = host_snapshot({"PATH": empty_path})
    system = os.uname()
    assert snapshot["platform"].startswith(f"{system.sysname}-{system.release}-{system.machine}")
    libc, version = platform.libc_ver()
    if system.sysname == "Linux" and libc:
        assert snapshot["platform"].endswith(f"-with-{libc}{version}")


def test_the_host_gpus_come_from_nvidia_smi_on_the_path(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\nexec cat '{GPU_QUERY}'\n")
    fake.chmod(0o755)
    snapshot = host_snapshot({"PATH": os.pathsep.join([str(folder), "/usr/bin", "/bin"])})
    assert [gpu["name"] for gpu in snapshot["gpus"]] == ["NVIDIA H200"]
    assert snapshot["gpu_driver"] == "580.159.04"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {
                "SLURM_JOB_ID": "4243",
                "SLURM_ARRAY_JOB_ID": "4240",
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_RESTART_COUNT": "2",
                "SLURM_JOB_PARTITION": "gpu",
                "SLURM_JOB_NODELIST": "node[01-02]",
                "SLURM_CLUSTER_NAME": "beluga",
            },
            {
                "scheduler": "slurm",
                "job_id": 4243,
                "array_job_id": 4240,
                "array_task_id": 3,
                "restart_count": 2,
                "partition": "gpu",
                "nodes": "node[01-02]",
                "cluster": "beluga",
            },
        ),
        (
            {"SLURM_JOB_ID": "9", "SLURM_NODELIST": "n1"},
            {"scheduler": "slurm", "job_id": 9, "nodes": "n1", "restart_count": 0},
        ),
        (
            {
                "PBS_JOBID": "12.pbs",
                "PBS_ARRAY_INDEX": "4",
                "PBS_QUEUE": "long",
                "PBS_WALLTIME": "3600",
            },
            {
                "scheduler": "pbs",
                "job_id": "12.pbs",
                "array_task_id": 4,
                "partition": "long",
                "time_limit": "3600",
            },
        ),
        (
            {"LSB_JOBID": "77", "LSB_JOBINDEX": "5", "LSB_QUEUE": "normal", "LSB_HOSTS": "h1 h1"},
            {
                "scheduler": "lsf",
                "job_id": 77,
                "array_task_id": 5,
                "partition": "normal",
                "nodes": "h1 h1",
            },
        ),
        (
            {"JOB_ID": "31", "SGE_ROOT": "/opt/sge", "SGE_TASK_ID": "undefined", "QUEUE": "all.q"},
            {"scheduler": "sge", "job_id": 31, "partition": "all.q"},
        ),
        ({"JOB_ID": "31"}, None),
        ({}, None),
    ],
    ids=["slurm-array", "slurm", "pbs", "lsf", "sge", "job-id-alone", "no-job"],
)
def test_the_scheduler_job_has_the_same_facts_whatever_the_scheduler(environ, expected, empty_path):
    assert scheduler_job({**environ, "PATH": empty_path}) == expected
