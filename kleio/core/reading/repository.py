"""The code a trial ran, rebuilt with git: the state it recorded (a commit and the
uncommitted diff), the commits between two states, and a working copy of one.

GitPython is imported here, by the commands that work with history (``kleio diff``,
``kleio checkout``), never on the path of a run (its import costs about 80 ms).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kleio.core.capture.code import code_identity, code_snapshot, files_in
from kleio.core.model.errors import KleioError
from kleio.core.model.trial import TrialDocument, short_id
from kleio.store.base import Store

_BINARY = re.compile(r"^Binary files .* differ$", re.M)


class CodeUnavailable(KleioError):
    """The recorded code cannot be rebuilt (no git, commit gone, folder in the way)."""


def recorded_diff(store: Store, version: dict[str, Any]) -> str:
    """The uncommitted diff a trial ran with (stored in a blob when large)."""
    if version.get("diff_blob"):
        data = b"".join(store.read_blob(version["diff_blob"]))
        return data.decode("utf-8", "surrogateescape")
    return version.get("diff") or ""


def split_diff(diff: str) -> list[tuple[str, str]]:
    """``(file, its part of the diff)`` for each file a ``git diff`` touches."""
    parts = re.split(r"(?m)^(?=diff --git )", diff)
    chunks = [part for part in parts if part.startswith("diff --git ")]
    return [(files_in(chunk)[0], chunk) for chunk in chunks]


def _repository(root: str | None):
    """The git repository at ``root``, or None when it is not at hand."""
    import git

    if not root or not os.path.isdir(root):
        return None
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def _has_commit(repo, commit: str | None) -> bool:
    import git

    if repo is None or not commit:
        return False
    try:
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
        return True
    except git.GitCommandError:
        return False


def repository_with(version: dict[str, Any]):
    """The recorded repository if it is at hand and holds the recorded commit, else None."""
    repo = _repository(version.get("root"))
    return repo if _has_commit(repo, version.get("commit")) else None


@contextmanager
def _bytes_file(text: str) -> Iterator[Any]:
    with tempfile.TemporaryFile() as stream:
        stream.write(text.encode("utf-8", "surrogateescape"))
        stream.seek(0)
        yield stream


def state_tree(repo, commit: str, diff: str) -> str:
    """The tree of ``commit`` with ``diff`` applied, written to the repository's object
    store through a temporary index: the user's index and files are untouched."""
    with tempfile.TemporaryDirectory() as folder:
        env = {"GIT_INDEX_FILE": os.path.join(folder, "index")}
        repo.git.read_tree(commit, env=env)
        applicable = "".join(chunk for _, chunk in split_diff(diff) if not _BINARY.search(chunk))
        if applicable:
            with _bytes_file(applicable) as stream:
                repo.git.apply("--cached", "--binary", "-", istream=stream, env=env)
        return repo.git.write_tree(env=env)


@dataclass
class CodeDifference:
    """What differs between the code of two trials."""

    same: bool
    commits: list[dict[str, str]] | None = None  # None: the repository is not at hand
    direction: str = ""
    diff: str = ""
    files: list[str] = field(default_factory=list)
    note: str = ""


def code_difference(store: Store, a: dict[str, Any], b: dict[str, Any]) -> CodeDifference:
    """The commits between two recorded code states and the diff from one to the other,
    with git when the repository is at hand, from the recorded diffs otherwise."""
    import git

    if a.get("type") != "git" or b.get("type") != "git":
        same = a.get("sha256") == b.get("sha256") and a.get("type") == b.get("type")
        note = "" if same else f"script sha256 {a.get('sha256')} -> {b.get('sha256')}"
        return CodeDifference(same=same, note=note or "not in a git repository")
    diff_a, diff_b = recorded_diff(store, a), recorded_diff(store, b)
    if a.get("commit") == b.get("commit") and diff_a == diff_b:
        return CodeDifference(same=True, commits=[])
    repo = repository_with(a)
    if repo is None or not _has_commit(repo, b.get("commit")):
        return _recorded_difference(a, b, diff_a, diff_b)
    try:
        commits, direction = _commits_between(repo, a["commit"], b["commit"])
        tree_a = state_tree(repo, a["commit"], diff_a)
        tree_b = state_tree(repo, b["commit"], diff_b)
        patch = repo.git.diff(tree_a, tree_b, "--binary", stdout_as_string=False)
        files = repo.git.diff(tree_a, tree_b, "--name-only").splitlines()
    except git.GitCommandError as error:
        difference = _recorded_difference(a, b, diff_a, diff_b)
        difference.note = f"git failed ({_first_line(error)}); " + difference.note
        return difference
    return CodeDifference(
        same=False,
        commits=commits,
        direction=direction,
        diff=patch.decode("utf-8", "surrogateescape"),
        files=files,
    )


