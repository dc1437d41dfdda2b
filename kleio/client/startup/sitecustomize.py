"""Kleio's configuration hook, loaded by Python at start-up in the script Kleio runs.

Kleio puts this folder first on ``PYTHONPATH`` and passes a pipe (``KLEIO_HOOK_FD``).
At start-up Python imports ``sitecustomize``, this file, which at once:

- takes this folder off ``sys.path`` and gives ``PYTHONPATH`` back its value (so the
  script and the programs it starts see the path they would without Kleio), removes its
  own ``KLEIO_HOOK_*`` variables and stops the pipe from reaching programs it starts;
- imports the ``sitecustomize`` that Python would have imported (the interpreter's or
  the environment's), so that one still runs;
- waits for the script to import ``argparse`` (importing nothing itself), then wraps
  ``ArgumentParser.parse_args``, ``parse_known_args`` and the intermixed ones: after
  the outermost call returns, the values of the namespace the parser made, and which of
  them the command line gave, are written as one JSON line to the pipe;
- when Kleio asks (``KLEIO_HOOK_FLUSH``: Kleio made the script unbuffered, the user did
  not), makes stdout block-buffered again and flushes it from a thread every
  ``KLEIO_HOOK_FLUSH`` seconds: live output without a write per ``print``.
  ``PYTHONUNBUFFERED`` stays set for the Python programs the script starts, which the
  hook does not reach.

The wrappers return what argparse returns and raise what it raises (``--help`` and a bad
value leave as they would); the hook only records in the process Kleio started (not in
forked workers). Any failure of the hook itself is swallowed, and said once on stderr.
It uses the standard library only, and runs on Python 3.6 and later (the script's
interpreter may not be Kleio's).
"""

import os
import sys

_FAILED = []


def _say_failed(error):
    if not _FAILED:
        _FAILED.append(error)
        try:
            sys.stderr.write(
                f"kleio: the configuration hook failed ({type(error).__name__}: {error}); the "
                "script goes on, its resolved configuration is not recorded\n"
            )
            sys.stderr.flush()
        except Exception:
            pass


class _Channel:
    """The pipe to Kleio, in the process that Kleio started only."""

    def __init__(self, fd):
        self.fd = fd
        self.pid = os.getpid()
        self.sent = set()

    def send(self, record):
        if os.getpid() != self.pid:  # a forked worker: its parent speaks for it
            return
        line = _json(record) + "\n"
        if line in self.sent:  # the same parser parsing the same words again
            return
        self.sent.add(line)
        data = line.encode("ascii")
        if len(data) > 4 * 1024 * 1024:
            too_large = {"kind": record.get("kind"), "too_large": len(data)}
            data = (_json(too_large) + "\n").encode("ascii")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


def _json(value):
    """JSON text of a plain value (what :func:`_plain` makes), ASCII only. Importing
    ``json`` would cost the script milliseconds; its C string encoder costs nothing."""
    try:
        from _json import encode_basestring_ascii as text
    except ImportError:  # an interpreter without the accelerator
        from json import dumps

        return dumps(value, sort_keys=True)
    parts = []

    def add(item):
        if item is None:
            parts.append("null")
        elif item is True or item is False:
            parts.append("true" if item else "false")
        elif isinstance(item, int):
            parts.append(int.__repr__(item))
        elif isinstance(item, float):
            if item != item:
                parts.append("NaN")
            elif item in (float("inf"), float("-inf")):
                parts.append("Infinity" if item > 0 else "-Infinity")
            else:
                parts.append(float.__repr__(item))
        elif isinstance(item, str):
            parts.append(text(item))
        elif isinstance(item, dict):
            parts.append("{")
            for index, key in enumerate(sorted(item)):
                parts.append(("," if index else "") + text(key) + ":")
                add(item[key])
            parts.append("}")
        else:  # a list
            parts.append("[")
            for index, element in enumerate(item):
                if index:
                    parts.append(",")
                add(element)
            parts.append("]")

    add(value)
    return "".join(parts)


