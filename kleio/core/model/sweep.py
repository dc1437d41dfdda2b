r"""The sweep grammar: one command line standing for many (``kleio sweep``).

``python train.py --lr [0.1,0.01] model.depth=range(2,5)`` stands for six commands,
``--lr 0.1 model.depth=2`` first. Only the value of an option (``--lr X``, ``--lr=X``) or
of a Hydra-style assignment (``key=X``, ``+key=X``, ``++key=X``) is swept, as
:func:`~kleio.core.model.commandline.split_command` reads the command line: never the
program, the interpreter's options, the script, a positional word, a ``~key=X`` deletion
nor anything after ``--``. A value is swept when it is, whole:

* a list ``[a,b,c]``: its items as written, spaces around them stripped; a comma inside
  quotes or brackets does not split, and the quotes stay (Hydra reads them);
* ``range(stop)``, ``range(start,stop[,step])``: Python's, on integers;
* ``linspace(a,b,n)``: ``n`` values from ``a`` to ``b`` included, as numpy's;
  ``logspace(a,b,n)``: ``10**a`` to ``10**b``, as numpy's;
* random: ``uniform(a,b)``, ``loguniform(a,b)`` (``0 < a``), ``randint(a,b)`` (``b``
  included, as Optuna's ``suggest_int``), ``choice(a,b,c)``, drawn ``samples`` times.

Every command is the cross product of the grid dimensions, the first swept word varying
slowest (:func:`itertools.product` in command order), times the ``samples`` random points:
each point draws every random dimension once, and every grid combination takes the same
points, in the order drawn; the random points vary as one dimension placed at the first
random word. Integers are written as integers, computed floats in their shortest ``repr``
with the float noise rounded off (15 significant digits; a random draw 6), list items as
written; a word that is not swept stays exactly as given.

A value meant literally starts with a backslash: ``--layers '\[64,64]'`` is ``[64,64]``,
``'\range(3)'`` is ``range(3)``. Only a backslash before what would be swept (``[`` or a
form's name and ``(``) is an escape, so ``--sep '\t'`` keeps its backslash; ``\\[`` gives
``\[``. The same escape keeps a list's item literal: ``[\[64,64],\[128,128]]``.

A malformed expression is a :class:`SweepError` of one line naming the word and the
character where it breaks. So is what a careless hand types: a list of one value or with a
value twice (``--layers [64,64]`` meant as a list), a sweep inside a list, a form that
gives no value (``range(0)``), and a name one typo from a form's (``arange(5)``,
``linspce(0,1,5)``, ``Range(3)``); other names with parentheses (``relu(0.1)``) are text.
"""

from __future__ import annotations

import math
import random
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain, product

from kleio.core.model.commandline import SEPARATOR, Assignment, Option, split_command
from kleio.core.model.errors import KleioError
from kleio.value import Value

#: The interface of ``kleio sweep`` and of a search that picks its own points (Optuna).
__all__ = [
    "Dimension",
    "SweepError",
    "count",
    "expand",
    "literal",
    "substitute",
    "swept",
]

GRID_FORMS = ("range", "linspace", "logspace")
RANDOM_FORMS = ("uniform", "loguniform", "randint", "choice")
FORMS = GRID_FORMS + RANDOM_FORMS
#: The most commands :func:`expand` builds unless its caller allows more: 100,000
#: commands of 20 words are about 100 MB of Python lists, and as many trials.
MAX_COMMANDS = 100_000
#: The largest integer a form takes: a range of 10**18 values is no sweep, and counting
#: stays exact arithmetic on small integers.
MAX_INTEGER = 10**18
#: Significant digits of a computed grid value: 15 survive any float's round trip
#: (DBL_DIG), so 0.30000000000000004 is written 0.3 and a given 0.123456789012345 stays.
_GRID_DIGITS = 15
#: Significant digits of a random draw: 6 are readable in a command and a listing, and
#: draw 10,000 points of a decade apart with few repeats.
_RANDOM_DIGITS = 6
#: Characters of a word an error message shows: a hostile 1 MB word stays one line.
_SHOWN = 120


class SweepError(KleioError):
    """A sweep expression that cannot be expanded: one line naming the word and where."""

    exit_code = 2


