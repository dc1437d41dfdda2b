"""The sweep grammar of ``kleio sweep``: what is swept, the values written, the order of
the commands, the escape, and a one-line error for every malformed or hostile word."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kleio.core.model.errors import KleioError
from kleio.core.model.sweep import (
    MAX_COMMANDS,
    Dimension,
    SweepError,
    count,
    expand,
    literal,
    substitute,
    swept,
)

PROGRAM = ["python", "train.py"]


def values_of(word: str, samples=None, seed=None) -> list[str]:
    """The values ``--x WORD`` sweeps."""
    commands = expand(["p", "--x", word], samples=samples, sample_seed=seed)
    return [command[-1] for command in commands]


def error(argv: list[str], samples=None) -> str:
    with pytest.raises(SweepError) as raised:
        expand(argv, samples=samples)
    message = str(raised.value)
    assert "\n" not in message
    return message


# -- what is swept ---------------------------------------------------------------------------
def test_an_option_value_joined_or_not_and_hydra_assignments_are_swept_in_command_order():
    argv = [*PROGRAM, "--lr", "[0.1,0.01]", "--bs=[16,32]", "model.depth=[2,4]", "+a=[x,y]"]
    dimensions = swept(argv)
    assert [(d.index, d.name, d.expression, d.kind) for d in dimensions] == [
        (3, "lr", "[0.1,0.01]", "list"),
        (4, "bs", "[16,32]", "list"),
        (5, "model.depth", "[2,4]", "list"),
        (6, "a", "[x,y]", "list"),
    ]
    commands = expand(argv)
    assert len(commands) == count(argv) == 16
    assert commands[0] == [*PROGRAM, "--lr", "0.1", "--bs=16", "model.depth=2", "+a=x"]
    assert commands[1] == [*PROGRAM, "--lr", "0.1", "--bs=16", "model.depth=2", "+a=y"]
    assert commands[-1] == [*PROGRAM, "--lr", "0.01", "--bs=32", "model.depth=4", "+a=y"]
    assert expand(["p", "++key=[1,2]"]) == [["p", "++key=1"], ["p", "++key=2"]]


def test_the_order_is_itertools_product_in_command_order():
    argv = ["p", "--a", "[1,2,3]", "b=range(2)", "--c", "[x,y]"]
    expected = [
        ["p", "--a", a, f"b={b}", "--c", c]
        for a, b, c in itertools.product(["1", "2", "3"], ["0", "1"], ["x", "y"])
    ]
    assert expand(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "-W", "[1,2]", "train.py", "--lr", "0.1"],  # the interpreter's option
        ["python", "[1,2]", "--lr", "0.1"],  # the script itself
        ["[1,2]", "--lr", "0.1"],  # the program
        ["p", "data/[1,2]", "[1,2]", "--lr", "0.1"],  # positionals
        ["p", "--lr", "0.1", "--", "--x", "[1,2]", "k=[1,2]"],  # after --
        ["p", "~k=[1,2]"],  # a Hydra deletion
        ["p", "--x", "relu(0.1)", "--y", "x[0]", "--z", " [1,2]"],  # not whole expressions
    ],
)
def test_what_is_never_swept_stays_exactly_as_given(argv):
    assert swept(argv) == []
    assert count(argv) == 1
    assert expand(argv) == [argv]
    assert literal(argv) == argv


def test_every_value_of_a_several_valued_option_may_be_swept():
    assert expand(["p", "--layers", "[1,2]", "64", "[a,b]"]) == [
        ["p", "--layers", v, "64", w] for v in ("1", "2") for w in ("a", "b")
    ]


# -- forms -------------------------------------------------------------------------------
def test_list_items_are_as_written_stripped_and_split_outside_quotes_and_brackets():
    assert values_of("[ 0.10 , 1e-3,abc ]") == ["0.10", "1e-3", "abc"]
    assert values_of("['a,b',\"c,d\",f(1,2),{x:1,y:2}]") == [
        "'a,b'",
        '"c,d"',
        "f(1,2)",
        "{x:1,y:2}",
    ]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("range(3)", range(3)),
        ("range(2,5)", range(2, 5)),
        ("range(10,0,-3)", range(10, 0, -3)),
        ("range(-5,5,4)", range(-5, 5, 4)),
        ("range(1_000,1_003)", range(1000, 1003)),
        ("range( 1 , 4 )", range(1, 4)),
    ],
)
def test_range_is_pythons(word, expected):
    assert values_of(word) == [str(i) for i in expected]


@pytest.mark.parametrize(
    ("word", "start", "stop", "n"),
    [("linspace(0,1,5)", 0, 1, 5), ("linspace(-1,1,3)", -1, 1, 3), ("linspace(2,3,1)", 2, 3, 1)],
)
def test_linspace_is_numpys(word, start, stop, n):
    assert [float(v) for v in values_of(word)] == np.linspace(start, stop, n).tolist()


def test_computed_floats_are_written_without_float_noise():
    assert values_of("linspace(0,0.3,4)") == ["0.0", "0.1", "0.2", "0.3"]
    assert values_of("linspace(0,1,11)")[3] == "0.3"
    assert values_of("logspace(-3,-1,3)") == ["0.001", "0.01", "0.1"]
    assert values_of("logspace(0,2,3)") == ["1.0", "10.0", "100.0"]
    assert values_of("linspace(1e-5,1e-4,2)") == ["1e-05", "0.0001"]
    assert values_of("logspace(-1,1,5)") == [
        repr(float(f"{v:.15g}")) for v in np.logspace(-1, 1, 5)
    ]


def test_random_forms_draw_their_distribution_and_expose_it():
    argv = ["p", "--lr", "loguniform(1e-4,0.1)", "--d", "uniform(-1,1)", "--n", "randint(1,3)"]
    argv += ["--act", "choice(relu,tanh,'a,b')"]
    assert [d.distribution for d in swept(argv)] == [
        ("loguniform", 0.0001, 0.1),
        ("uniform", -1.0, 1.0),
        ("randint", 1, 3),
        ("choice", "relu", "tanh", "'a,b'"),
    ]
    assert all(d.random and d.size is None and d.values is None for d in swept(argv))
    commands = expand(argv, samples=500, sample_seed=7)
    assert len(commands) == count(argv, samples=500) == 500
    lrs = [float(c[2]) for c in commands]
    assert all(1e-4 <= lr <= 0.1 for lr in lrs)
    assert sum(lr < 1e-3 for lr in lrs) > 100  # a third of the decades: log-uniform
    assert all(-1 <= float(c[4]) <= 1 for c in commands)
    assert {c[6] for c in commands} == {"1", "2", "3"}  # randint includes its high end
    assert {c[8] for c in commands} == {"relu", "tanh", "'a,b'"}


def test_random_draws_are_the_same_for_a_seed_on_any_python():
    """Drawn from getrandbits and random() alone: these exact values for seed 0."""
    argv = ["p", "--lr", "loguniform(1e-4,0.1)", "--n", "randint(1,100)", "--c", "choice(a,b,c)"]
    assert expand(argv, samples=3, sample_seed=0) == [
        ["p", "--lr", "0.0341402", "--n", "98", "--c", "b"],
        ["p", "--lr", "0.000132267", "--n", "66", "--c", "b"],
        ["p", "--lr", "0.00163984", "--n", "39", "--c", "b"],
    ]
    assert expand(argv, samples=3, sample_seed=1) != expand(argv, samples=3, sample_seed=0)


def test_grid_times_random_points_each_grid_combination_taking_the_same_points():
    argv = ["p", "--a", "[1,2]", "--lr", "uniform(0,1)", "--b", "[x,y]", "--n", "randint(1,9)"]
    commands = expand(argv, samples=3, sample_seed=1)
    assert len(commands) == count(argv, samples=3) == 12
    points = [(c[4], c[8]) for c in commands]
    assert [c[2] for c in commands] == ["1"] * 6 + ["2"] * 6
    assert [c[6] for c in commands] == ["x", "y"] * 6
    assert points[:6] == points[6:]  # the same points for a=1 and a=2
    assert points[0] == points[1] != points[2]  # b varies faster than the points


def test_dimension_values_of_a_huge_range_are_lazy_and_counted_at_once():
    argv = ["p", "--a", "range(10**12)", "--b", "linspace(0,1,1_000_001)", "c=range(1,10**18,7)"]
    started = time.monotonic()
    assert count(argv) == 10**12 * 1_000_001 * len(range(1, 10**18, 7))
    (a, b, c) = swept(argv)
    assert a.size == 10**12 and a.values[-1] == str(10**12 - 1) and a.values[5] == "5"
    assert b.values[:3] == ["0.0", "1e-06", "2e-06"] and b.values[-1] == "1.0"
    assert c.values[-1] == str(range(1, 10**18, 7)[-1])
    assert time.monotonic() - started < 0.5
    with pytest.raises(SweepError, match=r"over the limit of 100,000"):
        expand(argv)


def test_expand_refuses_a_total_above_its_limit_before_building_anything():
    argv = ["p", "--a", "range(1000)", "--b", "range(1000)"]
    assert count(argv) == 10**6 > MAX_COMMANDS
    message = error(argv)
    assert "1,000,000 commands, over the limit of 100,000" in message
    with pytest.raises(SweepError, match="over the limit of 10"):
        expand(["p", "--a", "range(11)"], limit=10)
    assert len(expand(["p", "--a", "range(11)"], limit=11)) == 11
    assert len(expand(["p", "--a", "range(150000)"], limit=None)) == 150000


# -- the escape ---------------------------------------------------------------------------
def test_a_backslash_before_what_would_be_swept_keeps_it_literal():
    argv = ["p", "--layers", "\\[64,64]", "--f=\\range(3)", "cfg=\\[a,b]", "--g", "\\\\[1,2]"]
    assert swept(argv) == []
    expected = ["p", "--layers", "[64,64]", "--f=range(3)", "cfg=[a,b]", "--g", "\\[1,2]"]
    assert literal(argv) == expected
    assert expand(argv) == [expected]
    assert expand([*argv, "--lr", "[1,2]"]) == [[*expected, "--lr", v] for v in ("1", "2")]


def test_a_backslash_before_anything_else_stays():
    argv = ["p", "\\[x]", "--sep", "\\t", "--re", "\\w(\\d+)", "--path", "C:\\data"]
    assert literal(argv) == argv
    assert expand(argv) == [argv]


def test_the_escape_keeps_a_lists_items_literal():
    assert values_of("[\\[64,64],\\[128,128]]") == ["[64,64]", "[128,128]"]
    assert values_of("[\\range(3),x]") == ["range(3)", "x"]


def test_substitute_puts_given_values_at_the_swept_words():
    argv = ["p", "--lr", "loguniform(1e-4,0.1)", "--n=randint(1,5)", "k=[a,b]", "--x", "\\[1]"]
    assert [d.index for d in swept(argv)] == [2, 3, 4]
    assert substitute(argv, {2: 0.30000000000000004, 3: 4, 4: "b"}) == [
        "p",
        "--lr",
        "0.3",
        "--n=4",
        "k=b",
        "--x",
        "[1]",
    ]
    with pytest.raises(ValueError, match=r"no value for \[4\]"):
        substitute(argv, {2: "1", 3: "2"})
    with pytest.raises(ValueError, match=r"not swept \[1\]"):
        substitute(argv, {1: "x", 2: "1", 3: "2", 4: "a"})


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--lr", "[0.1,0.2"], "--lr '[0.1,0.2': no ']' closes the list at character 1"),
        (["--lr=[0.1,0.2"], "'--lr=[0.1,0.2': no ']' closes the list at character 6"),
        (["--lr", "[0.1,"], "at character 1; quote the expression: a space splits a word"),
        (["--x", "linspace(1,2)"], "linspace takes (start,stop,count), not (1,2) at character 10"),
        (["--x", "logspace(1,2,3,4)"], "logspace takes (start,stop,count), not (1,2,3,4)"),
        (["--x", "range(a)"], "range takes integers, not 'a' at character 7"),
        (["--x", "range(1.5)"], "range takes integers, not '1.5'"),
        (["--x", "range()"], "range takes (stop), (start,stop) or (start,stop,step), not ()"),
        (["--x", "range(0)"], "range(0) gives no value at character 1"),
        (["--x", "range(5,1)"], "range(5,1) gives no value"),
        (["--x", "range(1,10,0)"], "range's step is 0 at character 12"),
        (["--x", "range(10**19)"], "10**19 is beyond 10**18"),
        (["--x", "range(9**99999999)"], "9**99999999 is beyond 10**18"),
        (["--x", "range(" + "9" * 5000 + ")"], "is beyond 10**18 at character 7"),
        (["--x", "linspace(0,1,0)"], "linspace(0,1,0) gives no value"),
        (["--x", "linspace(1,1,3)"], "linspace(1,1,3) gives 3 times the same value"),
        (["--x", "linspace(0,inf,3)"], "linspace takes numbers, not 'inf'"),
        (["--x", "logspace(0,400,3)"], "10**400 is out of the floating-point range"),
        (["--x", "range(3)x"], "text after range(...)'s ')' at character 9"),
        (["--x", "[1,2]]"], "text after the list's ']' at character 6"),
        (["--x", "[1,2)"], "')' closes nothing at character 5"),
        (["--x", "[a,(b]"], "']' closes the '(' opened at character 4"),
        (["--x", "[a,'b]"], "no ' closes the quote at character 4"),
        (["--x", "[]"], "an empty list sweeps nothing"),
        (["--x", "[1,,2]"], "an empty item at character 4"),
        (["--x", "[1,2,]"], "an empty item at character 6"),
        (["--x", "[64]"], "a list of one value sweeps nothing at character 1; write 64"),
        (["--x", "[64,64]"], "64 is given twice at character 5; \\[ before the list"),
        (["--x", "[[1,2],[3,4]]"], "a list inside a list at character 2"),
        (["--x", "[1,range(3)]"], "range( inside a list: sweeps do not nest at character 4"),
        (["--x", "choice(a,uniform(0,1))"], "uniform( inside a list: sweeps do not nest"),
        (["--x", "arange(5)"], "arange( is no sweep form at character 1; did you mean range("),
        (["--x", "linspce(0,1,5)"], "did you mean linspace("),
        (["--x", "Range(3)"], "did you mean range("),
        (["k=logunif(1,2)"], "'k=logunif(1,2)': logunif( is no sweep form at character 3"),
        (["--x", "[1,rang(3)]"], "rang( is no sweep form at character 4"),
    ],
)
def test_a_malformed_expression_is_one_line_naming_the_word_and_where(argv, expected):
    assert expected in error(["p", *argv], samples=None)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("loguniform(0,1)", "loguniform(0,1) needs 0 < low at character 12"),
        ("loguniform(-1,1)", "needs 0 < low"),
        ("uniform(2,1)", "uniform(2,1) needs low < high at character 1"),
        ("uniform(1,1)", "needs low < high"),
        ("randint(3,1)", "randint(3,1) needs low < high"),
        ("randint(1,2.5)", "randint takes integers, not '2.5'"),
        ("uniform(-1e308,1e308)", "is wider than the floating-point range"),
        ("uniform(0)", "uniform takes (low,high), not (0)"),
        ("choice(a)", "a choice of one value draws nothing"),
        ("choice(a,b,a)", "a is given twice"),
        ("choice(a,b", "no ')' closes choice( at character 7"),
    ],
)
def test_a_malformed_random_form_is_one_line(word, expected):
    assert expected in error(["p", "--x", word], samples=3)


def test_random_forms_need_samples_and_samples_need_a_random_form():
    assert error(["p", "--lr", "uniform(0,1)"]) == (
        "--lr 'uniform(0,1)': uniform( draws random values: give --samples N"
    )
    with pytest.raises(SweepError, match="give --samples N"):
        count(["p", "--lr", "uniform(0,1)"])
    assert "the command has none" in error(["p", "--lr", "[1,2]"], samples=5)
    for samples in (0, -1, 1.5, True):
        assert "--samples must be a whole number of at least 1" in error(
            ["p", "--lr", "uniform(0,1)"], samples=samples
        )


def test_a_sweep_error_is_a_kleio_error_and_a_hostile_word_is_shown_short():
    assert issubclass(SweepError, KleioError)
    started = time.monotonic()
    for word in ["[" * 200_000, "[" + "1," * 200_000, "range(" + "(" * 200_000]:
        message = error(["p", "--x", word])
        assert len(message) < 300
    assert "no ']' closes the '[' at character 200000" in error(["p", "--x", "[" * 200_000])
    assert time.monotonic() - started < 5


def test_an_empty_command_is_refused_as_elsewhere():
    with pytest.raises(KleioError, match="no command given"):
        swept([])


# -- properties ------------------------------------------------------------------------------
_plain = st.text(alphabet="abcxyz0123456789._", min_size=1, max_size=6)
_item = st.one_of(_plain, st.integers(-99, 99).map(str))
_list = st.lists(_item, min_size=2, max_size=4, unique=True).map(lambda xs: f"[{','.join(xs)}]")
_range = (
    st.tuples(st.integers(-5, 5), st.integers(-5, 10), st.integers(1, 3))
    .filter(lambda t: t[0] < t[1])
    .map(lambda t: f"range({t[0]},{t[1]},{t[2]})")
)
_space = st.tuples(
    st.sampled_from(["linspace", "logspace"]),
    st.integers(-3, 0),
    st.integers(1, 3),
    st.integers(1, 5),
).map(lambda t: f"{t[0]}({t[1]},{t[2]},{t[3]})")
_random = st.one_of(
    st.just("uniform(0,1)"),
    st.just("loguniform(1e-5,1)"),
    st.just("randint(-3,3)"),
    st.just("choice(a,b,c)"),
)
_value = st.one_of(_list, _range, _space, _random, _plain)
_word = st.tuples(st.sampled_from(["--{}", "--{}=", "{}=", "+{}=", "++{}="]), _value).map(
    lambda t: (t[0], t[1])
)


@st.composite
def commands(draw) -> list[str]:
    argv = ["python", "train.py"]
    for number, (form, value) in enumerate(draw(st.lists(_word, max_size=4))):
        name = form.format(f"k{number}")
        argv.extend([name, value] if not name.endswith("=") else [name + value])
        if draw(st.booleans()):
            argv.extend(["--", "pos"] if draw(st.booleans()) else ["--flag"])
    return argv


@settings(max_examples=200, deadline=None)
@given(commands(), st.integers(1, 3), st.integers(0, 2**32))
def test_count_is_the_number_of_commands_and_no_sweep_is_left(argv, samples, seed):
    randoms = any(d.random for d in swept(argv))
    samples = samples if randoms else None
    commands = expand(argv, samples=samples, sample_seed=seed)
    assert count(argv, samples) == len(commands)
    assert len({tuple(c) for c in commands}) == len(commands) or randoms
    for command in commands:
        assert len(command) == len(argv)
        assert swept(command) == []  # a plain argv: nothing left to sweep
        assert expand(command) == [command]  # and it expands to itself
    assert expand(argv, samples=samples, sample_seed=seed) == commands  # the same points
    unswept = set(range(len(argv))) - {d.index for d in swept(argv)}
    for command in commands:
        assert [command[i] for i in sorted(unswept)] == [argv[i] for i in sorted(unswept)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=8).filter(lambda w: "[" not in w and "(" not in w)))
def test_a_command_without_sweep_expressions_expands_to_itself(words):
    argv = ["p", *words]
    assert expand(argv) == [argv] and literal(argv) == argv and count(argv) == 1


@settings(max_examples=100, deadline=None)
@given(commands())
def test_substituting_a_commands_first_grid_values_gives_its_first_command(argv):
    dimensions = swept(argv)
    if any(d.random for d in dimensions):
        return
    first = {d.index: d.values[0] for d in dimensions}
    assert [substitute(argv, first)] == expand(argv)[:1]
    assert all(isinstance(d, Dimension) for d in dimensions)
