"""Properties, checked on generated inputs (hypothesis).

* Command lines: re-formatting a parsed command line gives it back, quoted as shlex
  quotes it, and changing options for a branch (``with_options``) changes exactly those
  keys of the configuration, once.
* Trial ids: stable under the key order of every mapping, changed by any leaf or by the
  order of the command line.
* Statistics: every value ``log_statistic`` accepts comes back from a store as it was
  journalled, on SQLite and on MongoDB (mongomock); and a page of statistics read back
  is printed as JSON, page at once, exactly as row by row.
"""

from __future__ import annotations

import math
import shlex
import tempfile
import uuid
from pathlib import Path
from typing import Any

import mongomock
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import from_dtype

from kleio.client.values import checked_values
from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.core.model.commandline import (
    CONFIG_SUFFIXES,
    as_assignment,
    configuration_of,
    option_key,
    shell_join,
    split_command,
    typed,
    with_options,
)
from kleio.core.model.trial import TrialSpec
from kleio.core.reading.strict_json import ROW_SEPARATOR, row_encoder, rows_encoder
from kleio.store.base import Event
from kleio.store.keys import event_key
from kleio.store.mongodb import MongoStore
from kleio.store.sqlite import SQLiteStore
from tests.conftest import examples

# -- command lines -----------------------------------------------------------------------
#
# What is generated, and what is left out so that each property is well-defined:
#
# * Option names are ``-`` or ``--`` and a key starting with a letter, without ``=``:
#   ``-k`` and ``--k`` share the key ``k`` (a repeated option, on purpose). Keys never
#   start with ``_``, so no option collides with the ``_pos_N`` keys of positionals.
# * Words that are positionals or values of ``--name v1 v2`` (and the new values given to
#   ``with_options``) never start with ``-`` unless they are numbers (``-3``, ``-0.5``,
#   ``-1e-05``): ``--name -x`` is two options by the rules, so a value looking like an
#   option cannot be a value at all. ``--`` is never a value (it is the separator).
#   Nor are they Hydra-style assignments (``a=b``): those are parts of their own,
#   generated with keys starting with a capital (``Model.depth=3``), so that no
#   assignment shares its key with an option.
# * The value of ``--name=value`` and the words after ``--`` may be anything (a leading
#   ``-``, ``=``, ``--`` itself), since the rules never read them as options.
# * No word ends with ``.yaml``, ``.yml`` or ``.json``: such a word is replaced by the
#   content of the file it names when one exists, which makes the configuration depend on
#   the file system rather than on the command line.
# * Floats are finite: ``nan`` and ``inf`` are text, not numbers, for ``typed``.
# * The changes given to ``with_options`` have distinct keys (``--lr`` and ``-lr`` in
#   one call would be two changes of one key).

PROGRAMS = st.sampled_from(
    [
        ["python", "train.py"],
        ["python3", "-u", "train.py"],
        ["python", "-m", "pkg.train"],
        ["/usr/bin/python3.11", "-W", "error", "train.py"],
        ["./run.sh"],
    ]
)


def _not_a_config_file(text: str) -> bool:
    return not text.endswith(CONFIG_SUFFIXES)


KEYS = st.sampled_from(["a", "b", "lr", "n-layers", "x_y"]) | st.from_regex(
    r"[a-z][a-z0-9_-]{0,6}", fullmatch=True
)
NAMES = st.builds(lambda dashes, key: dashes + key, st.sampled_from(["-", "--"]), KEYS)
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
#: A positional word or an option's value (see above: no leading ``-`` but for numbers).
VALUES = st.one_of(
    NUMBERS,
    st.sampled_from(["true", "False", "0x1", "1e", "1_0", "a=b", "x.yaml.bak", " ", ""]),
    st.text(max_size=8).filter(lambda text: not text.startswith("-")),
).filter(lambda text: _not_a_config_file(text) and as_assignment(text) is None)
#: Hydra-style assignments (``Model.depth=3``, ``+Opt=1``, ``~Drop``).
ASSIGNMENT_KEYS = st.from_regex(r"[A-Z][a-z]{0,3}(\.[a-z]{1,3}){0,2}", fullmatch=True)
ASSIGNMENTS = st.one_of(
    st.builds(
        lambda prefix, key, value: f"{prefix}{key}={value}",
        st.sampled_from(["", "+", "++", "~"]),
        ASSIGNMENT_KEYS,
        VALUES,
    ),
    ASSIGNMENT_KEYS.map(lambda key: f"~{key}"),
)
#: The value of ``--name=value`` or a word after ``--``: anything.
ANY_WORDS = st.one_of(VALUES, NAMES, st.just("--"), st.text(max_size=8).filter(_not_a_config_file))

