"""What Kleio writes on disk is for its owner only: on a shared machine nobody else reads
the diffs, outputs and command lines of the journal."""

from __future__ import annotations

import json
import os
import stat

from tests.conftest import write_script
from tests.helpers import text


def mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_run_creates_its_home_journal_and_wal_for_the_owner_only(kleio, project, home):
    write_script(
        project,
        "modes.py",
        """\
        import json, os, stat
        from kleio.client.logger import kleio_logger
        kleio_logger.log_statistic(epoch=1)
        kleio_logger.flush()
        home = os.environ["KLEIO_HOME"]
        modes = {home: stat.S_IMODE(os.stat(home).st_mode)}
        for root, folders, files in os.walk(home):
            for name in folders + files:
                path = os.path.join(root, name)
                modes[path] = stat.S_IMODE(os.stat(path).st_mode)
        print(json.dumps(modes))
        """,
    )
    result = kleio("python", "modes.py")  # kleio holds the journal open: its WAL exists
    assert result.returncode == 0, text(result.stderr)
    modes = json.loads(text(result.stdout).splitlines()[-1])
    names = {os.path.basename(path) for path in modes}
    assert names >= {"kleio-home", "kleio.db", "kleio.db-wal", "kleio.db-shm", "cache"}
    assert modes == {path: 0o700 if os.path.isdir(path) else 0o600 for path in modes}, (
        "readable by others"
    )
    assert mode(home / "kleio.db") == 0o600


def test_existing_files_keep_their_permissions(kleio, home):
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    assert kleio("python", "train.py").returncode == 0
    (home / "kleio.db").chmod(0o644)
    assert kleio("python", "train.py", "--lr", "1").returncode == 0
    assert (mode(home), mode(home / "kleio.db")) == (0o755, 0o644)
