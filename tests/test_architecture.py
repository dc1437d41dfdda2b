"""The house rules that keep Kleio fast to start and easy to extend, checked.

Every command has help and a page of the guide; the store contract imports no backend;
commands that only read import no launcher (measured with ``python -X importtime``, as a
contributor would check it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from kleio.cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]


def _subcommands() -> argparse._SubParsersAction:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def test_every_command_has_a_one_line_help_and_help_for_each_option():
    subcommands = _subcommands()
    assert set(subcommands.choices) == set(COMMANDS)
    helps = {choice.dest: choice.help for choice in subcommands._choices_actions}
    for name, parser in subcommands.choices.items():
        assert helps.get(name), f"`kleio {name}` has no help line"
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"`kleio {name} {action.option_strings[0]}` has no help"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_is_documented_in_the_guide(command):
    guide = "\n".join(page.read_text(encoding="utf-8") for page in (ROOT / "docs").glob("*.rst"))
    assert f"kleio {command}" in guide, f"no page of docs/ shows `kleio {command}`"


def _imported(*code: str) -> set[str]:
    """The modules a Python process imports to run ``code``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_the_store_contract_imports_no_backend():
    imported = _imported("-c", "import kleio.store")
    assert "kleio.store.base" in imported
    assert not {"kleio.store.sqlite", "kleio.store.mongodb", "pymongo"} & imported


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["ls"], ["compare"]])
def test_commands_that_do_not_run_load_no_launcher(args, tmp_path):
    imported = _imported("-m", "kleio", *args)
    assert "kleio.cli.main" in imported
    assert (
        not {
            "kleio.core.running.execution",
            "kleio.core.running.launcher",
            "pymongo",
            "argcomplete",
            "git",
        }
        & imported
    )


def test_kleio_version_imports_nothing_but_the_entry_point():
    """The start-up budget of `kleio --version` (Guild AI's discipline): the interpreter,
    argparse and the entry point, not the store nor typing nor dataclasses."""
    imported = _imported("-m", "kleio", "--version")
    assert {name for name in imported if name.startswith("kleio")} == {
        "kleio",
        "kleio.cli",
        "kleio.cli.main",
    }
    assert not {"kleio.store", "dataclasses", "typing", "json"} & imported


