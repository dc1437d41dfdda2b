"""Writing where the user points never destroys what is there.

Every command that writes a file the user names (``export -o``, ``artifacts get -o``,
``plot -o``) writes standard output for ``-``, creates a missing file for its owner
alone, replaces a regular file whole (keeping its permissions), writes through a FIFO or
a terminal, and refuses with one line a symbolic link (its target left alone), a folder
or a device it cannot write through. Once, as root, ``kleio export -o /dev/null``
replaced the machine's ``/dev/null`` with a regular file.
"""

from __future__ import annotations

import os
import stat
import tarfile
import threading
import tty
from pathlib import Path

import pytest

from tests.conftest import script_project
from tests.helpers import run_kleio, text, trial_id_in

SCRIPT = """\
from kleio.client.logger import kleio_logger as log
for step in range(3):
    log.log_statistic(step=step, loss=1.0 / (step + 1))
log.log_artifact("model.bin", b"the weights")
"""
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    folder = tmp_path_factory.mktemp("destinations")
    project, env = script_project(folder, SCRIPT)
    result = run_kleio("python", "train.py", env=env, cwd=project)
    assert result.returncode == 0, text(result.stderr)
    return env, project, trial_id_in(result.stderr)[:7]


def _command(name: str, trial: str, target: Path | str) -> tuple[list[str], Path | str]:
    """The command line writing ``target``, and the path it writes (artifacts get takes a
    folder and writes the artifact's name in it)."""
    if name == "export":
        return ["export", "-o", str(target)], target
    if name == "plot":
        return ["plot", trial, "--y", "loss", "-o", str(target)], target
    folder = target if str(target) == "-" else Path(target).parent
    return ["artifacts", "get", trial, "model.bin", "-o", str(folder)], target


def _looks_written(name: str, data: bytes) -> bool:
    if name == "export":
        return data[257:262] == b"ustar"  # a tar archive
    if name == "plot":
        return data.startswith(PNG)
    return data == b"the weights"


def _target(name: str, folder: Path) -> Path:
    return folder / ("out.png" if name == "plot" else "model.bin" if name == "artifacts" else "out")


COMMANDS = ["export", "plot", "artifacts"]


def _one_line_error(result, fragment: str) -> None:
    errors = text(result.stderr)
    assert result.returncode != 0 and "Traceback" not in errors, errors
    lines = [line for line in errors.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("kleio: error: "), errors
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_new_file_is_for_its_owner_alone_and_a_file_is_replaced_whole(journal, name, tmp_path):
    env, project, trial = journal
    target = _target(name, tmp_path)
    argv, written = _command(name, trial, target)
    result = run_kleio(*argv, env=env, cwd=project)
    assert result.returncode == 0, text(result.stderr)
    assert _looks_written(name, Path(written).read_bytes())
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    Path(written).write_bytes(b"an older file")
    os.chmod(written, 0o644)  # shared on purpose: it stays so
    result = run_kleio(*argv, env=env, cwd=project)
    assert result.returncode == 0, text(result.stderr)
    assert _looks_written(name, Path(written).read_bytes())
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(written).name]  # no leftovers


@pytest.mark.parametrize("name", COMMANDS)
def test_a_symbolic_link_is_refused_and_what_it_points_to_left_alone(journal, name, tmp_path):
    env, project, trial = journal
    precious = tmp_path / "precious"
    precious.write_bytes(b"not to be overwritten")
    target = _target(name, tmp_path / "out")
    target.parent.mkdir()
    target.symlink_to(precious)
    argv, _ = _command(name, trial, target)
    _one_line_error(run_kleio(*argv, env=env, cwd=project), "is a symbolic link")
    assert target.is_symlink() and precious.read_bytes() == b"not to be overwritten"


@pytest.mark.parametrize("name", COMMANDS)
def test_a_fifo_is_written_through_not_replaced(journal, name, tmp_path):
    env, project, trial = journal
    target = _target(name, tmp_path)
    os.mkfifo(target)
    read = []
    reader = threading.Thread(target=lambda: read.append(target.read_bytes()), daemon=True)
    reader.start()
    argv, _ = _command(name, trial, target)
    result = run_kleio(*argv, env=env, cwd=project)
    reader.join(60)
    assert result.returncode == 0, text(result.stderr)
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert read and _looks_written(name, read[0])


@pytest.mark.parametrize("name", COMMANDS)
def test_a_folder_is_refused(journal, name, tmp_path):
    env, project, trial = journal
    target = _target(name, tmp_path)
    target.mkdir()
    argv, _ = _command(name, trial, target)
    _one_line_error(run_kleio(*argv, env=env, cwd=project), "is a folder")
    assert target.is_dir() and not any(target.iterdir())


@pytest.mark.parametrize("name", COMMANDS)
def test_a_dash_is_standard_output(journal, name):
    env, project, trial = journal
    argv, _ = _command(name, trial, "-")
    result = run_kleio(*argv, env=env, cwd=project)
    assert result.returncode == 0, text(result.stderr)
    assert _looks_written(name, result.stdout)
    assert "standard output" in text(result.stderr)


def test_a_terminal_is_written_through_and_stays_a_device(journal):
    """A character device (here a terminal, as ``/dev/null`` or ``/dev/tty`` are): written
    to, never replaced; a plot, which names its format by its suffix, refuses it."""
    env, project, trial = journal
    controller, device = os.openpty()
    path = os.ttyname(device)
    received = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        tty.setraw(device)  # bytes as they are, no echo
        result = run_kleio("export", "-o", path, env=env, cwd=project)
        assert result.returncode == 0, text(result.stderr)
        assert stat.S_ISCHR(os.lstat(path).st_mode)
        plotted = run_kleio("plot", trial, "--y", "loss", "-o", path, env=env, cwd=project)
        _one_line_error(plotted, "name a .png, .svg or .pdf file")
        assert stat.S_ISCHR(os.lstat(path).st_mode)
    finally:
        os.close(device)
        reader.join(10)
        os.close(controller)
    assert len(received) > 1024


def test_export_of_an_archive_to_a_fifo_reads_back(journal, tmp_path):
    """What went through the FIFO is the whole archive (a reader may stream it)."""
    env, project, _ = journal
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    read = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert run_kleio("export", "-o", str(fifo), env=env, cwd=project).returncode == 0
    reader.join(60)
    copy = tmp_path / "copy.tar"
    copy.write_bytes(read[0])
    with tarfile.open(copy) as archive:
        assert archive.getnames()[-1] == "end.json"