PARTS = st.one_of(
    VALUES.map(lambda word: [word]),  # a positional (or a value of the option before)
    st.builds(
        lambda name, values: [name, *values], NAMES, st.lists(VALUES, min_size=1, max_size=3)
    ),
    NAMES.map(lambda name: [name]),  # a flag (or an option whose values follow)
    st.builds(lambda name, value: [f"{name}={value}"], NAMES, ANY_WORDS),
    ASSIGNMENTS.map(lambda word: [word]),
)


@st.composite
def command_lines(draw) -> list[str]:
    argv = list(draw(PROGRAMS))
    for words in draw(st.lists(PARTS, max_size=8)):
        argv.extend(words)
    if draw(st.booleans()):
        argv.append("--")
        argv.extend(draw(st.lists(ANY_WORDS, max_size=3)))
    return argv


@st.composite
def command_lines_and_changes(draw) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A command line and option changes, some of options it has, some new."""
    argv = draw(command_lines())
    existing = [option.name for option in split_command(argv).options]
    names = st.sampled_from(existing) | NAMES if existing else NAMES
    changes = draw(
        st.lists(
            st.tuples(names, st.lists(VALUES, max_size=2)),
            max_size=4,
            unique_by=lambda change: option_key(change[0]),
        )
    )
    return argv, changes


def _occurrence(values: list[str]) -> Any:
    """What ``configuration_of`` makes of one occurrence of an option with ``values``."""
    if not values:
        return True
    return typed(values[0]) if len(values) == 1 else [typed(value) for value in values]


@settings(max_examples=examples(400))
@given(command_lines())
def test_a_parsed_command_line_formats_back_to_itself(argv):
    assert split_command(argv).words() == argv


@settings(max_examples=examples(300))
@given(command_lines())
def test_no_option_changes_leave_the_command_line_as_it_was(argv):
    assert with_options(argv, []) == argv


@settings(max_examples=examples(400))
@given(command_lines_and_changes())
def test_changed_options_change_those_keys_of_the_configuration_and_nothing_else(case):
    argv, changes = case
    before = configuration_of(split_command(argv))
    changed = with_options(argv, changes)
    expected = {**before, **{option_key(name): _occurrence(values) for name, values in changes}}
    assert configuration_of(split_command(changed)) == expected
    assert split_command(changed).prefix == split_command(argv).prefix


@settings(max_examples=examples(400))
@given(
    command_lines(),
    st.lists(ASSIGNMENTS, max_size=4, unique_by=lambda word: as_assignment(word).key),
)
def test_changed_assignments_change_those_keys_of_the_configuration_and_nothing_else(argv, words):
    # Keys that are prefixes of one another (``A`` and ``A.b``) would replace each other.
    keys = [as_assignment(word).path for word in words]
    assume(not any(a != b and a == b[: len(a)] for a in keys for b in keys))
    before = configuration_of(split_command(argv))
    changes = [as_assignment(word) for word in words]
    changed = with_options(argv, [], changes)
    configuration = configuration_of(split_command(changed))
    for change in changes:
        leaf = configuration
        for name in change.path:
            leaf = leaf[name]
        assert leaf == (None if change.value is None else typed(change.value))
    for key in set(before) - {change.path[0] for change in changes}:
        assert configuration[key] == before[key]
    assert split_command(changed).prefix == split_command(argv).prefix
    assert with_options(changed, [], changes) == changed


@settings(max_examples=examples(400))
@given(command_lines_and_changes())
def test_changing_options_twice_is_changing_them_once(case):
    argv, changes = case
    once = with_options(argv, changes)
    assert with_options(once, changes) == once


# -- trial ids ---------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
CONFIGURATIONS = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6)
COMMANDLINES = st.lists(st.text(max_size=6), max_size=6)


def _shuffled(value: Any, random) -> Any:
    """``value`` with every mapping rebuilt in another insertion order."""
    if isinstance(value, dict):
        keys = list(value)
        random.shuffle(keys)
        return {key: _shuffled(value[key], random) for key in keys}
    if isinstance(value, list):
        return [_shuffled(item, random) for item in value]
    return value


def _leaf_paths(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _leaf_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _leaf_paths(item, (*path, index))]
    return [path]


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    """A copy of ``value`` with the leaf at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {
            key: _replaced(item, rest, new) if key == head else item for key, item in value.items()
        }
    return [
        _replaced(item, rest, new) if index == head else item for index, item in enumerate(value)
    ]