class Dimension(Value):
    """One swept word: ``index`` in argv, ``name`` (the option's key, ``lr``, or the
    assignment's, ``model.depth``; two words may share one), ``expression`` (the value as
    written, ``[0.1,0.01]``), ``kind`` (``list`` or a form's name). A grid dimension has
    ``size`` and ``values``, the texts written into commands (a lazy sequence for the
    forms: ``range(10**12)`` builds nothing); a random one has ``distribution``,
    ``("uniform", a, b)``, ``("loguniform", a, b)`` (floats), ``("randint", a, b)``
    (integers, ``b`` included) or ``("choice", item, ...)`` (texts as written)."""

    FIELDS = ("index", "name", "expression", "kind", "size", "distribution")

    def __init__(
        self,
        index: int,
        name: str,
        expression: str,
        kind: str,
        size: int | None = None,
        distribution: tuple | None = None,
        values: Sequence[str] | None = None,
    ):
        self.index, self.name, self.expression, self.kind = index, name, expression, kind
        self.size, self.distribution, self.values = size, distribution, values

    @property
    def random(self) -> bool:
        return self.kind in RANDOM_FORMS


def swept(argv: Sequence[str]) -> list[Dimension]:
    """The swept words of ``argv``, in command order; a malformed one raises."""
    return [form.dimension(place) for place, form in _read(argv)[1]]


def count(argv: Sequence[str], samples: int | None = None) -> int:
    """How many commands :func:`expand` gives, without building any (``range(10**12)``
    is counted at once). Raises as :func:`expand` does, the limit apart."""
    return _count(_read(argv)[1], samples)


def expand(
    argv: Sequence[str],
    *,
    samples: int | None = None,
    sample_seed: int | None = None,
    limit: int | None = MAX_COMMANDS,
) -> list[list[str]]:
    """Every command ``argv`` stands for, each a plain argv with its escapes removed, in
    the order of the module's documentation. ``samples`` random points are drawn from
    :class:`random.Random` seeded with ``sample_seed`` (its ``getrandbits`` and ``random``,
    whose outputs for a seed have not changed since Python 3.2: the same points on any
    version). A total over ``limit`` is refused before anything is built (``None``: no
    limit, for a caller that checked :func:`count` itself)."""
    template, parsed = _read(argv)
    total = _count(parsed, samples)
    if limit is not None and total > limit:
        raise SweepError(
            f"the sweep makes {total:,} commands, over the limit of {limit:,}: "
            "sweep fewer values or fewer words"
        )
    axes: list[list[tuple[str, ...]]] = []
    positions: list[int] = []
    randoms = [(place, form) for place, form in parsed if form.random]
    for place, form in parsed:
        if not form.random:
            axes.append([(place.before + value,) for value in form.values()])
            positions.append(place.index)
        elif place is randoms[0][0]:
            rng = random.Random(sample_seed)
            axes.append(
                [
                    tuple(where.before + drawn.draw(rng) for where, drawn in randoms)
                    for _ in range(samples or 0)
                ]
            )
            positions.extend(where.index for where, _ in randoms)
    if len(positions) == len(axes):  # one word per axis, the usual case: 5 times faster
        words: list[list[str]] = [[word] for word in template]  # fixed words: one-value axes
        for position, axis in zip(positions, axes, strict=True):
            words[position] = [word for (word,) in axis]
        return list(map(list, product(*words)))
    return [
        _filled(template, positions, chain.from_iterable(combination))
        for combination in product(*axes)
    ]


def literal(argv: Sequence[str]) -> list[str]:
    """``argv`` with its escapes removed: the command itself when nothing is swept. A
    sweep expression stays as it is (nothing is checked)."""
    command = list(argv)
    for place in _places(argv):
        unescaped = _unescaped(place.value)
        if unescaped is not None:
            command[place.index] = place.before + unescaped
    return command


def substitute(argv: Sequence[str], values: Mapping[int, str | int | float]) -> list[str]:
    """``argv`` with ``values`` at its swept words (keyed by :attr:`Dimension.index`),
    keeping ``--lr=`` or ``key=`` before them, and its escapes removed: for a search that
    chooses the points itself (Optuna). A number is written as :func:`expand` writes it.
    Every swept word needs a value, and only those: a ValueError otherwise."""
    template, parsed = _read(argv)
    places = {place.index: place for place, _ in parsed}
    missing = sorted(set(places) - set(values))
    unknown = sorted(set(values) - set(places))
    if missing or unknown:
        raise ValueError(
            f"swept words are at {sorted(places)}: no value for {missing}, "
            f"values for words not swept {unknown}"
        )
    command = list(template)
    for index, value in values.items():
        text = value if isinstance(value, str) else _number_text(value, _GRID_DIGITS)
        command[index] = places[index].before + text
    return command


