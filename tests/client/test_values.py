"""What log_statistic accepts, checked at the call (outside Kleio: nothing is written)."""

from __future__ import annotations

import math

import numpy
import pytest

from kleio.client.logger import KleioLogger
from kleio.client.values import MAX_NESTING, MAX_STATISTIC_BYTES


@pytest.fixture
def logger(monkeypatch, tmp_path):
    monkeypatch.delenv("KLEIO_TRIAL_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    return KleioLogger()


def test_positional_statistics_are_refused(logger):
    with pytest.raises(TypeError, match="statistics must be named"):
        logger.log_statistic(0.5)
    with pytest.raises(TypeError, match="statistics must be named"):
        logger.log_statistic(0.5, loss=0.5)


@pytest.mark.parametrize(
    "value",
    [
        1,
        -(2**63),
        2**63 - 1,
        0.5,
        math.nan,
        math.inf,
        -math.inf,
        "text",
        True,
        None,
        [1, "a", None, [2.5]],
        {"nested": {"list": [True, None]}},
        (1, 2),
    ],
)
def test_journalable_values_are_accepted(logger, value, capsys):
    logger.log_statistic(value=value)
    assert capsys.readouterr().out.startswith("value=")


@pytest.mark.parametrize(
    "value, expected",
    [
        (numpy.float32(1.5), 1.5),
        (numpy.int64(7), 7),
        (numpy.bool_(True), True),
        (numpy.array(3.25), 3.25),
        (numpy.float64("nan"), math.nan),
        ([numpy.int8(2)], [2]),
    ],
)
def test_numpy_scalars_and_0d_arrays_become_python_values(logger, value, expected, capsys):
    logger.log_statistic(value=value)
    printed = capsys.readouterr().out.strip()
    assert printed == f"value={expected!r}"


@pytest.mark.parametrize(
    "value",
    [
        object(),
        numpy.zeros(3),
        {1: "int key"},
        [set()],
        b"bytes",
        2**63,
        complex(1, 2),
    ],
)
def test_other_values_raise_type_error_naming_the_key(logger, value):
    with pytest.raises(TypeError, match="'bad'"):
        logger.log_statistic(good=1, bad=value)


def nested(depth: int, inner: object = 1) -> object:
    """A value nested ``depth`` levels deep: dicts and lists in turn."""
    for level in range(depth):
        inner = {"next": inner} if level % 2 else [inner]
    return inner


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 500, 1000, 100_000])
def test_values_nested_deeper_than_any_backend_stores_raise_type_error(logger, depth):
    with pytest.raises(TypeError, match=r"'deep'.*nested more than"):
        logger.log_statistic(good=1, deep=nested(depth))


def test_values_nested_to_the_limit_are_accepted(logger, capsys):
    logger.log_statistic(deep=nested(MAX_NESTING))
    assert capsys.readouterr().out.startswith("deep=")


@pytest.mark.parametrize(
    "values",
    [
        {"big": "x" * (MAX_STATISTIC_BYTES + 1)},
        {"big": ["é" * (MAX_STATISTIC_BYTES // 2)]},
        {"big": [b for b in range(MAX_STATISTIC_BYTES // 8)]},
        {f"k{i}": "x" * 100_000 for i in range(MAX_STATISTIC_BYTES // 100_000 + 1)},
    ],
    ids=["one string", "non-ascii in a list", "a long list", "many keys"],
)
def test_a_statistic_larger_than_a_mongodb_document_raises_type_error(logger, values):
    with pytest.raises(TypeError, match=r"statistic '\w+'.* MB"):
        logger.log_statistic(**values)


@pytest.mark.parametrize(
    "values",
    [{"$where": 1}, {"ok": {"$gt": 1}}, {"ok": [{"$inc": 2}]}],
    ids=["top level", "nested", "in a list"],
)
def test_keys_starting_with_a_dollar_raise_type_error(logger, values):
    with pytest.raises(TypeError, match=r"\$"):
        logger.log_statistic(**values)


def test_artifact_metadata_follows_the_same_rules(logger):
    with pytest.raises(TypeError, match="'epoch'"):
        logger.log_artifact("weights", b"abc", epoch=nested(1000))


def test_outside_kleio_statistics_are_printed_and_nothing_is_saved(logger, capsys, tmp_path):
    logger.log_statistic(epoch=1, loss=0.25)
    logger.log_artifact("weights", b"abc", epoch=1)
    logger.log_artifact("weights", b"abc", epoch=2)
    captured = capsys.readouterr()
    assert captured.out == "epoch=1 loss=0.25\n"
    assert captured.err.count("artifacts are not saved") == 1  # warned once
    assert logger.load_statistics() == [] and logger.load_artifacts("weights") == []
    assert logger.flush() is True
    assert list(tmp_path.iterdir()) == []


def test_artifacts_must_be_binary(logger, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("text")
    with open(path) as text_file, pytest.raises(TypeError, match="'rb'"):
        logger.log_artifact("notes", text_file)
    with pytest.raises(TypeError, match="file name"):
        logger.log_artifact(b"name", b"data")
    with pytest.raises(TypeError, match="not int"):
        logger.log_artifact("number", 42)


def test_importing_the_logger_opens_nothing():
    import subprocess
    import sys

    code = (
        "import sys; from kleio.client.logger import kleio_logger; "
        "heavy = [m for m in ('pymongo', 'sqlite3', 'git', 'psutil', 'yaml', 'kleio.store.base')"
        " if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
