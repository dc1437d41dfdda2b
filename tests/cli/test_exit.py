"""How ``kleio`` leaves once its command is done: every exit function but pymongo's."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.helpers import text

#: ``kleio ARGV`` in-process through the console script's function, with an exit function
#: of its own registered, and the function that stops pymongo's monitors replaced by one
#: that says it was called (pymongo's exit function looks it up by name when it runs).
_ENTRY = textwrap.dedent(
    """
    import atexit, sys
    import pymongo.synchronous.monitor as monitor
    from kleio.cli.main import entry

    monitor._shutdown_monitors = lambda: print("pymongo's exit function ran", flush=True)
    atexit.register(lambda: print("our exit function ran", flush=True))
    sys.argv = ["kleio", *sys.argv[1:]]
    entry()
    """
)


def _entry_under_mongodb(env, wire_server, before: str = "") -> list[str]:
    env.update(KLEIO_DB_ADDRESS=wire_server.uri, KLEIO_DB_NAME="cli_exit")
    result = subprocess.run(
        [sys.executable, "-c", before + _ENTRY, "ls", "--json"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, text(result.stderr)
    return text(result.stdout).splitlines()


def test_a_mongodb_command_runs_every_exit_function_but_pymongos(env, wire_server):
    assert _entry_under_mongodb(env, wire_server) == ["[]", "our exit function ran"]


def test_pymongos_exit_function_would_run_were_it_not_taken_off(env, wire_server):
    """The check above sees pymongo's exit function when it runs (the name Kleio takes
    off is the one this version of pymongo registers)."""
    keep_it = "import kleio.cli.main; kleio.cli.main._unregister_pymongos_exit = lambda: None\n"
    assert _entry_under_mongodb(env, wire_server, keep_it) == [
        "[]",
        "our exit function ran",
        "pymongo's exit function ran",
    ]


def test_a_command_without_pymongo_runs_its_exit_functions(env):
    code = (
        "import atexit, sys; from kleio.cli.main import entry; "
        "atexit.register(lambda: print('our exit function ran', flush=True)); "
        "sys.argv = ['kleio', 'ls', '--json']; entry()"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stdout).splitlines() == ["[]", "our exit function ran"]