# -- where values are swept ----------------------------------------------------------------
class _Place:
    """A value that may be swept: the word at ``index`` is ``before + value``; ``name`` is
    the option's or the key's, ``shown`` how errors name the word."""

    def __init__(self, index: int, before: str, value: str, name: str, option: str = ""):
        self.index, self.before, self.value, self.name = index, before, value, name
        self.option = option  # the option's name when the value is a word of its own

    def fail(self, problem: str, at: int | None = None, hint: str = "") -> SweepError:
        """The error for ``problem`` found at character ``at`` of the value."""
        word = self.before + self.value
        if len(word) > _SHOWN:
            word = word[: _SHOWN - 3] + "..."
        shown = f"{self.option} {shlex.quote(word)}" if self.option else shlex.quote(word)
        where = "" if at is None else f" at character {len(self.before) + at + 1}"
        return SweepError(f"{shown}: {problem}{where}{hint and '; '}{hint}")


def _places(argv: Sequence[str]) -> Iterator[_Place]:
    """The values of options and assignments, in order, as split_command reads them."""
    command = split_command(argv)
    index = command.start
    for part in command.parts:
        if part is SEPARATOR:
            return
        if isinstance(part, Option) and part.joined:
            yield _Place(index, f"{part.name}=", part.values[0], part.key)
        elif isinstance(part, Option):
            for value in part.values:
                index += 1
                yield _Place(index, "", value, part.key, part.name)
        elif isinstance(part, Assignment) and part.value is not None and part.prefix != "~":
            yield _Place(index, f"{part.prefix}{part.key}=", part.value, part.key)
        index += 1


def _read(argv: Sequence[str]) -> tuple[list[str], list[tuple[_Place, _Form]]]:
    """``argv`` with its escapes removed, and its swept places with their forms."""
    template, parsed = list(argv), []
    for place in _places(argv):
        unescaped = _unescaped(place.value)
        if unescaped is not None:
            template[place.index] = place.before + unescaped
            continue
        form = _form(place, place.value)
        if form is not None:
            parsed.append((place, form))
    return template, parsed


_CALL = re.compile(r"([A-Za-z_]\w*)\(")


def _unescaped(text: str) -> str | None:
    """``text`` less its escape (a backslash before what would be swept), or None."""
    if text.startswith("\\") and _looks_swept(text.lstrip("\\")):
        return text[1:]
    return None


def _looks_swept(text: str) -> bool:
    if text.startswith("["):
        return True
    call = _CALL.match(text)
    return call is not None and (call[1] in FORMS or _near_miss(call[1]) is not None)


def _near_miss(name: str) -> str | None:
    """The form ``name`` is a typo of (``arange``, ``Range``, ``linspce``), or None.
    0.7 of the letters matching (difflib's ratio) takes ``rand`` for ``randint`` and
    leaves ``relu``, ``log`` or ``linear`` alone."""
    if name in FORMS:
        return None
    import difflib  # a name with a parenthesis only

    close = difflib.get_close_matches(name.lower(), FORMS, n=1, cutoff=0.7)
    return close[0] if close else None


# -- forms -------------------------------------------------------------------------------
class _Form:
    """A parsed expression: a grid of ``size`` values (``value(i)``), or a distribution
    (``draw(rng)``)."""

    def __init__(
        self,
        kind: str,
        expression: str,
        size: int | None = None,
        value: Callable[[int], str] | None = None,
        distribution: tuple | None = None,
        draw: Callable[[random.Random], str] | None = None,
    ):
        self.kind, self.expression, self.size, self.value = kind, expression, size, value
        self.distribution, self.draw = distribution, draw  # type: ignore[assignment]

    @property
    def random(self) -> bool:
        return self.kind in RANDOM_FORMS

    def values(self) -> Sequence[str]:
        assert self.value is not None and self.size is not None
        return _Values(self.size, self.value)

    def dimension(self, place: _Place) -> Dimension:
        if self.random:
            return Dimension(
                place.index, place.name, self.expression, self.kind, None, self.distribution
            )
        return Dimension(
            place.index, place.name, self.expression, self.kind, self.size, None, self.values()
        )


