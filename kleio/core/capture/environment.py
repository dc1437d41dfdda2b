"""The software environment of a run: the interpreter that runs the script and its
installed distributions, and the operating system.

Listing distributions means starting the script's interpreter, which costs a tenth of a
second or more. The result is cached in ``$KLEIO_HOME/cache`` and reused while the
interpreter and every folder of its import path keep their modification time: installing,
upgrading or removing a package touches its ``site-packages`` folder, so the cache
never hides a change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from kleio.core.capture.programs import which
from kleio.core.model.commandline import Command
from kleio.core.model.trial import canonical_json
from kleio.private_files import private_folder, private_opener

_PROBE = r"""
import json, os, platform, sys
cwd = os.getcwd()
sys.path = [p for p in sys.path if p and os.path.abspath(p) != cwd]
from importlib import metadata
packages = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        packages.setdefault(name.lower().replace("_", "-").replace(".", "-"), dist.version)
print(json.dumps({
    "implementation": platform.python_implementation(),
    "version": platform.python_version(),
    "executable": sys.executable,
    "prefix": sys.prefix,
    "path": [os.path.abspath(p) for p in sys.path],  # missing folders too: created later
    "packages": dict(sorted(packages.items())),
}))
"""


def _operating_system() -> dict[str, str]:
    # What platform.system(), release() and machine() say on POSIX, without importing
    # platform: a run's start would pay for it.
    system = os.uname()
    return {"system": system.sysname, "release": system.release, "machine": system.machine}


def _stamp(paths: list[str]) -> dict[str, int]:
    stamps = {}
    for path in paths:
        try:
            stamps[path] = os.stat(path).st_mtime_ns
        except OSError:
            stamps[path] = -1
    return stamps


def _probe(interpreter: str, environ: dict[str, str], cwd: str) -> dict[str, Any] | None:
    try:
        result = subprocess.run(
            [interpreter, "-c", _PROBE],
            env=environ,
            cwd=cwd,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _is_binary(path: str) -> bool:
    """Whether ``path`` is an interpreter itself, not a script choosing one (a pyenv or
    conda shim), whose answer may change without any file of ours changing."""
    try:
        with open(path, "rb") as stream:
            return stream.read(2) != b"#!"
    except OSError:
        return False


def python_environment(
    interpreter: str, environ: dict[str, str], cwd: str, cache: Path | None
) -> dict[str, Any] | None:
    """The interpreter's version and distributions, from the cache when still valid."""
    resolved = which(interpreter, path=environ.get("PATH"))
    if resolved is None:
        return None
    key = hashlib.sha256(
        canonical_json(
            [
                os.path.realpath(resolved),
                resolved,
                environ.get("PYTHONPATH", ""),
                environ.get("PYTHONNOUSERSITE", ""),
            ]
        ).encode()
    ).hexdigest()[:24]
    cache_file = cache / f"python-{key}.json" if cache and _is_binary(resolved) else None
    if cache_file is not None:
        try:
            cached = json.loads(cache_file.read_text())
            if cached["stamps"] == _stamp(list(cached["stamps"])):
                return cached["python"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    probed = _probe(resolved, environ, cwd)
    if probed is None:
        return None
    if cache_file is not None:
        stamps = _stamp([os.path.realpath(resolved), *probed["path"]])
        try:
            private_folder(cache_file.parent)
            temporary = cache_file.with_suffix(f".{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8", opener=private_opener) as stream:
                stream.write(json.dumps({"stamps": stamps, "python": probed}))
            os.replace(temporary, cache_file)
        except OSError:
            pass  # a cache we cannot write only costs time
    return probed


def environment_snapshot(
    command: Command, environ: dict[str, str], cwd: str, cache: Path | None = None
) -> dict[str, Any]:
    """Python (when the command runs one) and the operating system."""
    python = None
    if command.interpreter:
        python = python_environment(command.interpreter, environ, cwd, cache)
    snapshot: dict[str, Any] = {"os": _operating_system(), "python": None, "packages": {}}
    if python is not None:
        snapshot["python"] = {
            key: python[key] for key in ("implementation", "version", "executable", "prefix")
        }
        snapshot["packages"] = python["packages"]
    return snapshot


def environment_identity(snapshot: dict[str, Any]) -> str:
    """Runs with the same identity used the same interpreter, packages and kind of OS.

    The kernel release and the host are left out: they vary across the nodes of a
    cluster without changing what the script computes, and are recorded per execution.
    """
    python = snapshot.get("python") or {}
    os_info = snapshot.get("os") or {}
    essence = {
        "implementation": python.get("implementation"),
        "version": python.get("version"),
        "system": os_info.get("system"),
        "machine": os_info.get("machine"),
        "packages": snapshot.get("packages") or {},
    }
    return hashlib.sha256(canonical_json(essence).encode()).hexdigest()[:16]


def describe_environment_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``python 3.11.7 -> 3.12.1; numpy 1.26.0 -> 2.0.0; added torch 2.3.0``."""
    parts = []
    old_python, new_python = old.get("python") or {}, new.get("python") or {}
    if old_python.get("version") != new_python.get("version"):
        parts.append(f"python {old_python.get('version')} -> {new_python.get('version')}")
    before, after = old.get("packages") or {}, new.get("packages") or {}
    for name in sorted(set(before) | set(after)):
        if name not in before:
            parts.append(f"added {name} {after[name]}")
        elif name not in after:
            parts.append(f"removed {name} {before[name]}")
        elif before[name] != after[name]:
            parts.append(f"{name} {before[name]} -> {after[name]}")
    old_os, new_os = old.get("os") or {}, new.get("os") or {}
    for key in ("system", "machine"):
        if old_os.get(key) != new_os.get(key):
            parts.append(f"{key} {old_os.get(key)} -> {new_os.get(key)}")
    if len(parts) > 8:
        parts = parts[:8] + [f"and {len(parts) - 8} more"]
    return "; ".join(parts)
