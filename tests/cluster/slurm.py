"""A real single-node SLURM for the tests: munge, slurmctld and slurmd from Debian's
packages, configured in a temporary folder, on free ports, stopped at the end.

Jobs run as the user running the tests, with their environment (``sbatch`` exports it),
so a job's ``kleio`` is the one under test and writes to the test's journal.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.mongo_server import free_port

#: Debian packages providing the daemons and commands.
PACKAGES = ("slurm-wlm", "munge")
COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def ensure_installed() -> None:
    """Install SLURM and munge from Debian's packages when they are missing (as root with
    apt-get, as on CI); otherwise fail with what to install."""
    if all(shutil.which(command) for command in COMMANDS):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *PACKAGES],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            check=False,
            timeout=600,
        )
    missing = [command for command in COMMANDS if not shutil.which(command)]
    if missing:
        raise RuntimeError(
            f"SLURM is not installed ({', '.join(missing)} missing): "
            f"apt-get install {' '.join(PACKAGES)} (.ci/run does)"
        )


class Slurm:
    """One controller and one node (this host) with every core of the machine."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.node = socket.gethostname().split(".")[0]
        self.environment = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._pids: list[Path] = []

    # -- life ----------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        ensure_installed()
        for name in ("munge", "state", "spool", "log", "jobs"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        (self.folder / "munge").chmod(0o700)
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        socket_path = self.folder / "munge" / "munge.socket"
        self._daemon(
            "munged",
            "--force",
            f"--socket={socket_path}",
            f"--key-file={key}",
            f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
            f"--log-file={self.folder / 'log' / 'munged.log'}",
            f"--seed-file={self.folder / 'munge' / 'seed'}",
        )
        self._pids.append(self.folder / "munge" / "munged.pid")
        self.conf.write_text(self._configuration(socket_path))
        self._daemon("slurmctld", "-f", str(self.conf))
        self._pids.append(self.folder / "slurmctld.pid")
        self._daemon("slurmd", "-f", str(self.conf), "-N", self.node)
        self._pids.append(self.folder / "slurmd.pid")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False).strip()
            if state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not come up; see {self.folder / 'log'}")

    def stop(self) -> None:
        for pid_file in reversed(self._pids):
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, 15)
            except (OSError, ValueError, IndexError):
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
                time.sleep(0.1)
        self._pids.clear()

    def _configuration(self, munge_socket: Path) -> str:
        folder = self.folder
        return "\n".join(
            [
                "ClusterName=kleio-test",
                f"SlurmctldHost={self.node}(127.0.0.1)",
                "SlurmUser=root" if os.geteuid() == 0 else f"SlurmUser={os.getlogin()}",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "AuthType=auth/munge",
                "CryptoType=crypto/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={folder / 'state'}",
                f"SlurmdSpoolDir={folder / 'spool'}",
                f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
                f"SlurmdPidFile={folder / 'slurmd.pid'}",
                f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={folder / 'log' / 'slurmd.log'}",
                # Processes are tracked through their parent ids: no cgroups needed.
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "MpiDefault=none",
                "SwitchType=switch/none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "ReturnToService=2",
                "JobRequeue=1",
                # SLURM's default: the time between SIGTERM and SIGKILL of a job ended.
                "KillWait=30",
                "MinJobAge=600",
                f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1}"
                " RealMemory=1000 State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
                " OverSubscribe=YES",
                "",
            ]
        )

    def _daemon(self, *argv: str) -> None:
        subprocess.run(argv, env=self.environment, check=True, capture_output=True, timeout=60)

    def _run(self, *argv: str, check: bool = True) -> str:
        result = subprocess.run(
            argv, env=self.environment, capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        return result.stdout

    # -- jobs ----------------------------------------------------------------------
    def sbatch(
        self,
        script: str,
        *options: str,
        cwd: Path,
        env: dict[str, str],
        arguments: tuple[str, ...] = (),
    ) -> str:
        """Submit ``script`` (its text) with ``options`` from ``cwd`` with ``env``, the
        script getting ``arguments``; returns the job id."""
        path = self.folder / "jobs" / f"job-{time.time_ns()}.sh"
        path.write_text(script)
        output = subprocess.run(
            ["sbatch", "--parsable", *options, str(path), *arguments],
            env={**env, "SLURM_CONF": str(self.conf)},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return output.strip().split(";")[0]

    def states(self, job: str) -> list[str]:
        """The states of a job's tasks (one for a plain job)."""
        output = self._run("squeue", "-h", "-r", "-j", job, "-o", "%T", check=False)
        if output.strip():
            return output.split()
        shown = self._run("scontrol", "-o", "show", "job", job, check=False)
        return [
            field.split("=", 1)[1]
            for line in shown.splitlines()
            for field in line.split()
            if field.startswith("JobState=")
        ]

    def wait(self, job: str, until: set[str], timeout: float = 120.0) -> list[str]:
        """Wait until every task of ``job`` is in one of the ``until`` states."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(job)
            if states and all(state in until for state in states):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} is {states}, not {sorted(until)}")
            time.sleep(0.5)

    def signal(self, job: str, name: str, batch: bool = False) -> None:
        """``scancel --full --signal=NAME``: the signal to every process of the job; with
        ``batch``, ``scancel --batch``: to the batch script only, as ``#SBATCH
        --signal=B:NAME@SECONDS`` sends it before the time limit."""
        self._run("scancel", "--batch" if batch else "--full", f"--signal={name}", job)

    def requeue(self, job: str) -> None:
        """``scontrol requeue``, then start at once (see :meth:`release`)."""
        self._run("scontrol", "requeue", job)
        self.release(job)

    def release(self, job: str, timeout: float = 60.0) -> None:
        """Start a requeued job at once, when it waits for its begin time: SLURM delays a
        requeued job by two minutes (its credentials' lifetime), which a test need not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fields = self.show(job)
            requeued = fields.get("Restarts", "0") != "0" and fields.get("JobState") == "PENDING"
            # The node must have finished the previous run, and a second must have passed:
            # slurmd refuses to launch a job whose credential is no newer, in whole
            # seconds, than the kill of its previous run ("Job N already killed, do not
            # launch batch job"), and the job then fails without running.
            if requeued and not self._completing():
                time.sleep(1.5)
                self._run("scontrol", "update", f"jobid={job}", "StartTime=now")
                return
            time.sleep(0.2)
        raise TimeoutError(f"job {job} was not requeued: {self.show(job).get('JobState')}")

    def _completing(self) -> bool:
        state = self._run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False)
        return not state.strip() or "completing" in state

    def describe(self, job: str) -> str:
        """What SLURM says of a job, for a failed test: its state, reason and exit code,
        and the controller's log lines about it."""
        fields = self.show(job)
        shown = " ".join(
            f"{name}={fields.get(name)}" for name in ("JobState", "Reason", "ExitCode", "Restarts")
        )
        log = self.folder / "log" / "slurmctld.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        about = [line for line in lines if f"JobId={job} " in line or line.endswith(f"JobId={job}")]
        return "\n".join([shown, *about[-15:]])

    def show(self, job: str) -> dict[str, str]:
        fields = {}
        for field in self._run("scontrol", "-o", "show", "job", job).split():
            name, _, value = field.partition("=")
            fields[name] = value
        return fields