class _Values(Sequence):
    """The values of a grid dimension, each made when asked for."""

    def __init__(self, size: int, value: Callable[[int], str]):
        self._size, self._value = size, value

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._value(i) for i in range(*index.indices(self._size))]
        if not -self._size <= index < self._size:
            raise IndexError("index out of range")
        return self._value(index % self._size)

    def __iter__(self) -> Iterator[str]:
        return map(self._value, range(self._size))

    def __repr__(self) -> str:
        return f"<{self._size:,} values>"


def _form(place: _Place, text: str) -> _Form | None:
    """The form of the value ``text``, or None if it is not swept."""
    if text.startswith("["):
        items, end = _items(place, text, 1, "]", "the list")
        _after(place, text, end, "the list's ']'")
        if len(items) == 1 and not items[0][1].strip():
            raise place.fail("an empty list sweeps nothing", 0)
        values = _texts(place, items, "\\[ before the list is the text as it is")
        if len(values) == 1:
            raise place.fail(
                "a list of one value sweeps nothing",
                0,
                f"write {values[0]}, or \\[ before the list for the text as it is",
            )
        return _Form("list", text, len(values), values.__getitem__)
    call = _CALL.match(text)
    if call is None:
        return None
    name = call[1]
    if name not in FORMS:
        close = _near_miss(name)
        if close is None:
            return None
        raise place.fail(_NO_FORM.format(name), 0, _MEANT.format(close, name))
    opened = call.end()
    items, end = _items(place, text, opened, ")", f"{name}(")
    _after(place, text, end, f"{name}(...)'s ')'")
    if name == "choice":
        choices = _texts(place, items)
        if len(choices) < 2:
            raise place.fail("a choice of one value draws nothing: give two or more", opened)
        return _Form(
            "choice",
            text,
            distribution=("choice", *choices),
            draw=lambda rng: choices[_below(rng, len(choices))],
        )
    stripped = [(begin + len(item) - len(item.lstrip()), item.strip()) for begin, item in items]
    return _NUMERIC[name](place, text, stripped, opened)


def _items(
    place: _Place, text: str, start: int, closer: str, what: str
) -> tuple[list[tuple[int, str]], int]:
    """The items of the sequence from ``start`` to its ``closer``, split at the commas
    outside quotes and brackets, each with its first character; and where the closer is.
    One pass with a stack, no recursion: 100,000 nested brackets cost a list."""
    items: list[tuple[int, str]] = []
    opened: list[tuple[str, int]] = []
    begin, quote = start, None
    for special in _SPECIAL.finditer(text, start):
        character, index = special[0], special.start()
        if quote is not None:
            if character == quote[0]:
                quote = None
            continue
        if character in "'\"":
            quote = (character, index)
        elif character in _CLOSING:
            opened.append((_CLOSING[character], index))
        elif character == ",":
            if not opened:
                items.append((begin, text[begin:index]))
                begin = index + 1
        elif opened:
            expected, at = opened.pop()
            if character != expected:
                raise place.fail(f"{character!r} closes the {text[at]!r} opened", at)
        elif character == closer:
            items.append((begin, text[begin:index]))
            return items, index
        else:
            raise place.fail(f"{character!r} closes nothing", index)
    if quote is not None:
        raise place.fail(f"no {quote[0]} closes the quote", quote[1])
    if opened:
        raise place.fail(f"no {opened[-1][0]!r} closes the {text[opened[-1][1]]!r}", opened[-1][1])
    hint = "quote the expression: a space splits a word" if text.endswith(",") else ""
    raise place.fail(f"no {closer!r} closes {what}", start - 1, hint)


_NO_FORM = "{}( is no sweep form"
_MEANT = "did you mean {}(? \\{}( is the text as it is"
_SPECIAL = re.compile(r"[\[\](){}'\",]")
_CLOSING = {"[": "]", "(": ")", "{": "}"}


def _after(place: _Place, text: str, end: int, what: str) -> None:
    if end + 1 < len(text):
        raise place.fail(f"text after {what}", end + 1)