def _leaf_at(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


@settings(max_examples=examples(300))
@given(
    st.text(max_size=6),
    COMMANDLINES,
    CONFIGURATIONS,
    CONFIGURATIONS,
    st.randoms(use_true_random=False),
)
def test_the_trial_id_does_not_depend_on_the_key_order_of_any_mapping(
    project, commandline, configuration, refers, random
):
    spec = TrialSpec(project, commandline, configuration, refers)
    reordered = TrialSpec(
        project, commandline, _shuffled(configuration, random), _shuffled(refers, random)
    )
    assert reordered.id == spec.id


@settings(max_examples=examples(300))
@given(st.text(max_size=6), COMMANDLINES, CONFIGURATIONS, st.data())
def test_changing_any_leaf_of_the_configuration_changes_the_trial_id(
    project, commandline, configuration, data
):
    paths = [path for path in _leaf_paths(configuration) if path]  # not the top mapping
    if not paths:
        configuration, paths = {"only": None}, [("only",)]
    path = data.draw(st.sampled_from(paths), label="path")
    old = _leaf_at(configuration, path)
    new = data.draw(
        JSON_SCALARS.filter(lambda value: not (type(value) is type(old) and value == old)),
        label="new leaf",
    )
    changed = _replaced(configuration, path, new)
    assert (
        TrialSpec(project, commandline, changed).id
        != TrialSpec(project, commandline, configuration).id
    )


@settings(max_examples=examples(200))
@given(
    st.text(max_size=6),
    st.lists(st.text(max_size=6), min_size=2, max_size=6).filter(lambda argv: len(set(argv)) > 1),
    CONFIGURATIONS,
    st.data(),
)
def test_another_order_of_the_command_line_is_another_trial(project, argv, configuration, data):
    reordered = data.draw(st.permutations(argv).filter(lambda words: words != argv))
    assert (
        TrialSpec(project, reordered, configuration).id
        != TrialSpec(project, argv, configuration).id
    )


# -- statistics --------------------------------------------------------------------------

INT64 = st.integers(-(2**63), 2**63 - 1)
#: Text of any characters but lone surrogates (hypothesis' default), control ones included.
TEXT = st.text(max_size=10)
STATISTIC_SCALARS = st.one_of(st.none(), st.booleans(), INT64, st.floats(), TEXT)
STATISTIC_VALUES = st.recursive(
    STATISTIC_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=15,
)
STATISTICS = st.dictionaries(TEXT, STATISTIC_VALUES, min_size=1, max_size=5)
#: Any str Python can hold, lone surrogates included (``st.text()`` leaves them out, even
#: with such an alphabet: hence a list of characters).
ANY_TEXT = st.lists(st.characters() | st.characters(categories=["Cs"]), min_size=1, max_size=6).map(
    "".join
)

NUMPY_DTYPES = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "<U6",
]  # fmt: skip


def _journalable(value: Any) -> bool:
    """uint64 values from 2**63 do not fit in 64 signed bits, and text with a lone
    surrogate is not Unicode: log_statistic refuses both (tested apart)."""
    if value.dtype.kind == "u":
        return value < 2**63
    if value.dtype.kind == "U":
        return not any(0xD800 <= ord(char) <= 0xDFFF for char in str(value))
    return True


