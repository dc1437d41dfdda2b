"""One grammar across the commands that read: the same words mean the same thing.

Selection, conditions, sorting and output options are shared by every reader; a table
of commands checks each word on each command that takes it (``stats --sort -loss`` once
was ignored while ``ls`` sorted in descending order; ``stats --where 'loss<0.02'`` was
refused while ``ls`` took it; ``--json`` was unrecognized by ``compare`` and ``stats``).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import commit, write_script
from tests.helpers import invoke, text, trial_id_in

SWEEP = """\
import argparse
from kleio.client.logger import kleio_logger as log
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
args = parser.parse_args()
for epoch in range(1, 4):
    log.log_statistic(epoch=epoch, loss=args.lr / epoch)
"""


@pytest.fixture
def sweep(kleio, project, env):
    write_script(project, "sweep.py", SWEEP)
    commit(project)
    ids = [trial_id_in(kleio("python", "sweep.py", "--lr", lr).stderr) for lr in ("0.1", "0.2")]

    def read(*args: str):
        return invoke(*args, env=env, cwd=project)

    return ids, read


def _json(result):
    assert result.returncode == 0, text(result.stderr)
    return json.loads(result.stdout)


#: command -> (words before the shared ones, the key its rows are told apart by)
READERS = {
    "ls": ([], "id"),
    "compare": ([], "id"),
    "stats": (["{first}"], "epoch"),
}


@pytest.mark.parametrize("command", list(READERS))
def test_json_is_format_json_on_every_reader(sweep, command):
    ids, read = sweep
    before = [word.format(first=ids[0][:7]) for word in READERS[command][0]]
    assert _json(read(command, *before, "--json")) == _json(
        read(command, *before, "--format", "json")
    )


@pytest.mark.parametrize("command", list(READERS))
def test_a_minus_sorts_in_descending_order_on_every_reader(sweep, command):
    ids, read = sweep
    before = [word.format(first=ids[0][:7]) for word in READERS[command][0]]
    key = "loss" if command == "stats" else "lr"
    ascending = _json(read(command, *before, "--sort", key, "--json"))
    descending = _json(read(command, *before, "--sort", f"-{key}", "--json"))
    assert descending == list(reversed(ascending)) and ascending != descending


@pytest.mark.parametrize("command", list(READERS))
def test_conditions_take_every_operator_on_every_reader(sweep, command):
    ids, read = sweep
    before = [word.format(first=ids[0][:7]) for word in READERS[command][0]]
    key, low = ("loss", "0.06") if command == "stats" else ("lr", "0.15")
    kept = _json(read(command, *before, "--where", f"{key}<{low}", "--json"))
    everything = _json(read(command, *before, "--json"))
    assert 0 < len(kept) < len(everything)


@pytest.mark.parametrize("command", ["compare", "stats"])
def test_a_key_nothing_holds_is_an_error_naming_those_that_exist(sweep, command):
    ids, read = sweep
    before = [ids[0][:7]] if command == "stats" else []
    result = read(command, *before, "--keys", "nokey", "--json")
    errors = text(result.stderr)
    assert result.returncode == 2 and errors.count("\n") == 1, errors
    assert "'nokey'" in errors and "loss" in errors


def test_a_configuration_key_named_in_keys_is_one_column(sweep):
    _, read = sweep
    rows = _json(read("compare", "--keys", "lr,loss:min", "--json"))
    assert all(list(row).count("lr") == 1 for row in rows)
    shown = text(read("compare", "--keys", "lr,loss:min").stdout)
    assert shown.splitlines()[0].split().count("lr") == 1, shown
