"""A journal for the dashboard's tests, made by real runs on SQLite, and the dashboard
served in this process.

The journal: a sweep of 6 trials (tag ``sweep``, lr and batch differ, 4 epochs each); a
trial ``h`` run with an uncommitted change; a ``hostile`` trial whose command line,
configuration, output, tag, artifact name, note and code diff hold ``<script>`` and
``"><img onerror=...>`` (and a password on its command line, which Kleio masks); and
``g``, a branch of it at ``epoch=1``.

Beside it, ``image_journal``: a trial that logged two images, ``samples`` and ``masks``,
at steps 0, 1 and 2 (their width says the step), and one that logged an image whose name
is markup.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kleio.core.model.journal import EventWriter
from kleio.ui.api import Dashboard
from kleio.ui.server import make_server
from tests.cli.test_after_a_sweep import Sweep
from tests.conftest import commit, git
from tests.helpers import clean_environment, start_kleio, text, trial_id_in

TRAIN = """\
import argparse, os, sys, time
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--name", default="")
parser.add_argument("--label", default="")
parser.add_argument("--password", default="")
parser.add_argument("--until", default=None, help="log a step every 0.2 s until this file exists")
args = parser.parse_args()
start = len(log.load_statistics())  # a branch continues where its parent stopped
if args.until:
    step = start
    while not os.path.exists(args.until):
        log.log_statistic(epoch=step, loss=round(1 / (step + 1), 6))
        print("step", step, flush=True)
        step += 1
        time.sleep(0.2)
    sys.exit(0)
for epoch in range(start, args.epochs):
    loss = round(args.lr * 10 / (epoch + 1) + args.batch / 1000, 6)
    log.log_statistic(epoch=epoch, loss=loss, acc=round(1 - loss / 10, 6))
    print(f"epoch {epoch} loss {loss}", flush=True)
    time.sleep(0.05)  # an epoch takes time: its output is read before the next is logged
print("trained", args.name, args.label)
print("a warning on stderr", file=sys.stderr)
log.log_artifact("model.bin", b"weights of lr %g" % args.lr, epoch=args.epochs)
if args.label:
    log.log_artifact(args.label + ".txt", b"a file with a hostile name")