def _texts(place: _Place, items: list[tuple[int, str]], literally: str = "") -> list[str]:
    """The items of a list or a choice as written, stripped, escapes removed; an empty
    one, a sweep inside, or one given twice raises."""
    texts: list[str] = []
    seen: set[str] = set()
    for begin, item in items:
        text = item.strip()
        at = begin + len(item) - len(item.lstrip())
        if not text:
            raise place.fail("an empty item", begin)
        unescaped = _unescaped(text)
        if unescaped is not None:
            text = unescaped
        elif text.startswith("["):
            raise place.fail("a list inside a list", at, "\\[ before it is the text as it is")
        elif _looks_swept(text):  # a form, or a typo of a form's name
            name = _CALL.match(text)[1]  # type: ignore[index]
            if name in FORMS:
                raise place.fail(f"{name}( inside a list: sweeps do not nest", at)
            raise place.fail(_NO_FORM.format(name), at, _MEANT.format(_near_miss(name), name))
        if text in seen:
            raise place.fail(f"{text} is given twice", at, literally)
        seen.add(text)
        texts.append(text)
    return texts


_INTEGER = re.compile(r"([-+]?)(\d+(?:_\d+)*)(?:\*\*(\d+))?")
_REAL = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _integer(place: _Place, form: str, item: tuple[int, str]) -> int:
    """An integer argument: ``12``, ``-3``, ``1_000``, ``10**6``, within MAX_INTEGER."""
    begin, text = item
    match = _INTEGER.fullmatch(text)
    if match is None:
        raise place.fail(f"{form} takes integers, not {text!r}", begin)
    digits, power = match[2].replace("_", ""), match[3] or "1"
    base = int(digits) if len(digits) <= 19 else MAX_INTEGER + 1
    if len(power) > 4 or (base > 1 and int(power) * math.log10(base) > 19):
        raise place.fail(f"{text} is beyond 10**18", begin)  # before computing 9**9999
    value = base ** int(power) * (-1 if match[1] == "-" else 1)
    if abs(value) > MAX_INTEGER:
        raise place.fail(f"{text} is beyond 10**18", begin)
    return value


def _real(place: _Place, form: str, item: tuple[int, str]) -> float:
    """A number argument: an integer as :func:`_integer` takes it, or a finite float."""
    begin, text = item
    if _INTEGER.fullmatch(text):
        return float(_integer(place, form, item))
    value = float(text) if _REAL.fullmatch(text) else math.nan
    if not math.isfinite(value):
        raise place.fail(f"{form} takes numbers, not {text!r}", begin)
    return value


def _arity(
    place: _Place, form: str, items: list[tuple[int, str]], at: int, counts: tuple, usage: str
) -> None:
    if len(items) not in counts or any(not text for _, text in items):
        raise place.fail(f"{form} takes {usage}, not {_written(items)}", at)


def _written(items: list[tuple[int, str]]) -> str:
    return f"({','.join(text for _, text in items)})"


def _range(place: _Place, text: str, items: list[tuple[int, str]], at: int) -> _Form:
    _arity(place, "range", items, at, (1, 2, 3), "(stop), (start,stop) or (start,stop,step)")
    numbers = [_integer(place, "range", item) for item in items]
    start, stop, step = ([0] if len(numbers) == 1 else []) + numbers + [1] * (len(numbers) < 3)
    if step == 0:
        raise place.fail("range's step is 0", items[2][0])
    size = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    if size == 0:
        raise place.fail(f"range{_written(items)} gives no value", 0)
    return _Form("range", text, size, lambda i: str(start + i * step))


def _spaced(
    place: _Place, form: str, items: list[tuple[int, str]], at: int
) -> tuple[float, float, int, Callable[[int], float]]:
    """``(a, b, n)`` of linspace and logspace, and numpy's linspace's i-th value."""
    _arity(place, form, items, at, (3,), "(start,stop,count)")
    a, b = _real(place, form, items[0]), _real(place, form, items[1])
    n = _integer(place, form, items[2])
    if n < 1:
        raise place.fail(f"{form}{_written(items)} gives no value", 0)
    if n > 1 and a == b:
        raise place.fail(f"{form}{_written(items)} gives {n} times the same value", 0)
    step = (b - a) / (n - 1) if n > 1 else 0.0
    return a, b, n, lambda i: b if i == n - 1 and n > 1 else a + i * step


def _linspace(place: _Place, text: str, items: list[tuple[int, str]], at: int) -> _Form:
    _, _, n, value = _spaced(place, "linspace", items, at)
    return _Form("linspace", text, n, lambda i: _number_text(value(i), _GRID_DIGITS))