def _restore_environment(folder):
    """This folder off ``sys.path`` and ``PYTHONPATH`` as the user had it."""
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != folder]
    sys.path_importer_cache.pop(folder, None)
    original = os.environ.pop("KLEIO_HOOK_PYTHONPATH", None)
    if original is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = original


def _chain():
    """Import the ``sitecustomize`` Python would have found without Kleio."""
    this = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401 - the next one on sys.path, now ours is off it
    except ImportError as error:
        if getattr(error, "name", None) != "sitecustomize":
            raise
    finally:
        if "sitecustomize" not in sys.modules and this is not None:
            sys.modules["sitecustomize"] = this


# -- stdout --------------------------------------------------------------------------------


class _Flusher:
    """Flushes a stream every ``interval`` seconds from a thread, until the interpreter
    exits; restarted in a forked child (a worker's prints are live too).

    Its lock is held while it flushes: exit (``atexit``, before Python's own last
    flush) and ``os.fork`` wait for a flush in progress, so the thread never holds the
    stream's lock while the interpreter finalizes or a child is forked.
    """

    def __init__(self, stream, interval):
        import _thread

        self.stream, self.interval, self.stopped = stream, interval, False
        self._new_thread = _thread.start_new_thread
        self.lock = _thread.allocate_lock()

    def start(self):
        self._new_thread(self._run, ())

    def _run(self):
        import time

        while True:
            time.sleep(self.interval)
            with self.lock:
                if self.stopped:
                    return
                try:
                    self.stream.flush()
                except Exception:  # closed, or nobody reads it any more
                    self.stopped = True
                    return

    def stop(self):
        with self.lock:
            self.stopped = True

    def before_fork(self):
        """Hold the lock, and flush: unbuffered before, a script that forks without
        flushing never printed its pending lines twice (parent and child)."""
        self.lock.acquire()
        try:
            self.stream.flush()
        except Exception:
            pass

    def in_child(self):
        import _thread

        self.lock = _thread.allocate_lock()  # held by the parent's fork: a new one
        if not self.stopped:
            self.start()


def _buffer_stdout(interval):
    """stdout block-buffered (8 KB, as Python has it on a pipe without ``-u``), flushed
    every ``interval`` seconds by a :class:`_Flusher`."""
    import atexit
    import io

    stream = sys.stdout
    if not (
        type(stream) is io.TextIOWrapper
        and stream is sys.__stdout__
        and stream.write_through
        and type(stream.buffer) is io.FileIO
    ):
        return  # not the unbuffered stdout Python makes for PYTHONUNBUFFERED
    encoding, errors = stream.encoding, stream.errors
    raw = stream.detach()
    try:
        buffered = io.TextIOWrapper(
            io.BufferedWriter(raw), encoding=encoding, errors=errors, newline="\n"
        )
        buffered.mode = "w"
    except Exception:
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(
            raw, encoding=encoding, errors=errors, newline="\n", write_through=True
        )
        raise
    sys.stdout = sys.__stdout__ = buffered
    flusher = _Flusher(buffered, interval)
    atexit.register(flusher.stop)
    if hasattr(os, "register_at_fork"):  # Python 3.7 and later
        os.register_at_fork(
            before=flusher.before_fork,
            after_in_parent=lambda: flusher.lock.release(),
            after_in_child=flusher.in_child,
        )
    flusher.start()


# -- argparse -----------------------------------------------------------------------------


def _plain(value, depth=0):
    """A value as JSON holds it: the script's types where JSON has them."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 32:
        return repr(value)
    if isinstance(value, dict):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(item, depth + 1) for item in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    name = getattr(value, "name", None)
    if isinstance(name, str) and (hasattr(value, "read") or hasattr(value, "write")):
        return name  # argparse.FileType: the file it opened
    if isinstance(getattr(value, "value", None), (bool, int, float, str)) and name:
        return name  # an Enum member
    return str(value)


def _actions(parser, seen=None):
    """The parser's actions, and those of its sub-parsers."""
    seen = set() if seen is None else seen
    if id(parser) in seen:
        return []
    seen.add(id(parser))
    found = []
    for action in getattr(parser, "_actions", []):
        found.append(action)
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            for sub in choices.values():
                if hasattr(sub, "_actions"):
                    found.extend(_actions(sub, seen))
    return found


