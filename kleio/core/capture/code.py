"""The code version of a run: a git snapshot, or the script's hash outside git.

Code identity is ``(commit, sha256 of the diff to HEAD)`` in git, the script's sha256
outside: a trial resumed with another identity ran different code.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from typing import Any

from kleio.core.capture.redact import without_credentials

#: Diffs up to this size are kept in the trial document; larger ones become a blob.
INLINE_DIFF = 512 * 1024


def sha256_file(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _git(cwd: str, *args: str) -> str | None:
    """Output of a git command, or None if git is missing or the command fails."""
    return _gits(cwd, [list(args)])[0]


def _gits(cwd: str, commands: list[list[str]]) -> list[str | None]:
    """Outputs of git commands run side by side (each None if git is missing or the
    command fails): a run's start waits for the slowest, not for their sum."""
    started = []
    for args in commands:
        try:
            started.append(
                subprocess.Popen(
                    ["git", *args],
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            )
        except OSError:
            started.append(None)
    outputs: list[str | None] = []
    for process in started:
        if process is None:
            outputs.append(None)
            continue
        try:
            stdout, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            outputs.append(None)
            continue
        outputs.append(
            stdout.decode("utf-8", "surrogateescape") if process.returncode == 0 else None
        )
    return outputs


#: The commands of a git snapshot, all run side by side from the folder: what they
#: print covers the whole repository, paths from its top (``--full-name :/``; a diff's
#: are, unless ``diff.relative`` is set).
_SNAPSHOT = [
    ["rev-parse", "--show-toplevel", "--git-common-dir", "--verify", "-q", "HEAD"],
    ["symbolic-ref", "-q", "--short", "HEAD"],
    ["-c", "diff.relative=false", "diff", "HEAD", "--binary"],
    ["ls-files", "--others", "--exclude-standard", "-z", "--full-name", ":/"],
    ["config", "--get-regexp", r"^(remote\..*\.url|kleio\.project)$"],
]
#: The git setting that names a repository's project when neither its ``origin`` nor
#: its folder does.
PROJECT_SETTING = "kleio.project"


def remote_name(url: str) -> str:
    """The repository's name in a remote's address: ``git@host:org/mnist.git``,
    ``https://host/org/mnist``, ``/srv/git/mnist.git`` and ``../mnist/.git`` are all
    ``mnist``; so is ``https://host/mnist.git?api_key=...`` (a query is no part of it)."""
    if "://" in url:
        url = url.split("#", 1)[0].split("?", 1)[0]
    path = url.rstrip("/").removesuffix("/.git").rstrip("/")
    name = path.replace(":", "/").rsplit("/", 1)[-1]
    return name.removesuffix(".git")


def repository_name(
    cwd: str, root: str, common_dir: str, setting: str | None, origin: str | None
) -> str:
    """The name of the repository holding ``cwd``, the same in every copy of it: the
    ``kleio.project`` setting if set; else the name in its ``origin`` remote's address
    (a clone in a folder of another name is the same repository); else the name of its
    main folder, the one holding the ``.git`` folder its working copies share (a ``git
    worktree`` named ``co`` is still ``mnist``); else the folder's own name."""
    if setting:
        return setting
    if origin and remote_name(origin):
        return remote_name(origin)
    shared = os.path.realpath(os.path.join(cwd, common_dir)) if common_dir else ""
    if os.path.basename(shared) == ".git":
        return os.path.basename(os.path.dirname(shared))
    if shared:
        return os.path.basename(shared).removesuffix(".git") or os.path.basename(root)
    return os.path.basename(root)


def repository_of(cwd: str) -> tuple[str, str] | None:
    """``(top folder, name)`` of the git repository holding ``cwd``, named as a run in it
    names its project (:func:`repository_name`); None outside git. Two git commands,
    none of the diff a snapshot reads."""
    found, setting_lines = _gits(
        cwd,
        [
            ["rev-parse", "--show-toplevel", "--git-common-dir"],
            ["config", "--get-regexp", r"^(remote\.origin\.url|kleio\.project)$"],
        ],
    )
    if found is None:
        return None
    root, common_dir = (found.split("\n") + [""])[:2]
    settings = dict(line.partition(" ")[::2] for line in (setting_lines or "").splitlines())
    setting = settings.get(PROJECT_SETTING, "").strip() or None
    origin = settings.get("remote.origin.url")
    return root, repository_name(cwd, root, common_dir, setting, origin)


def _git_snapshot(cwd: str) -> dict[str, Any] | None:
    """The repository holding ``cwd``, read with five git commands side by side (a few
    milliseconds: the start waits for the slowest, where it waited for two rounds).

    Runs git directly rather than through GitPython, whose import alone costs about
    80 ms: a third of Kleio's whole start-up budget, paid on every run.
    """
    head, branch, diff, untracked, setting_lines = _gits(cwd, _SNAPSHOT)
    if head is None:
        found = _git(cwd, "rev-parse", "--show-toplevel", "--git-common-dir")
        if found is None:
            return None  # not in a repository, or no git
        (root, common_dir), commit = found.split("\n")[:2], None  # no commits yet
    else:
        root, common_dir, commit = head.split("\n")[:3]
    diff = (diff or "") if commit else ""
    remotes: dict[str, str] = {}
    project = None
    for line in (setting_lines or "").splitlines():
        key, _, value = line.partition(" ")
        if key == PROJECT_SETTING:
            project = value.strip() or None
        else:
            remotes.setdefault(key[len("remote.") : -len(".url")], without_credentials(value))
    return {
        "type": "git",
        "root": root,
        "repository": repository_name(cwd, root, common_dir, project, remotes.get("origin")),
        "commit": commit,
        "branch": branch.strip() or None if branch else None,
        "remotes": remotes,
        "dirty": bool(diff),
        "diff": diff,
        "diff_sha256": hashlib.sha256(diff.encode("utf-8", "surrogateescape")).hexdigest(),
        "changed_files": files_in(diff),
        "untracked": [name for name in (untracked or "").split("\0") if name],
    }


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(text: str) -> tuple[str, str]:
    """The first path of a ``diff --git`` header, and the rest of the line.

    git quotes a path holding non-ASCII or special characters C-style:
    ``"a/donn\\303\\251es.py"``; others are written as they are.
    """
    if not text.startswith('"'):
        return text, ""
    raw, index = bytearray(), 1
    while index < len(text) and text[index] != '"':
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if following in "01234567":
                raw.append(int(text[index + 1 : index + 4], 8))
                index += 4
                continue
            raw.append(_ESCAPES.get(following, ord(following)))
            index += 2
            continue
        raw.extend(char.encode("utf-8", "surrogateescape"))
        index += 1
    return raw.decode("utf-8", "surrogateescape"), text[index + 2 :]


def files_in(diff: str) -> list[str]:
    """The files a ``git diff`` touches (new names), from its ``diff --git`` headers."""
    files = []
    for line in diff.splitlines():
        if not line.startswith("diff --git "):
            continue
        paths = line[len("diff --git ") :]
        if paths.startswith('"'):  # the old name first, then the new one
            rest = _unquote(paths)[1]
            new = _unquote(rest)[0] if rest.startswith('"') else rest
        elif ' "b/' in paths:
            new = _unquote(paths[paths.index(' "b/') + 1 :])[0]
        else:
            new = "b/" + paths.rsplit(" b/", 1)[-1]
        files.append(new[2:] if new.startswith("b/") else new)
    return files


def code_snapshot(cwd: str, program: str | None) -> dict[str, Any]:
    """What code ran: that of the repository holding the program when it is a file
    (``python ../elsewhere/tiny.py`` is versioned by its own repository, or by its hash
    outside any), else that of the repository holding ``cwd`` (``python -c``, a program
    on the ``PATH``), else the program's hash."""
    path = os.path.join(cwd, program) if program else None
    is_file = path is not None and os.path.isfile(path)
    snapshot = _git_snapshot(os.path.dirname(os.path.abspath(path)) if is_file else cwd)
    if snapshot is not None:
        return snapshot
    return {
        "type": "file",
        "path": program,
        "sha256": sha256_file(path) if is_file else None,
    }


def code_identity(snapshot: dict[str, Any]) -> str:
    """Two runs with the same identity ran the same code."""
    if snapshot.get("type") == "git":
        return f"git:{snapshot.get('commit')}:{snapshot.get('diff_sha256')}"
    return f"file:{snapshot.get('sha256')}"


def describe_code_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``commit 1a2b3c4 -> 5d6e7f8; changed files: train.py, model.py``."""
    if old.get("type") != new.get("type"):
        return f"code was {old.get('type')}, is now {new.get('type')}"
    if new.get("type") != "git":
        return (
            f"{new.get('path')} changed (sha256 {str(old.get('sha256'))[:12]} -> "
            f"{str(new.get('sha256'))[:12]})"
        )
    parts = []
    if old.get("commit") != new.get("commit"):
        parts.append(f"commit {str(old.get('commit'))[:7]} -> {str(new.get('commit'))[:7]}")
    if old.get("diff_sha256") != new.get("diff_sha256"):
        parts.append("uncommitted changes differ")
    files = changed_files_between(old, new)
    if files:
        shown = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
        parts.append(f"changed files: {shown}")
    return "; ".join(parts)


def changed_files_between(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Files that differ between two git snapshots of one repository."""
    names = set(old.get("changed_files") or ()) | set(new.get("changed_files") or ())
    if old.get("commit") and new.get("commit") and old["commit"] != new["commit"]:
        # None when the old commit is gone (rebased away): say what we can.
        between = _git(new["root"], "diff", "--name-only", old["commit"], new["commit"])
        names |= set((between or "").splitlines())
    return sorted(names)