def test_help_loads_neither_the_store_nor_the_domain():
    """`kleio --help` and the help of every command show names of the domain (statuses,
    identity components, backends) without importing it: the store's contract alone
    imports dataclasses, json and uuid."""
    helps = ", ".join(repr([name, "--help"]) for name in COMMANDS)
    code = (
        "import io, sys; from kleio.cli.main import main; out = io.StringIO(); "
        f"codes = [main(argv, out, out) for argv in (['--help'], {helps})]; "
        "print(set(codes), *sorted(sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    codes, *imported = result.stdout.split(" ")
    assert codes == "{0}", result.stderr
    loaded = {name.strip() for name in imported}
    assert not {name for name in loaded if name.startswith(("kleio.store", "kleio.core."))} - {
        "kleio.core.reading",
        "kleio.core.reading.strict_json",  # the JSON every face writes, for --format
    }
    assert not {"dataclasses", "uuid"} & loaded


def _loaded_by(argv: list[str]) -> set[str]:
    """The modules in ``sys.modules`` after ``kleio ARGV`` (modules loaded by
    importlib.import_module escape -X importtime: ask sys.modules)."""
    code = (
        f"import sys; from kleio.cli.main import main; main({argv!r}); print(*sorted(sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    return set(result.stdout.splitlines()[-1].split())


def test_a_run_imports_only_what_it_needs(tmp_path):
    """Every import of `kleio python ...` delays the script: a run builds no dataclass
    (dataclasses imports inspect, ast and dis), imports no other backend, no GitPython,
    no PyYAML without a configuration file, no psutil for a script shorter than a
    resource sample, and no shutil (which imports zlib, bz2 and lzma: 3 ms); nor any of
    Kleio's modules that a first execution does not use (0.1 to 1 ms each)."""
    imported = _loaded_by(["--home", str(tmp_path / "home"), sys.executable, "-c", "pass"])
    assert {
        "kleio.core.running.execution",
        "kleio.core.running.launcher",
        "kleio.store.sqlite",
    } <= imported
    assert (
        not {
            "dataclasses",
            "inspect",
            "base64",
            "pymongo",
            "git",
            "yaml",
            "psutil",
            "argcomplete",
            "shutil",
            "lzma",
            # The readers: a run splits its --tags with the trial's fields.
            "kleio.core.reading",
            # What documents may hold: a run gathers what readers skip without it.
            "kleio.core.model.schema",
            "contextvars",
            # Read paths, blobs and messages: a first execution reads no view (nor checks
            # that it restarted one's counters), reads no events ahead, stores no blob and
            # prints no database address.
            "kleio.core.model.view",
            "kleio.core.running.restarts",
            "kleio.store.readahead",
            "kleio.store.blobs",
            "kleio.store.addresses",
            # Shell completion: imported when the shell asks, never when a command runs.
            "kleio.cli.completion",
            # Adaptive search: imported by what runs a study, never by a run.
            "kleio.integrations",
            "optuna",
        }
        & imported
    )


def test_a_command_imports_its_own_module_only(tmp_path):
    """`kleio ls` (and a run) build the parser of their command, not the 22 others."""
    commands = {
        name
        for name in _loaded_by(["--home", str(tmp_path), "ls"])
        if name.startswith("kleio.cli.")
    }
    assert "kleio.cli.ls" in commands
    assert commands <= {
        "kleio.cli.main",
        "kleio.cli.ls",
        "kleio.cli.arguments",
        "kleio.cli.context",
        "kleio.cli.output",
    }


#: Where programs live on every POSIX system, whatever the PATH of the tests.
_STANDARD_PATH = "/usr/local/bin:/usr/bin:/bin"
#: POSIX utilities a future command might be named like, installed here or not.
_POSIX_UTILITIES = {"cat", "cp", "diff", "find", "head", "kill", "ls", "mv", "rm", "sort", "tail"}


def test_commands_that_shadow_a_program_say_how_to_run_the_program():
    """`kleio NAME` runs Kleio's command even where a program NAME exists: the guide
    lists each such command with the way to run the program under Kleio."""
    import shutil

    shadowing = [
        command
        for command in COMMANDS
        if command in _POSIX_UTILITIES or shutil.which(command, path=_STANDARD_PATH)
    ]
    assert "cat" in shadowing and "ls" in shadowing
    running = (ROOT / "docs" / "running.rst").read_text(encoding="utf-8")
    for command in shadowing:
        assert f"``kleio run {command} ...``" in running, (
            f"`kleio {command}` shadows the program {command}: list `kleio run {command} "
            "...` in docs/running.rst (How kleio reads your command, rule 3)"
        )


def test_gitpython_is_imported_by_the_commands_that_work_with_history_only():
    assert "git" not in _imported(
        "-c", "import kleio.core.capture.code, kleio.core.capture.snapshot"
    )
    assert "git" in _imported(
        "-c", "import kleio.core.reading.repository; kleio.core.reading.repository._repository('.')"
    )


def test_the_dashboard_and_matplotlib_load_only_in_their_commands():
    heavy = {"kleio.ui", "kleio.ui.server", "kleio.ui.api", "http.server", "matplotlib"}
    for code in (
        ["-c", "import kleio"],
        ["-c", "from kleio.client.logger import kleio_logger"],
        ["-m", "kleio", "--help"],
        ["-m", "kleio", "ui", "--help"],
        ["-m", "kleio", "plot", "--help"],
    ):
        assert not heavy & _imported(*code), code


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """What an installation copies: setup.py's build_py, package data included (the
    tests run from an editable install, which sees the source tree whole)."""
    folder = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "-d", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return folder


def test_an_installation_copies_every_file_of_the_package(installed):
    """A folder without ``__init__.py``, such as the start-up hook's, is no package, and
    only package data brings its files: a ``pip install .`` once lacked the hook, and
    recorded no resolved configuration."""

    def files(root: Path) -> set[Path]:
        found = (root / "kleio").rglob("*")
        return {p.relative_to(root) for p in found if p.is_file() and "__pycache__" not in p.parts}

    assert files(ROOT) - files(installed) == set()
    assert Path("kleio/client/startup/sitecustomize.py") in files(installed)


def test_the_dashboards_page_and_assets_install_with_the_package(installed):
    """The page and everything it loads, from the package alone (no network, no CDN)."""
    import re

    static = ROOT / "kleio" / "ui" / "static"
    shipped = {path.name for path in (installed / "kleio" / "ui" / "static").iterdir()}
    assert shipped == {path.name for path in static.iterdir()}
    assert {"index.html", "app.js", "app.css", "uPlot.iife.min.js", "uPlot.LICENSE"} <= shipped
    page = (static / "index.html").read_text()
    loaded = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert loaded and all(
        url == "data:," or url.removeprefix("/static/") in shipped for url in loaded
    ), loaded
    for name in ("index.html", "app.js", "app.css"):
        assert not re.search(r"https?://", (static / name).read_text()), name


#: What each layer may import of Kleio besides itself and the modules every layer shares
#: (each package's docstring says the same in words). The core's sub-packages point
#: downward, from ``reading`` to ``model``; the store knows no trial; only the faces of
#: Kleio (cli, ui, client) import one another, the command line on top.
LAYERS: dict[str, tuple[str, ...]] = {
    "kleio.store": (),
    "kleio.core": (),  # its docstring, the map of its packages
    "kleio.core.model": ("kleio.store",),
    "kleio.core.capture": ("kleio.store", "kleio.core.model"),
    "kleio.core.running": ("kleio.store", "kleio.core.model", "kleio.core.capture"),
    "kleio.core.curation": ("kleio.store", "kleio.core.model"),
    "kleio.core.reading": (
        "kleio.store",
        "kleio.core.model",
        "kleio.core.capture",
        "kleio.core.curation",
    ),
    "kleio.client": ("kleio.store", "kleio.core"),
    "kleio.ui": ("kleio.store", "kleio.core", "kleio.client"),
    # Kleio seen from other frameworks (Optuna's journal): above the client, as a script.
    "kleio.integrations": ("kleio.store", "kleio.core", "kleio.client"),
    "kleio.cli": ("kleio.store", "kleio.core", "kleio.client", "kleio.ui", "kleio.integrations"),
    # The package's own face: `import kleio` loads the logger and the reading API lazily.
    "kleio.__init__": ("kleio.client",),
    "kleio.__main__": ("kleio.cli",),
}
#: Modules every layer may import: they know nothing of trials nor of any layer.
SHARED = (
    "kleio.value",
    "kleio.forking",
    "kleio.private_files",
    "kleio.codec",
    "kleio.redaction",
)


def _sources() -> dict[str, tuple[Path, str]]:
    """Every module of the package by dotted name (a package as ``NAME.__init__``)."""
    found = {}
    for path in sorted((ROOT / "kleio").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name] = (path.relative_to(ROOT), path.read_text(encoding="utf-8"))
    return found


def _kleio_imports(name: str, source: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import of Kleio in a module, wherever it stands:
    at the top, in a function or under ``TYPE_CHECKING``."""
    import ast

    package = name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}".rstrip(".")
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, target) for line, target in found if target.split(".")[0] == "kleio"]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _import_violations(sources: dict[str, tuple[Path, str]]) -> list[str]:
    violations = []
    for name, (path, source) in sources.items():
        if _within(name, SHARED):
            allowed: tuple[str, ...] = ()
        else:
            layer = max((layer for layer in LAYERS if _within(name, (layer,))), key=len)
            allowed = (layer, *LAYERS[layer])
        for line, target in _kleio_imports(name, source):
            if (
                target.count(".") == 1
                and f"{target}.__init__" not in sources
                and (target not in sources)
            ):
                continue  # a name the package itself defines: kleio.__version__
            if not _within(target, (*allowed, *SHARED)):
                violations.append(f"{path}:{line} imports {target}")
    return violations


def test_imports_point_downward_between_layers_and_between_the_cores_packages():
    assert _import_violations(_sources()) == []


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("kleio.core.model.trial", "from kleio.core.running.execution import Runner"),
        ("kleio.core.capture.code", "from kleio.core.reading import record"),
        ("kleio.store.base", "from kleio.core.model.trial import TrialDocument"),
        ("kleio.core.curation.removal", "import kleio.core.reading.selection"),
        ("kleio.client.logger", "    from kleio.cli.output import print_json"),
        ("kleio.core.model.view", "from ..running import execution"),
        ("kleio.value", "from kleio.core.model import errors"),
    ],
)
def test_the_import_rule_fails_on_an_import_that_points_upward(module, line):
    sources = _sources()
    path, source = sources[module]
    body = f"def _later():\n{line}\n" if line.startswith(" ") else f"{line}\n"
    sources[module] = (path, source + "\n" + body)
    assert len(_import_violations(sources)) == 1


def _map_entries(page: str) -> dict[str, str]:
    """The architecture page's paragraph for each folder, by the folder's path."""
    import re

    entries: dict[str, str] = {}
    folder = None
    for line in page.splitlines():
        term = re.match(r"^``(kleio/[\w/]*)``", line)
        if term:
            folder = term.group(1).rstrip("/") + "/"
            entries[folder] = ""
        elif folder is not None and (line.startswith(" ") or not line):
            entries[folder] += line + "\n"
        else:
            folder = None
    return entries


def _missing_from_the_map(page: str) -> list[str]:
    entries = _map_entries(page)
    missing = []
    for path in sorted((ROOT / "kleio").rglob("*.py")):
        folder = path.parent.relative_to(ROOT).as_posix() + "/"
        if path.name == "__init__.py" and folder in entries and folder != "kleio/":
            continue  # a package is its folder's paragraph
        owner = folder if folder in entries else path.parent.parent.relative_to(ROOT).as_posix()
        text = entries.get(owner, entries.get(owner + "/", ""))
        named = path.name if owner == folder else f"{path.parent.name}/{path.name}"
        if f"``{named}``" not in text:
            missing.append(path.relative_to(ROOT).as_posix())
    return missing


ARCHITECTURE = ROOT / "docs" / "architecture.rst"


def test_the_architecture_page_names_every_module_with_its_job():
    assert _missing_from_the_map(ARCHITECTURE.read_text(encoding="utf-8")) == []


def test_the_map_check_fails_when_a_module_is_left_out():
    page = ARCHITECTURE.read_text(encoding="utf-8")
    assert _missing_from_the_map(page.replace("``sink.py``", "the sink")) == [
        "kleio/core/running/sink.py"
    ]


def _unused_functions(sources: dict[str, tuple[Path, str]]) -> list[str]:
    """Module-level functions nothing calls or names: a private one (``_name``) within its
    module, a public one anywhere in the package (a table of names, a string given to
    ``getattr`` and ``module.name`` count as uses)."""
    import ast
    from collections import Counter

    trees = {name: ast.parse(source) for name, (_, source) in sources.items()}

    def uses(tree: ast.Module) -> Counter:
        found: Counter = Counter()
        docstrings = {  # words of prose are no use
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.Name):
                found[node.id] += 1
            elif isinstance(node, ast.Attribute):
                found[node.attr] += 1
            elif isinstance(node, ast.alias):
                found[node.name.rpartition(".")[2]] += 1
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(word for word in node.value.replace(":", " ").split())
        return found

    own = {name: uses(tree) for name, tree in trees.items()}
    everywhere = sum(own.values(), Counter())
    unused = []
    for name, tree in trees.items():
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("__"):
                continue
            counted = own[name] if node.name.startswith("_") else everywhere
            if counted[node.name] == 0:
                unused.append(f"{sources[name][0]}:{node.lineno} {node.name}")
    return unused


def test_every_module_level_function_is_used():
    assert _unused_functions(_sources()) == []


def test_the_unused_function_check_finds_one():
    sources = _sources()
    path, source = sources["kleio.core.model.clock"]
    sources["kleio.core.model.clock"] = (path, source + "\n\ndef _forgotten():\n    pass\n")
    sources["kleio.cli.output"] = (
        sources["kleio.cli.output"][0],
        sources["kleio.cli.output"][1] + "\n\ndef print_nothing():\n    pass\n",
    )
    assert [entry.split()[-1] for entry in _unused_functions(sources)] == [
        "print_nothing",
        "_forgotten",
    ]