def _commits_between(repo, old: str, new: str) -> tuple[list[dict[str, str]], str]:
    def listed(spec: str) -> list[dict[str, str]]:
        return [
            {"commit": c.hexsha, "summary": c.summary if isinstance(c.summary, str) else ""}
            for c in repo.iter_commits(spec)
        ]

    if old == new:
        return [], "same commit"
    forward, backward = listed(f"{old}..{new}"), listed(f"{new}..{old}")
    if not backward:
        return forward, "ahead"
    if not forward:
        return backward, "behind"
    return forward + backward, "diverged"


def _recorded_difference(
    a: dict[str, Any], b: dict[str, Any], diff_a: str, diff_b: str
) -> CodeDifference:
    """Without the repository: what the recorded diffs tell."""
    import difflib

    files = sorted(set(a.get("changed_files") or ()) | set(b.get("changed_files") or ()))
    text = "".join(
        difflib.unified_diff(
            diff_a.splitlines(keepends=True),
            diff_b.splitlines(keepends=True),
            "first trial's uncommitted diff",
            "second trial's uncommitted diff",
        )
    )
    root = a.get("root") or "?"
    if _repository(a.get("root")) is None:
        note = f"the repository {root} is not at hand"
    else:
        missing = a.get("commit") if repository_with(a) is None else b.get("commit")
        note = f"commit {str(missing)[:12]} is not in the repository {root}"
    note += ": compared the recorded uncommitted diffs"
    return CodeDifference(same=False, commits=None, diff=text, files=files, note=note)


def _first_line(error: Exception) -> str:
    text = getattr(error, "stderr", "") or str(error)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0].removeprefix("stderr: ").strip("'") if lines else type(error).__name__


# -- checkout --------------------------------------------------------------------------


@dataclass
class Checkout:
    """A working copy of a trial's code, and how to run the trial there.

    ``where`` is the folder the trial ran in, inside the copy; ``argv`` its command line
    as recorded, templates (``{trial.working_dir}``) kept, for Kleio expands them as it
    did for the trial, and the command line as written is the trial's identity.
    ``project`` is the trial's project when the copy would not be it by default (a
    ``--project`` given when it ran), else None. ``same_code`` says whether the copy's
    code is what the trial ran (not when a change could not be restored): only then does
    running ``argv`` there find the trial.
    """

    folder: Path
    how: str  # "worktree" or "clone from URL"
    where: Path
    argv: list[str]
    project: str | None = None
    same_code: bool = True
    not_restored: list[str] = field(default_factory=list)


