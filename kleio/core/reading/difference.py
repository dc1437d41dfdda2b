"""What differs between two trials: configuration, code, environment, hosts and
statistic summaries (``kleio diff A B``).

The configuration compared is what each script ran with
(:func:`~kleio.core.capture.resolved.resolved_configuration`): two trials of one command
line whose scripts' defaults differ (``--epochs`` defaulting to 3, then 5) differ, and a
value given on one command line and left to its default on the other is a change, not
an addition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kleio.core.capture.resolved import FIELD as RESOLVED
from kleio.core.capture.resolved import default_keys, resolved_configuration
from kleio.core.model.trial import TrialDocument, canonical_json
from kleio.core.reading.query import flatten
from kleio.core.reading.record import TrialRecord
from kleio.core.reading.repository import CodeDifference, code_difference
from kleio.core.reading.summaries import aggregate, view_summaries

#: The aggregates shown side by side for each statistic key.
SHOWN = ("last", "min", "max", "count")


def mapping_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``{"added": {k: v}, "removed": {k: v}, "changed": {k: [old, new]}}``."""
    return {
        "added": {key: new[key] for key in new if key not in old},
        "removed": {key: old[key] for key in old if key not in new},
        "changed": {
            key: [old[key], new[key]]
            for key in old
            if key in new and canonical_json(old[key]) != canonical_json(new[key])
        },
    }


def _hosts(record: TrialRecord) -> list[dict[str, Any]]:
    """The distinct hosts the trial ran on, in order."""
    seen: dict[str, dict[str, Any]] = {}
    for execution in record.executions:
        host = execution.get("host") or {}
        described = {
            "hostname": host.get("hostname"),
            "cpu": (host.get("cpu") or {}).get("model"),
            "cpus": (host.get("cpu") or {}).get("count"),
            "memory": host.get("memory"),
            "gpus": [gpu.get("name") for gpu in host.get("gpus") or []],
            "gpu_driver": host.get("gpu_driver"),
        }
        seen.setdefault(canonical_json(described), described)
    return list(seen.values())


def _environment(record: TrialRecord) -> dict[str, Any]:
    environment = record.document.get("environment") or {}
    python = environment.get("python") or {}
    system = environment.get("os") or {}
    return {
        "python": f"{python.get('implementation') or ''} {python.get('version') or ''}".strip(),
        "os": " ".join(str(system.get(k) or "") for k in ("system", "release", "machine")).strip(),
        "packages": environment.get("packages") or {},
    }


def _configuration(document: TrialDocument) -> tuple[dict[str, Any], list[str]]:
    """The trial's resolved configuration, flattened, and which of its keys are
    defaults its script's parser filled in (a nested default's keys included)."""
    configuration = resolved_configuration(document)
    defaults = default_keys(document)
    return flatten(configuration), list(flatten({k: configuration[k] for k in defaults}))


def trial_difference(a: TrialRecord, b: TrialRecord) -> dict[str, Any]:
    """Every section of ``kleio diff``, as JSON-ready data."""
    env_a, env_b = _environment(a), _environment(b)
    code: CodeDifference = code_difference(
        a.store, a.document.get("version") or {}, b.document.get("version") or {}
    )
    summaries = view_summaries(a.store, [a.document, b.document])
    stats_a, stats_b = summaries[a.id], summaries.get(b.id, {})
    statistics = {}
    for key in dict.fromkeys([*stats_a, *stats_b]):
        statistics[key] = {
            name: [
                aggregate(stats_a.get(key), name),
                aggregate(stats_b.get(key), name),
            ]
            for name in SHOWN
        }
    hosts_a, hosts_b = _hosts(a), _hosts(b)
    version_a, version_b = a.document.get("version") or {}, b.document.get("version") or {}
    config_a, defaults_a = _configuration(a.document)
    config_b, defaults_b = _configuration(b.document)
    return {
        "trials": [a.id, b.id],
        "configuration": mapping_difference(config_a, config_b),
        # Which keys of each trial's configuration are its script's defaults, and whether
        # its script reported them at all (not before it ran, nor with the hook off).
        "defaults": [defaults_a, defaults_b],
        "resolved": [bool(a.document.get(RESOLVED)), bool(b.document.get(RESOLVED))],
        "code": {
            "same": code.same,
            "commits": [version_a.get("commit"), version_b.get("commit")],
            "between": code.commits,
            "direction": code.direction,
            "files": code.files,
            "diff": code.diff,
            "note": code.note,
        },
        "environment": {
            "python": [env_a["python"], env_b["python"]],
            "os": [env_a["os"], env_b["os"]],
            "packages": mapping_difference(env_a["packages"], env_b["packages"]),
        },
        "hosts": [hosts_a, hosts_b],
        "statistics": statistics,
    }