def _logspace(place: _Place, text: str, items: list[tuple[int, str]], at: int) -> _Form:
    a, b, n, value = _spaced(place, "logspace", items, at)
    for exponent, begin in ((a, items[0][0]), (b, items[1][0])):
        if not -307 <= exponent <= 308:  # 10**309 overflows, 10**-308 loses digits
            raise place.fail(f"10**{exponent:g} is out of the floating-point range", begin)
    return _Form("logspace", text, n, lambda i: _number_text(10.0 ** value(i), _GRID_DIGITS))


def _bounds(
    place: _Place, form: str, items: list[tuple[int, str]], at: int, read: Callable
) -> tuple:
    _arity(place, form, items, at, (2,), "(low,high)")
    low, high = read(place, form, items[0]), read(place, form, items[1])
    if not low < high:
        raise place.fail(f"{form}{_written(items)} needs low < high", 0)
    return low, high


def _uniform(place: _Place, text: str, items: list[tuple[int, str]], at: int) -> _Form:
    low, high = _bounds(place, "uniform", items, at, _real)
    if not math.isfinite(high - low):
        raise place.fail(f"uniform{_written(items)} is wider than the floating-point range", at)
    return _Form(
        "uniform",
        text,
        distribution=("uniform", low, high),
        draw=lambda rng: _drawn(low + (high - low) * rng.random(), low, high),
    )


def _loguniform(place: _Place, text: str, items: list[tuple[int, str]], at: int) -> _Form:
    low, high = _bounds(place, "loguniform", items, at, _real)
    if low <= 0:
        raise place.fail(f"loguniform{_written(items)} needs 0 < low", items[0][0])
    a, b = math.log(low), math.log(high)
    return _Form(
        "loguniform",
        text,
        distribution=("loguniform", low, high),
        draw=lambda rng: _drawn(math.exp(a + (b - a) * rng.random()), low, high),
    )


def _randint(place: _Place, text: str, items: list[tuple[int, str]], at: int) -> _Form:
    low, high = _bounds(place, "randint", items, at, _integer)
    return _Form(
        "randint",
        text,
        distribution=("randint", low, high),
        draw=lambda rng: str(low + _below(rng, high - low + 1)),
    )


_NUMERIC = {
    "range": _range,
    "linspace": _linspace,
    "logspace": _logspace,
    "uniform": _uniform,
    "loguniform": _loguniform,
    "randint": _randint,
}


# -- values and combinations ------------------------------------------------------------
def _number_text(value: int | float, digits: int) -> str:
    """An integer as an integer; a float in its shortest repr, rounded to ``digits``
    significant digits first (float noise off), ``0.0`` never ``-0.0``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(f"{value:.{digits}g}")
    return repr(value + 0.0)  # -0.0 + 0.0 is 0.0


def _drawn(value: float, low: float, high: float) -> str:
    """A random draw as written: 6 digits, kept within [low, high] (rounding may cross)."""
    rounded = float(f"{value:.{_RANDOM_DIGITS}g}")
    return _number_text(min(max(rounded, low), high), _GRID_DIGITS)


def _below(rng: random.Random, n: int) -> int:
    """An integer in [0, n), uniform: from getrandbits alone, whose output for a seed has
    not changed since Python 3.2 (randrange's arguments and checks have)."""
    bits = n.bit_length()
    while True:
        drawn = rng.getrandbits(bits)
        if drawn < n:
            return drawn


def _count(parsed: list[tuple[_Place, _Form]], samples: int | None) -> int:
    randoms = [(place, form) for place, form in parsed if form.random]
    if samples is not None and (
        not isinstance(samples, int) or isinstance(samples, bool) or samples < 1
    ):
        raise SweepError(f"--samples must be a whole number of at least 1, not {samples!r}")
    if randoms and samples is None:
        place, form = randoms[0]
        raise place.fail(f"{form.kind}( draws random values: give --samples N")
    if samples is not None and not randoms:
        raise SweepError(
            f"--samples {samples} draws random forms ({', '.join(RANDOM_FORMS)}): "
            "the command has none"
        )
    total = samples if randoms else 1
    for _, form in parsed:
        if not form.random:
            total *= form.size  # type: ignore[operator]
    return total  # type: ignore[return-value]


def _filled(template: list[str], positions: list[int], words) -> list[str]:
    command = template.copy()
    for position, word in zip(positions, words, strict=False):
        command[position] = word
    return command