def checkout_trial(store: Store, document: TrialDocument, destination: str) -> Checkout:
    """Rebuild the trial's code in ``destination`` (see ``kleio checkout``)."""
    import git

    label = short_id(document["_id"])
    version = document.get("version") or {}
    if version.get("type") != "git":
        raise CodeUnavailable(
            f"trial {label} did not run in a git repository (its script: "
            f"{version.get('path') or '-'}, sha256 {str(version.get('sha256'))[:12]}); "
            "there is no commit to check out"
        )
    commit = version.get("commit")
    if not commit:
        raise CodeUnavailable(f"trial {label} ran in a repository without commits")
    folder = Path(destination).expanduser().absolute()
    if folder.is_symlink():  # following it would write where the user did not name
        raise CodeUnavailable(
            f"{destination} is a symbolic link: name a new or empty folder, not a link"
        )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CodeUnavailable(f"{destination} is not an empty folder: choose a new one")
    diff = recorded_diff(store, version)
    chunks = split_diff(diff)
    skipped = [name for name, chunk in chunks if _BINARY.search(chunk)]
    applicable = "".join(chunk for _, chunk in chunks if not _BINARY.search(chunk))
    created, repo = not folder.exists(), None
    try:
        repo = repository_with(version)
        if repo is not None:
            repo.git.worktree("add", "--detach", str(folder), commit)
            how = f"worktree of {version.get('root')}"
        else:
            how = _clone(version, folder, label)
        if applicable:
            with _bytes_file(applicable) as stream:
                git.Repo(folder).git.apply("--binary", "--whitespace=nowarn", "-", istream=stream)
    except (git.GitError, CodeUnavailable) as error:
        _undo(folder, created, repo)
        if isinstance(error, CodeUnavailable):
            raise
        raise CodeUnavailable(f"git failed: {_first_line(error)}") from None
    not_restored = [f"{name} (binary change not recorded)" for name in skipped]
    not_restored += [f"{name} (untracked, not recorded)" for name in version.get("untracked") or []]
    relative = os.path.relpath(document.get("cwd") or version["root"], version["root"])
    where = folder if relative == "." else folder / relative
    # What `kleio COMMAND` run there will take for the trial's project and code.
    rebuilt = code_snapshot(str(where), document.get("program"))
    project = document.get("project")
    return Checkout(
        folder,
        how,
        where,
        list(document.get("commandline") or []),
        project=None if rebuilt.get("repository") == project else project,
        same_code=code_identity(rebuilt) == document.get("code_identity"),
        not_restored=not_restored,
    )


#: How a remote's address may reach a repository: git's own transports. Anything else
#: (``ext::COMMAND``, ``fd::``, a remote helper's ``NAME::``, an address starting with
#: ``-`` that git would read as an option) may run a command: a recorded remote comes
#: from the journal, which anyone may have written (an imported archive).
_SAFE_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://", "git+ssh://")
_SCP_LIKE = re.compile(r"(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!:)[^\s]*")


def safe_remote(url: Any) -> bool:
    """Whether cloning ``url`` runs nothing but git's own transports."""
    if not isinstance(url, str) or not url or url.startswith("-") or "::" in url:
        return False
    if "://" in url:
        return url.lower().startswith(_SAFE_SCHEMES)
    return _SCP_LIKE.fullmatch(url) is not None or not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url)


def _clone(version: dict[str, Any], folder: Path, label: str) -> str:
    """Clone a recorded remote that has the commit; the error names them all."""
    import git

    commit = version["commit"]
    remotes = version.get("remotes") or {}
    if not isinstance(remotes, dict):
        remotes = {}
    unsafe = [name for name, url in remotes.items() if not safe_remote(url)]
    for name, url in remotes.items():
        if name in unsafe:
            continue
        try:
            clone = git.Repo.clone_from(url, folder, no_checkout=True)
        except git.GitError:  # unreachable, or refused by GitPython's own checks
            _undo(folder, created=False, repo=None)
            continue
        if _has_commit(clone, commit):
            clone.git.checkout("--detach", commit)
            return f"clone of {name} ({url})"
        _undo(folder, created=False, repo=None)
    listed = ", ".join(f"{name}={url}" for name, url in remotes.items()) or "none"
    skipped = (
        f" (not tried, as their transport could run a command: {', '.join(unsafe)})"
        if unsafe
        else ""
    )
    raise CodeUnavailable(
        f"commit {commit} of trial {label} is not in the repository at "
        f"{version.get('root')} (rebased away?) nor in a recorded remote; remotes recorded: "
        f"{listed}{skipped}"
    )


def _undo(folder: Path, created: bool, repo) -> None:
    """Leave ``folder`` as it was: removed if it was made here, emptied otherwise."""
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    if repo is not None:
        import git

        try:
            repo.git.worktree("prune")
        except git.GitCommandError:
            pass  # a stale entry is harmless; the error that brought us here matters
    if not created:
        folder.mkdir(parents=True, exist_ok=True)
