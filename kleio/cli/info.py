"""``kleio info ID``: everything the journal knows about a trial, in readable sections."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from kleio.cli.context import trial_record
from kleio.cli.output import print_json
from kleio.core import clock
from kleio.core.record import TrialRecord, artifact_entry
from kleio.core.trial import short_id


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show everything recorded about a trial")
    parser.add_argument("id", help="trial id or unique prefix")
    parser.add_argument("--json", action="store_true", help="print the whole record as JSON")


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


class _Sections:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def title(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.extend([text, "-" * len(text)])

    def item(self, label: str, value: Any, indent: int = 0) -> None:
        self.lines.append(f"{' ' * indent}{label + ':':<14}{value}")

    def text(self, value: str) -> None:
        self.lines.append(value)


def render(record: TrialRecord) -> str:
    document = record.document
    out = _Sections()
    out.title(f"Trial {record.id}")
    out.item("status", record.status)
    out.item("tags", ", ".join(document.get("tags") or []) or "-")
    out.item("project", document.get("project"))
    out.item("created", f"{clock.iso(document.get('created'))} UTC")
    out.item("run time", clock.duration(record.run_time))
    out.item("folder", document.get("cwd") or "-")

    out.title("Command lines")
    for ancestor in reversed(record.ancestors):
        out.text(f"  {short_id(ancestor['_id'])}  {shlex.join(ancestor.get('commandline') or [])}")
    out.text(f"  {record.short_id}  {shlex.join(document.get('commandline') or [])}")

    out.title("Configuration")
    configuration = document.get("configuration") or {}
    for key, value in configuration.items():
        out.item(key, _value(value), indent=2)
    if not configuration:
        out.text("  (none)")

    out.title("Code version")
    version = document.get("version") or {}
    if version.get("type") == "git":
        out.item("commit", version.get("commit") or "(no commit yet)", indent=2)
        out.item("branch", version.get("branch") or "(detached)", indent=2)
        out.item("dirty", "yes" if version.get("dirty") else "no", indent=2)
        if version.get("changed_files"):
            out.item("changed", ", ".join(version["changed_files"]), indent=2)
        if version.get("untracked"):
            out.item("untracked", ", ".join(version["untracked"][:20]), indent=2)
        for name, url in (version.get("remotes") or {}).items():
            out.item(f"remote {name}", url, indent=2)
    else:
        out.item("script", version.get("path") or "-", indent=2)
        out.item("sha256", version.get("sha256") or "-", indent=2)

    out.title("Environment")
    environment = document.get("environment") or {}
    python = environment.get("python") or {}
    system = environment.get("os") or {}
    if python:
        out.item(
            "python",
            f"{python.get('implementation')} {python.get('version')} ({python.get('executable')})",
            indent=2,
        )
    out.item(
        "system",
        f"{system.get('system')} {system.get('release')} {system.get('machine')}",
        indent=2,
    )
    packages = environment.get("packages") or {}
    out.item(
        "packages",
        f"{len(packages)} installed"
        + (
            ": "
            + ", ".join(f"{n} {v}" for n, v in list(packages.items())[:8])
            + (", ..." if len(packages) > 8 else "")
            if packages
            else ""
        ),
        indent=2,
    )

    out.title("Executions")
    for execution in record.executions:
        host = execution.get("host") or {}
        gpus = host.get("gpus") or []
        out.text(
            f"  #{execution['number']}  {execution.get('status', '-')}, "
            f"exit code {execution.get('exit_code', '-')}"
        )
        out.item(
            "host",
            f"{host.get('hostname', '-')} ({host.get('user') or '-'}), "
            f"{(host.get('cpu') or {}).get('count', '-')} CPUs, "
            f"{_size(host.get('memory'))} memory",
            indent=6,
        )
        if gpus:
            names = ", ".join(f"{g.get('name')} ({g.get('memory_mib')} MiB)" for g in gpus)
            out.item("gpus", f"{names}; driver {host.get('gpu_driver')}", indent=6)
        if host.get("scheduler"):
            out.item(
                "scheduler",
                ", ".join(
                    f"{k}={v}"
                    for k, v in host["scheduler"].items()
                    if k.endswith(("JOB_ID", "JOBID", "TASK_ID"))
                ),
                indent=6,
            )
        start, end = execution.get("start"), execution.get("end")
        out.item("start", f"{clock.iso(start)} UTC", indent=6)
        out.item("end", f"{clock.iso(end)} UTC" if end else "-", indent=6)
        out.item("duration", clock.duration(execution.get("duration")), indent=6)
    if not record.executions:
        out.text("  (never run)")

    out.title("Lineage")
    parent = record.parent
    refers = document.get("refers") or {}
    if parent:
        why = {"change": "code or environment changed", "branch": "branched"}.get(
            refers.get("reason"), refers.get("reason") or "branched"
        )
        point = refers.get("timestamp") or clock.iso(refers.get("time"), precise=True)
        out.item("parent", f"{short_id(parent)} ({why}, at {point})", indent=2)
    else:
        out.item("parent", "-", indent=2)
    children = record.children
    out.item(
        "children",
        ", ".join(f"{short_id(c['_id'])} ({c.get('status')})" for c in children) or "-",
        indent=2,
    )

    out.title("Statistics")
    summary = record.statistics_summary()
    out.item("count", summary["count"], indent=2)
    for key, value in summary["last"].items():
        out.item(key, f"last {_value(value)}", indent=2)

    out.title("Artifacts")
    for artifact in record.artifacts:
        entry = artifact_entry(artifact)
        attributes = " ".join(f"{k}={_value(v)}" for k, v in entry["attributes"].items())
        out.text(
            f"  {entry['filename']}  {_size(entry['size'])}  {clock.iso(entry['time'])}"
            + (f"  {attributes}" if attributes else "")
        )
    if not record.artifacts:
        out.text("  (none)")
    if record.resources:
        out.title("Resources")
        for resource in record.resources:
            out.text(
                f"  {resource.get('path')}  {_size(resource.get('size'))}  "
                f"sha256 {str(resource.get('sha256'))[:16]}"
            )
    return "\n".join(out.lines) + "\n"


def execute(args: argparse.Namespace, context) -> int:
    record = trial_record(context, args.id)
    if args.json:
        print_json(record.as_dict())
    else:
        sys.stdout.write(render(record))
    return 0