"""

SCRIPT = '<script>alert("xss-command")</script>'
IMAGE = '"><img src=x onerror=alert("xss-config")>'
#: The sweep: name -> (lr, batch).
SWEEP = {
    "a": (0.1, 32),
    "b": (0.01, 32),
    "c": (0.001, 64),
    "d": (0.05, 64),
    "e": (0.02, 128),
    "f": (0.2, 16),
}
PASSWORD = "hunter2-pw"
#: Resource samples of a run every 10 s: CPU (% of a core), memory and a GPU.
USAGE = [
    (
        "usage",
        1_800_000_000.0 + 10 * i,
        {
            "execution": 1,
            "processes": 2,
            "threads": 9,
            "cpu_percent": 150.0 + 10 * (i % 3),
            "rss": (300 + 20 * i) << 20,
            "gpu0_utilization": 80 + i,
            "gpu0_memory": (8000 + 100 * i) << 20,
        },
    )
    for i in range(12)
]


def _ran(journal: Sweep, *args: str) -> str:
    """The id of the trial ``kleio ARGS`` ran (to completion, exit 0)."""
    result = journal.kleio(*args)
    assert result.returncode == 0, text(result.stderr)
    return trial_id_in(result.stderr)


def _make_journal(backend: str, folder: Path, address: str, name: str) -> Sweep:
    project = folder / "mnist"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(TRAIN)
    commit(project, "first")
    # No resource samples but those the journal is given (trial h's): a run shorter than
    # the interval would have its own at its end.
    env = clean_environment(
        folder / "home", KLEIO_DB_ADDRESS=address, KLEIO_DB_NAME=name, KLEIO_SAMPLE_INTERVAL="0"
    )
    journal = Sweep(backend, project, env)
    for key, (lr, batch) in SWEEP.items():
        journal.ids[key] = _ran(
            journal,
            "run",
            "--tags",
            "sweep",
            "python",
            "train.py",
            "--lr",
            str(lr),
            "--batch",
            str(batch),
        )
    with open(project / "train.py", "a") as script:
        script.write("# tuned by hand, not committed\n")
    journal.ids["h"] = _ran(journal, "run", "--tags", "tuned", "python", "train.py", "--lr", "0.03")
    with journal.store() as store:  # resource samples, as the launcher journals them
        store.append_events(EventWriter().events(journal.ids["h"], USAGE))
    with open(project / "train.py", "a") as script:
        script.write(f"# {SCRIPT} {IMAGE}\n")
    journal.ids["hostile"] = _ran(journal,
        "run", "--tags", f"hostile;{SCRIPT}", "python", "train.py", "--lr", "0.3",
        "--name", SCRIPT, "--label", IMAGE, "--password", PASSWORD,
    )  # fmt: skip
    journal.ids["g"] = _ran(journal,
        "branch", journal.ids["hostile"][:7], "--timestamp", "epoch=1",
        "--lr", "0.4", "--password", PASSWORD,
    )  # fmt: skip
    noted = journal.kleio("note", journal.ids["hostile"][:7], f"{SCRIPT} {IMAGE}")
    assert noted.returncode == 0, text(noted.stderr)
    return journal


@pytest.fixture(scope="session")
def sqlite_journal(tmp_path_factory) -> Sweep:
    folder = tmp_path_factory.mktemp("ui-sqlite")
    return _make_journal("sqlite", folder, str(folder / "kleio.db"), "kleio")


@pytest.fixture
def journal(sqlite_journal) -> Sweep:
    """The journal the endpoints read, on SQLite. The dashboard reads through the store
    contract alone, which tests/store/test_contract.py checks on the wire stand-in; the
    same endpoints on a journal of the wire stand-in ran the same store calls again (19 s,
    most of it the sweep's runs)."""
    return sqlite_journal


#: A script logging images: each name at steps 0, 1 and 2, an image's width telling its
#: step (samples: 120 + step pixels wide, masks: 64 + step); --name NAME logs one image
#: so named, and an HTML page as an artifact whose metadata say it is an image.
DRAW = """\
import argparse
import numpy as np
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--name", default="")
args = parser.parse_args()
if args.name:
    log.log_image(args.name, np.full((16, 16), 200, np.uint8), step=0)
    # Bytes that are no image, under metadata that say they are one.
    page = b"<html><script>alert('xss-artifact')</script></html>"
    log.log_artifact("page.png", page, kind="image", width=1, height=1, mode="RGB")
    raise SystemExit(0)
for step in range(3):
    y, x = np.mgrid[0:90, 0:120 + step] / 90.0
    disc = ((x - 0.35 - 0.3 * step) ** 2 + (y - 0.5) ** 2 < 0.04)
    samples = np.stack([x / x.max(), y, np.where(disc, 1.0, 0.25)], axis=-1)
    log.log_image("samples", samples, step=step, loss=round(1 / (step + 1), 3))
    y, x = np.mgrid[0:64, 0:64 + step]
    masks = ((x - 32) ** 2 + (y - 32) ** 2 < (8 + 8 * step) ** 2).astype(np.uint8) * 255
    log.log_image("masks", masks, step=step)
"""
#: Steps DRAW logs of each image name.
IMAGE_STEPS = (0, 1, 2)


@pytest.fixture(scope="session")
def image_journal(tmp_path_factory) -> Sweep:
    """A SQLite journal of DRAW's runs: ``images`` (two names, three steps each) and
    ``hostile`` (one image named :data:`IMAGE`)."""
    folder = tmp_path_factory.mktemp("ui-images")
    project = folder / "vision"
    project.mkdir()
    (project / "draw.py").write_text(DRAW)
    env = clean_environment(
        folder / "home",
        KLEIO_DB_ADDRESS=str(folder / "kleio.db"),
        KLEIO_DB_NAME="kleio",
        KLEIO_SAMPLE_INTERVAL="0",
    )
    journal = Sweep("sqlite", project, env)
    journal.ids["images"] = _ran(journal, "run", "python", "draw.py")
    journal.ids["hostile"] = _ran(journal, "run", "python", "draw.py", "--name", IMAGE)
    return journal


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class Client:
    """Requests to a dashboard, as a program makes them (no proxy): with the token of the
    address it is given (``?token=``) in an ``Authorization`` header."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
        sent = {"Authorization": f"token {self.token}"} if self.token else {}
        sent.update(headers or {})
        request = urllib.request.Request(self.url + path, headers=sent, method=method)
        try:
            with self._opener.open(request, timeout=60) as response:
                status, found, body = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, found, body = error.code, dict(error.headers), error.read()
        if found.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return Answer(status, found, body)

    def json(self, path: str):
        answer = self.get(path)
        assert answer.status == 200, answer.body
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        return answer.json()


#: The token of the dashboards the tests serve in-process.
TOKEN = "tests-token-0123456789"


@contextlib.contextmanager
def serving(store, lease: float = 60.0, database: str = "test journal") -> Iterator[Client]:
    """The dashboard of ``store`` on a free port of 127.0.0.1, in a thread of this process,
    with the token :data:`TOKEN`."""
    server = make_server(Dashboard(store, lease, database, "test"), "127.0.0.1", 0, print, TOKEN)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Client(server.url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Running:
    """A ``kleio ui`` process, its address, and what it said before serving."""

    url: str
    process: subprocess.Popen
    said: str


@contextlib.contextmanager
def kleio_ui(env: dict[str, str], cwd: Path, *args: str) -> Iterator[Running]:
    """The real ``kleio ui --port 0 ARGS``, serving; at the end it is stopped as Ctrl-C
    stops it."""
    process = start_kleio(env, cwd, "ui", "--port", "0", *args)
    try:
        said = _first_line(process, timeout=60)
        found = re.search(r" at (http://\S+) \(Ctrl-C stops it\)", said)
        assert found, said
        yield Running(found[1], process, said)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    """The lines ``process`` wrote on stderr up to the one naming its address."""
    said = b""
    deadline = time.monotonic() + timeout
    while b"stops it)" not in said:
        left = deadline - time.monotonic()
        assert left > 0 and process.poll() is None, said.decode() + process.stderr.read().decode()
        ready, _, _ = select.select([process.stderr], [], [], left)
        if ready:
            byte = os.read(process.stderr.fileno(), 4096)
            assert byte, said.decode()
            said += byte
    return said.decode()
