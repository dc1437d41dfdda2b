"""The configuration hook inside a script, run by hand as Kleio runs it: the user's own
``sitecustomize`` still runs (or fails as it would), and the pipe gets one record per
outermost parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kleio.core.capture.hook import HOOK_FOLDER, HookChannel

SHOW = (
    "import sys, os; "
    "print(sys.modules.get('sitecustomize').__file__ if 'sitecustomize' in sys.modules "
    "else None, os.environ.get('PYTHONPATH'), [p for p in sys.path if 'startup' in p])"
)


def run(
    code: str, pythonpath: str | None, tmp_path: Path
) -> tuple[subprocess.CompletedProcess, list]:
    records = []
    channel = HookChannel(records.append)
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        environ["PYTHONPATH"] = pythonpath
    environ.update(channel.environment(environ))
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=environ,
        pass_fds=channel.fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    channel.started()
    stdout, stderr = process.communicate(timeout=60)
    channel.close()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), records


def test_the_users_sitecustomize_still_runs_and_is_the_one_the_script_sees(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import sys\nprint('own site', file=sys.stderr)\n")
    result, _ = run(SHOW, str(own), tmp_path)
    assert result.stderr.decode() == "own site\n"
    assert result.stdout.decode() == f"{own / 'sitecustomize.py'} {own} []\n"


def test_without_a_sitecustomize_of_the_users_the_path_is_as_it_was(tmp_path):
    result, _ = run(SHOW, None, tmp_path)
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout.decode().endswith(" None []\n")
    assert HOOK_FOLDER not in result.stdout.decode().split(" ", 1)[1]


def test_an_error_in_the_users_sitecustomize_is_reported_as_python_reports_it(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("raise ValueError('broken site')\n")
    result, _ = run("print('ran')", str(own), tmp_path)
    bare = subprocess.run(
        [sys.executable, "-c", "print('ran')"],
        env={**os.environ, "PYTHONPATH": str(own)},
        capture_output=True,
        cwd=tmp_path,
    )
    assert result.stdout == bare.stdout == b"ran\n"
    assert result.stderr == bare.stderr
    assert b"broken site" in bare.stderr


def test_one_record_per_outermost_parse_and_none_from_a_forked_worker(tmp_path):
    code = (
        "import argparse, os\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--n', type=int, default=1)\n"
        "p.parse_args([])\n"
        "p.parse_intermixed_args(['--n', '2'])\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    p.parse_args(['--n', '3']); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    result, records = run(code, None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert [(r["values"], r["typed"]) for r in records] == [({"n": 1}, []), ({"n": 2}, ["n"])]
    assert json.loads(json.dumps(records))  # plain JSON


def test_values_keep_their_types_through_the_pipe(tmp_path):
    code = (
        "import argparse, enum, math, pathlib\n"
        "class Mode(enum.Enum):\n"
        "    FAST = 'fast'\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--nan', type=float, default=math.nan)\n"
        "p.add_argument('--big', type=int, default=10**30)\n"
        "p.add_argument('--name', default='été \"quoted\"\\n')\n"
        "p.add_argument('--path', type=pathlib.Path, default=pathlib.Path('/data/x'))\n"
        "p.add_argument('--mode', type=Mode, default=Mode.FAST)\n"
        "p.add_argument('--sizes', type=int, nargs='+', default=(1, 2))\n"
        "p.add_argument('--none')\n"
        "p.parse_args([])\n"
    )
    result, records = run(code, None, tmp_path)
    assert result.returncode == 0, result.stderr
    (record,) = records
    values = record["values"]
    assert values["nan"] != values["nan"]  # NaN
    assert values["big"] == 10**30 and values["name"] == 'été "quoted"\n'
    assert values["path"] == "/data/x" and values["mode"] == "FAST"
    assert values["sizes"] == [1, 2] and values["none"] is None


def test_the_hook_goes_to_python_commands_that_read_pythonpath_and_site():
    from kleio.core.capture.hook import hook_wanted

    assert hook_wanted(["python", "train.py"], {})
    assert hook_wanted(["python3.11", "-u", "-W", "error", "-m", "pkg.train"], {})
    assert hook_wanted(["./train.py", "--lr", "1"], {})
    assert not hook_wanted(["bash", "-c", "python train.py"], {})
    for flags in (["-I"], ["-E"], ["-S"], ["-uE"], ["-bIu"]):
        assert not hook_wanted(["python", *flags, "train.py"], {}), flags
    assert not hook_wanted(["python", "train.py"], {"KLEIO_HOOK": "0"})
    assert not hook_wanted(["python", "train.py"], {}, enabled=False)


def test_the_hook_buffers_stdout_only_where_kleio_made_it_unbuffered():
    from kleio.core.capture.hook import buffering_wanted

    assert buffering_wanted(["python", "train.py"], {})
    assert buffering_wanted(["python3", "-B", "-m", "pkg.train"], {})
    assert not buffering_wanted(["python", "-u", "train.py"], {})
    assert not buffering_wanted(["python", "-Bu", "train.py"], {})
    for chosen in ("", "1", "0"):  # the user's value stands, whatever it is
        assert not buffering_wanted(["python", "train.py"], {"PYTHONUNBUFFERED": chosen})
