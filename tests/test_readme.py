"""Every shell example of the README runs, and prints what the README says it prints.

In a code block, a line starting with ``$ `` is a command; the lines after it, up to the
next command, are its documented output. The commands of the whole README run in order,
in a temporary git repository holding ``examples/``, with a fresh ``KLEIO_HOME``.

In commands, ``<some-id-string>`` stands for the id of the last trial a command reported
(reserved, saved or branched). In documented output, ``<id>`` is a full trial id,
``<short>`` a short one, ``<...>`` any text, a line ``...`` any number of lines, and a run
of spaces any run of spaces. Documented lines must appear in that order in what the
command printed (stdout and stderr, as a terminal shows them); other lines may come
between them. A command whose
documented output holds ``kleio: error:`` must fail; every other command must succeed. A
command ending with ``&`` runs in the background until the end of its block.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import clean_environment, text

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"
PLACEHOLDERS = {"<id>": "[0-9a-f]{32}", "<short>": "[0-9a-f]{7}", "<...>": ".+"}
ID_REPORTS = re.compile(r"(?:reserved|saved) with id: ([0-9a-f]{32})")


def shell_examples(source: str) -> list[list[tuple[str, list[str]]]]:
    """Blocks of (command, documented output lines) from the README's code blocks."""
    blocks, block, in_code = [], None, False
    for line in source.splitlines():
        if line.startswith(".. code"):
            in_code, block = True, []
            blocks.append(block)
            continue
        if in_code and line and not line.startswith(" "):
            in_code = False
        if not in_code or not line.strip():
            continue
        content = line.strip()
        if content.startswith("$ "):
            block.append((content[2:], []))
        elif block:
            block[-1][1].append(content)
    return [block for block in blocks if block]


def _pattern(line: str) -> re.Pattern:
    pieces = re.split(r"(<id>|<short>|<\.\.\.>| {2,})", line)
    regex = "".join(
        PLACEHOLDERS.get(piece, r"\s+" if piece.startswith("  ") else re.escape(piece))
        for piece in pieces
        if piece
    )
    return re.compile(regex)


def check_output(command: str, documented: list[str], printed: str) -> None:
    lines = printed.splitlines()
    position = 0
    for expected in documented:
        if expected == "...":
            continue
        pattern = _pattern(expected)
        while position < len(lines) and not pattern.search(lines[position]):
            position += 1
        assert position < len(lines), (
            f"`$ {command}` should print a line like {expected!r}; it printed:\n{printed}"
        )
        position += 1


@pytest.mark.slow
def test_every_shell_example_of_the_readme_prints_what_it_documents(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples", project / "examples")
    env = clean_environment(tmp_path / "kleio-home")
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=r", "-c", "user.email=r@example.org", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    blocks = shell_examples(README.read_text(encoding="utf-8"))
    commands = sum(len(block) for block in blocks)
    assert commands >= 15, "the README should show its commands with `$ ` prompts"
    last_id = None
    for block in blocks:
        background = []
        for command, documented in block:
            assert "<some-id-string>" not in command or last_id, f"no trial yet for {command}"
            line = command.replace("<some-id-string>", last_id or "")
            if line.endswith("&"):
                background.append(
                    subprocess.Popen(
                        ["bash", "-c", line[:-1]],
                        cwd=project,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                time.sleep(1.5)  # let it take its trial
                continue
            # Both streams in one pipe: their lines come in the order a terminal shows.
            result = subprocess.run(
                ["bash", "-c", line],
                cwd=project,
                env=env,
                timeout=120,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            printed = text(result.stdout)
            failing = any("kleio: error:" in expected for expected in documented)
            assert (result.returncode != 0) == failing, (
                f"`$ {line}` exited {result.returncode}:\n{printed}"
            )
            assert "Traceback" not in printed, printed
            check_output(line, documented, printed)
            found = ID_REPORTS.findall(printed)
            last_id = found[-1] if found else last_id
        for process in background:
            assert process.wait(120) == 0
