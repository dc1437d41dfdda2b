"""The documentation's printed samples are what ``kleio`` prints: each is made again here.

A console block of ``docs/*.rst`` that follows the comment ``.. printed by kleio`` is a
printed sample (the comment is not shown in the built docs). Its lines starting with
``$ `` are commands; the lines after one, up to the next, are all it prints, stdout and
stderr as a terminal shows them (``...`` alone on a line: any number of lines). The
samples of one page run in order, in a fresh git repository holding ``examples/`` and a
fresh ``KLEIO_HOME``, and each command's output must be its sample's, line for line.

Only what must differ from one run to the next is made alike, on both sides, before
comparing (:data:`VARYING`): a trial id reads ``<id>``, a short id ``<short>``, a time
``<time>``, a duration ``<duration>``, this machine's name ``<host>``, the temporary
folders ``<project>`` and ``<home>``; a run of spaces is one (columns stay aligned
whatever their width). A sample may write these placeholders itself. An id a sample
shows as reported (``trial reserved with id: 5d6a2f3...``) stands for the id the run
reported wherever a later command of the page names it, in full or short.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import clean_environment, text

ROOT = Path(__file__).resolve().parents[1]
#: The comment that marks the console block after it as a printed sample.
MARKER = ".. printed by kleio"
#: What varies between runs -> its placeholder, in the order they are replaced (a short
#: id before a duration: ``123456d`` is an id, not days).
VARYING = [
    (re.compile(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?Z?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"(?<![\w.-])[0-9a-f]{7}(?![\w-])"), "<short>"),
    # clock.duration's forms: 4.2s, 2m05s, 1h02m03s, 3d04h05m.
    (re.compile(r"\b(\d+\.\ds|\d+m\d\ds|\d+h\d\dm\d\ds|\d+d\d\dh\d\dm)\b"), "<duration>"),
]
ID_REPORTS = re.compile(r"(?:reserved|saved) with id: ([0-9a-f]{32})")


def printed_samples(source: str) -> list[list[tuple[str, list[str]]]]:
    """The printed samples of a page: each a list of ``(command, printed lines)``."""
    samples: list[list[tuple[str, list[str]]]] = []
    marked, sample = False, None
    for line in source.splitlines():
        if line.startswith(MARKER):
            marked = True
        elif marked and line.startswith(".. code-block:: console"):
            marked, sample = False, []
            samples.append(sample)
        elif sample is not None and line and not line.startswith(" "):
            sample = None
        elif sample is not None and line.strip():
            if line.strip().startswith("$ "):
                sample.append((line.strip()[2:], []))
            else:
                assert sample, f"a printed sample starts with its command, not {line!r}"
                sample[-1][1].append(line[4:].rstrip())
    assert not marked, f"{MARKER} is followed by no console block"
    return samples


def normalized(line: str, places: dict[str, str]) -> str:
    for folder, placeholder in places.items():
        line = line.replace(folder, placeholder)
    for pattern, placeholder in VARYING:
        line = pattern.sub(placeholder, line)
    return re.sub(r" {2,}", " ", line).rstrip()


def _pattern(documented: list[str]) -> re.Pattern:
    """The printed text a sample's lines stand for (``...``: any lines)."""
    pieces = [
        r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in documented
    ]
    return re.compile("".join(pieces))


def check(command: str, documented: list[str], printed: str, places: dict[str, str]) -> None:
    expected = [line if line == "..." else normalized(line, {}) for line in documented]
    got = "".join(normalized(line, places) + "\n" for line in printed.splitlines())
    assert _pattern(expected).fullmatch(got), (
        f"`$ {command}` printed (made alike):\n{got}\nits sample says:\n" + "\n".join(expected)
    )


def _project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples", project / "examples")
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=r", "-c", "user.email=r@example.org", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    return project, clean_environment(tmp_path / "kleio-home")


def run_page(page: Path, tmp_path: Path) -> int:
    """Run the printed samples of ``page`` and check each; how many commands ran."""
    samples = printed_samples(page.read_text(encoding="utf-8"))
    project, env = _project(tmp_path)
    places = {
        str(project): "<project>",
        env["KLEIO_HOME"]: "<home>",
        socket.gethostname(): "<host>",
    }
    reported: dict[str, str] = {}  # an id as the page shows it -> the run's
    count = 0
    for sample in samples:
        for command, documented in sample:
            line = command
            for shown, real in reported.items():
                line = line.replace(shown, real).replace(shown[:7], real[:7])
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
            assert "Traceback" not in printed, printed
            check(command, documented, printed, places)
            shown_ids = ID_REPORTS.findall("\n".join(documented))
            reported.update(zip(shown_ids, ID_REPORTS.findall(printed), strict=True))
            count += 1
    return count


#: The pages with printed samples, each run on its own.
PAGES = sorted(
    page
    for page in (ROOT / "docs").glob("*.rst")
    if printed_samples(page.read_text(encoding="utf-8"))
)


def test_the_quick_start_is_a_page_of_printed_samples():
    assert ROOT / "docs" / "quickstart.rst" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_printed_sample_is_what_kleio_prints(page, tmp_path):
    assert run_page(page, tmp_path) >= 1


def test_a_sample_that_drifts_by_one_word_is_told():
    places: dict[str, str] = {}
    printed = "ID  STATUS\n3d8701e  completed\n"
    check("kleio ls", ["ID       STATUS", "5d6a2f3  completed"], printed, places)
    with pytest.raises(AssertionError, match="its sample says"):
        check("kleio ls", ["ID       STATUS", "5d6a2f3  broken"], printed, places)
    with pytest.raises(AssertionError, match="its sample says"):  # a line left out
        check("kleio ls", ["ID       STATUS"], printed, places)