NUMPY_SCALARS = st.one_of(
    *(from_dtype(np.dtype(name)).filter(_journalable) for name in NUMPY_DTYPES)
)
NUMPY_VALUES = NUMPY_SCALARS | NUMPY_SCALARS.map(np.array)  # scalars and 0-d arrays


def difference(stored: Any, expected: Any, where: str = "data") -> str | None:
    """Where ``stored`` is not ``expected`` (NaN equals NaN, -0.0 is not 0.0, and bool,
    int, float, str, list and dict stay what they were), or None when it is."""
    if expected is None or isinstance(expected, bool):
        same = stored is expected
    elif isinstance(expected, int):  # an int subclass (bson's Int64) is acceptable
        same = isinstance(stored, int) and not isinstance(stored, bool) and stored == expected
    elif isinstance(expected, float):
        same = type(stored) is float and (
            (math.isnan(stored) and math.isnan(expected))
            or (stored == expected and math.copysign(1, stored) == math.copysign(1, expected))
        )
    elif isinstance(expected, str):
        same = type(stored) is str and stored == expected
    elif isinstance(expected, list):
        if type(stored) is not list or len(stored) != len(expected):
            return f"{where}: {stored!r} is not {expected!r}"
        for index, (item, wanted) in enumerate(zip(stored, expected, strict=True)):
            found = difference(item, wanted, f"{where}[{index}]")
            if found:
                return found
        return None
    elif isinstance(expected, dict):
        if type(stored) is not dict or set(stored) != set(expected):
            return f"{where}: {stored!r} is not {expected!r}"
        for key, wanted in expected.items():
            found = difference(stored[key], wanted, f"{where}[{key!r}]")
            if found:
                return found
        return None
    else:
        return f"{where}: unexpected expected value {expected!r}"
    return None if same else f"{where}: {stored!r} ({type(stored).__name__}) is not {expected!r}"


@pytest.fixture(scope="module", params=["sqlite", "mongomock"])
def statistics_store(request):
    """One store for every example of a test; each example writes its own trial."""
    if request.param == "sqlite":
        folder = tempfile.TemporaryDirectory(prefix="kleio-properties-")
        store = SQLiteStore(Path(folder.name) / "kleio.db", catalogue=TRIAL_CATALOGUE)
    else:
        folder = None
        store = MongoStore(
            "mongodb://mongomock.invalid/",
            "kleio_properties",
            client=mongomock.MongoClient(),
            catalogue=TRIAL_CATALOGUE,
        )
    yield store
    store.close()
    if folder is not None:
        folder.cleanup()


def _unstorable(value: Any, key: bool = False) -> bool:
    """Text with a lone surrogate, or a key with NUL or starting with ``$`` (MongoDB before
    5.0 refuses it): what no database can hold."""
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value) or (
            key and ("\x00" in value or value.startswith("$"))
        )
    if isinstance(value, dict):
        return any(_unstorable(k, key=True) or _unstorable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_unstorable(item) for item in value)
    return False


def _accepted(values: dict) -> dict | None:
    """What log_statistic journals of ``values``, or None when it refuses them: then it
    must be with TypeError, and only for values no database can hold."""
    try:
        return checked_values(dict(values))
    except TypeError:
        assert _unstorable(values), f"refused without reason: {values!r}"
        return None


def _round_trip(store, values: dict) -> dict:
    trial = uuid.uuid4().hex
    store.append_events([Event(trial, "statistic", event_key(1.5, "w0", 0), 1.5, values)])
    [event] = store.read_events(trial, ["statistic"])
    return event.data


@settings(max_examples=examples(150), deadline=None)
@given(values=STATISTICS)
def test_statistics_come_back_from_the_store_as_they_were_journalled(statistics_store, values):
    checked = _accepted(values)
    if checked is not None:
        assert difference(_round_trip(statistics_store, checked), checked) is None


@settings(max_examples=examples(30), deadline=None)
@given(value=ANY_TEXT)
def test_any_str_log_statistic_accepts_comes_back_from_the_store(statistics_store, value):
    # Lone surrogates are what os.fsdecode and sys.argv make of a file name that is not
    # UTF-8: no database holds them, so log_statistic must refuse them at the call.
    checked = _accepted({"name": value})
    if checked is not None:
        assert difference(_round_trip(statistics_store, checked), checked) is None