def _key(action):
    """How the command line names an action: its first long option, else its first
    option, without dashes; a positional's name."""
    strings = list(getattr(action, "option_strings", None) or [])
    if not strings:
        return action.dest
    long = [text for text in strings if text.startswith("--")]
    return (long or strings)[0].lstrip("-") or action.dest


def _record(parser, namespace, typed_actions, suppress):
    values, keys, typed = {}, {}, set()
    for action in _actions(parser):
        dest = getattr(action, "dest", suppress)
        if dest == suppress or not isinstance(dest, str) or not hasattr(namespace, dest):
            continue
        if id(action) in typed_actions:
            typed.add(dest)
        if dest not in values:
            values[dest] = _plain(getattr(namespace, dest))
            keys[dest] = _key(action)
    return {
        "kind": "argparse",
        "prog": str(getattr(parser, "prog", "")),
        "values": values,
        "keys": keys,
        "typed": sorted(typed),
    }


def _patch_argparse(argparse, channel):
    import functools
    from _thread import get_ident

    parser_class = argparse.ArgumentParser
    parsing = {}  # thread -> the actions the command line gave, during its outermost parse

    def entry(original):
        @functools.wraps(original)
        def parse(self, *args, **kwargs):
            thread = get_ident()
            outermost = thread not in parsing
            if outermost:
                parsing[thread] = set()
            try:
                result = original(self, *args, **kwargs)
            finally:
                typed = parsing.pop(thread) if outermost else None
            if outermost:
                try:
                    namespace = result[0] if isinstance(result, tuple) else result
                    channel.send(_record(self, namespace, typed, argparse.SUPPRESS))
                except Exception as error:
                    _say_failed(error)
            return result

        return parse

    get_values = getattr(parser_class, "_get_values", None)
    if get_values is not None:

        @functools.wraps(get_values)
        def _get_values(self, action, arg_strings):
            typed = parsing.get(get_ident())
            if typed is not None and (arg_strings or action.option_strings):
                typed.add(id(action))
            return get_values(self, action, arg_strings)

        parser_class._get_values = _get_values
    for name in (
        "parse_args",
        "parse_known_args",
        "parse_intermixed_args",
        "parse_known_intermixed_args",
    ):
        original = parser_class.__dict__.get(name)
        if original is not None:
            setattr(parser_class, name, entry(original))


class _Loader:
    """Runs the real loader of a module, then patches the module."""

    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        # The module sees its own loader, as without Kleio.
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        try:
            self.patch(module)
        except Exception as error:
            _say_failed(error)


class _PatchingFinder:
    """A finder that lets the other finders find ``argparse``, wraps its loader, and
    takes itself off ``sys.meta_path``."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        patch = self.patches.get(name)
        if patch is None:
            return None
        del self.patches[name]
        if not self.patches and self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, patch)
                return spec
        return None


def _install():
    folder = os.path.dirname(os.path.abspath(__file__))
    fd = os.environ.pop("KLEIO_HOOK_FD", None)
    flush = os.environ.pop("KLEIO_HOOK_FLUSH", None)
    _restore_environment(folder)
    if flush is not None:
        try:
            _buffer_stdout(float(flush))
        except Exception:  # stdout stays unbuffered as Kleio started it: slower, still live
            pass
    if fd is None:
        return
    fd = int(fd)
    os.set_inheritable(fd, False)  # programs the script starts never get it
    channel = _Channel(fd)

    def patch(argparse):
        _patch_argparse(argparse, channel)

    if "argparse" in sys.modules:
        patch(sys.modules["argparse"])
    else:
        sys.meta_path.insert(0, _PatchingFinder({"argparse": patch}))


try:
    _install()
except Exception as _error:  # the script must run, whatever happens here
    _say_failed(_error)
# Outside the guard: an error in the user's own sitecustomize is reported by Python as it
# would be without Kleio.
_chain()