def _python_type(value: Any) -> type:
    return {"b": bool, "i": int, "u": int, "f": float, "U": str}[value.dtype.kind]


@settings(max_examples=examples(300))
@given(NUMPY_VALUES)
def test_numpy_scalars_and_0d_arrays_become_the_equal_python_value(value):
    expected = value.item()
    checked = checked_values({"x": value, "nested": [value, {"y": value}]})
    assert type(expected) is _python_type(value)
    assert difference(checked, {"x": expected, "nested": [expected, {"y": expected}]}) is None


@settings(max_examples=examples(60), deadline=None)
@given(values=st.dictionaries(st.text("abxy", max_size=3), NUMPY_VALUES, min_size=1, max_size=4))
def test_numpy_statistics_come_back_from_the_store_as_python_values(statistics_store, values):
    checked = checked_values(dict(values))
    expected = {key: value.item() for key, value in values.items()}
    assert difference(checked, expected) is None
    assert difference(_round_trip(statistics_store, checked), expected) is None


# -- JSON of a page of statistics --------------------------------------------------------

#: Floats of every form: those orjson writes otherwise than repr (1e-05, 1e-07) most.
PRINTED_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-10, max_value=1e-3),
    st.floats(min_value=-1e-4, max_value=-1e-6),
    st.sampled_from([1e-05, 1.5e-05, 1e-07, 1e-10, 0.0001, 1e16, 1e22, -0.0, 10.00001]),
)
#: Keys and text that look like separators or like the rewritten floats.
PRINTED_TEXTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            '":',
            ',"',
            "},{",
            ":x",
            "done,",
            "a:",
            ",",
            "e-5",
            "0.00001",
            "é 日本",
            "a\\b",
            "[",
            "null",
        ]
    ),
)
PRINTED_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), PRINTED_FLOATS, PRINTED_TEXTS
)
PRINTED_VALUES = st.recursive(
    PRINTED_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PRINTED_TEXTS, inner, max_size=3),
    max_leaves=6,
)
PRINTED_NUMBERS = st.one_of(st.integers(-(2**63), 2**63 - 1), PRINTED_FLOATS)


FLAT_ROWS = st.dictionaries(PRINTED_TEXTS, PRINTED_TEXTS | PRINTED_NUMBERS, max_size=3)
NUMERIC_ROWS = st.dictionaries(
    st.sampled_from(["step", "loss", "lr", "e"]), PRINTED_NUMBERS, max_size=4
)


@settings(max_examples=examples(600))
@given(
    st.one_of(
        st.lists(NUMERIC_ROWS, min_size=1, max_size=12),  # the usual page
        st.lists(FLAT_ROWS, min_size=1, max_size=12),
        st.lists(
            NUMERIC_ROWS | st.dictionaries(PRINTED_TEXTS, PRINTED_VALUES, max_size=4),
            min_size=1,
            max_size=12,
        ),
    )
)
def test_a_page_of_statistics_is_printed_as_json_exactly_as_row_by_row(rows):
    by_row = ROW_SEPARATOR.join(map(row_encoder(), rows))
    assert rows_encoder()(rows) == by_row


def test_a_page_of_numbers_is_printed_at_once_small_floats_included(monkeypatch):
    import kleio.core.reading.strict_json as strict_json

    rows = [
        {"step": step, "loss": 1.0 / (step + 1), "tiny": -1.0 / (step + 1) ** 2, "lr": 3e-05}
        for step in range(0, 200_000, 1000)
    ]
    by_row = ROW_SEPARATOR.join(map(row_encoder(), rows))
    assert "e-05" in by_row and "e-07" in by_row and "e-10" in by_row
    monkeypatch.setattr(strict_json, "row_encoder", lambda: None)  # no row by row
    assert rows_encoder()(rows) == by_row


@given(st.lists(st.text(alphabet="ab -='\"$é\t/.", max_size=5), max_size=6))
def test_a_command_line_is_quoted_as_shlex_quotes_it(words):
    assert shell_join(words) == shlex.join(words)
