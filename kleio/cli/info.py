"""``kleio info ID``: everything the journal knows about a trial, in readable sections."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kleio.cli import arguments
from kleio.cli.output import (
    Display,
    Sections,
    display_of,
    display_options,
    print_json,
    record_options,
)

if TYPE_CHECKING:
    from kleio.core.reading.record import TrialRecord


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show everything recorded about a trial",
        description="Show what the journal holds about trial ID: status, command lines, "
        "configuration (defaults the script resolved marked), code version, environment, "
        "executions and their hosts, resource use, lineage, statistics, artifacts and the "
        "files it wrote.",
        epilog="examples: kleio info 3f9c2e0; kleio info 3f9c2e0 --json | jq .executions",
    )
    arguments.trial_id(parser)
    record_options(parser, json_help="print the whole record as JSON")
    display_options(parser)


def _trial(record: TrialRecord, out: Sections) -> None:
    from kleio.core.model import clock

    document = record.document
    out.title(f"Trial {record.id}")
    if document.get("name"):
        out.item("name", document["name"])
    out.item("status", out.display.status(record.status))
    out.item("tags", ", ".join(document.get("tags") or []) or "-")
    out.item("project", document.get("project"))
    if document.get("study"):
        out.item("study", document["study"])
    out.item("created", out.display.zoned(document.get("created")))
    out.item("run time", clock.duration(record.run_time))
    out.item("folder", document.get("cwd") or "-")
    out.item("working dir", document.get("working_dir") or "-")


def _command_lines(record: TrialRecord, out: Sections) -> None:
    from kleio.core.model.trial import short_id

    out.title("Command lines")
    for ancestor in reversed(record.ancestors):
        out.text(f"  {short_id(ancestor['_id'])}  {shlex.join(ancestor.get('commandline') or [])}")
    out.text(f"  {record.short_id}  {shlex.join(record.document.get('commandline') or [])}")


def _configuration(record: TrialRecord, out: Sections) -> None:
    from kleio.core.reading import readable

    out.title("Configuration")
    configuration = record.configuration
    defaults = set(record.defaults)
    for key, value in configuration.items():
        shown = readable.value(value)
        out.item(key, f"{shown}  (default)" if key in defaults else shown, indent=2)
    if not configuration:
        out.text("  (none)")


def _code_version(record: TrialRecord, out: Sections) -> None:
    out.title("Code version")
    version = record.document.get("version") or {}
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


def _environment(record: TrialRecord, out: Sections) -> None:
    out.title("Environment")
    environment = record.document.get("environment") or {}
    python = environment.get("python") or {}
    system = environment.get("os") or {}
    if python:
        out.item(
            "python",
            f"{python.get('implementation')} {python.get('version')} ({python.get('executable')})",
            indent=2,
        )
    # A trial made from files (kleio import-tensorboard) has no environment: "-", not None.
    parts = [system.get(name) for name in ("system", "release", "machine")]
    out.item("system", " ".join(str(part) for part in parts if part) or "-", indent=2)
    packages = environment.get("packages") or {}
    listed = ", ".join(f"{n} {v}" for n, v in list(packages.items())[:8])
    more = ", ..." if len(packages) > 8 else ""
    out.item(
        "packages",
        f"{len(packages)} installed" + (f": {listed}{more}" if packages else ""),
        indent=2,
    )


def _executions(record: TrialRecord, out: Sections) -> None:
    from kleio.core.model import clock
    from kleio.core.reading import readable

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
            f"{readable.size(host.get('memory'))} memory",
            indent=6,
        )
        if gpus:
            names = ", ".join(f"{g.get('name')} ({g.get('memory_mib')} MiB)" for g in gpus)
            out.item("gpus", f"{names}; driver {host.get('gpu_driver')}", indent=6)
        if host.get("job"):
            out.item("job", _job(host["job"]), indent=6)
        start, end = execution.get("start"), execution.get("end")
        out.item("start", out.display.zoned(start), indent=6)
        out.item("end", out.display.zoned(end), indent=6)
        out.item("duration", clock.duration(execution.get("duration")), indent=6)
        if execution.get("signals"):
            out.item("signals", _signals(execution["signals"]), indent=6)
        if execution.get("restarted"):
            out.item("restarted", _restarted(execution["restarted"]), indent=6)
        if execution.get("members"):
            out.item(
                "ranks",
                f"{execution.get('world_size')} (launch {execution.get('group')})",
                indent=6,
            )
            for member in execution["members"]:
                out.text("        " + _member(member))
    if not record.executions:
        out.text("  (never run)")


def _member(member: dict[str, Any]) -> str:
    """``rank 1  host node07  pid 4242  broken, exit code 3``: one rank of an execution."""
    host = (member.get("host") or {}).get("hostname", "-")
    code = member.get("exit_code")
    ended = f", exit code {code}" if code is not None else ""
    return (
        f"rank {member.get('rank')}  host {host}  pid {member.get('pid', '-')}  "
        f"{member.get('status', '-')}{ended}"
    )


def _signals(signals: list[dict[str, Any]]) -> str:
    """``SIGUSR1 (caught), SIGINT (caught, sent to the script's group)``: what the script
    did with each signal, and where it was sent when not to ``kleio``."""
    return ", ".join(
        f"{s.get('signal')} ({s.get('effect')}"
        + (", sent to the script's group" if s.get("to") == "group" else "")
        + ")"
        for s in signals
    )


def _restarted(restarted: dict[str, Any]) -> str:
    """``epoch=1 (the trial had reached epoch=2): does it load its checkpoint?``"""
    from kleio.cli.output import readable

    starts = ", ".join(f"{key}={readable(first)}" for key, (first, _) in restarted.items())
    reached = ", ".join(f"{key}={readable(value)}" for key, (_, value) in restarted.items())
    return f"at {starts} (the trial had reached {reached}): does it load its checkpoint?"


def _job(job: dict[str, Any]) -> str:
    """``slurm job 4242 (array 4240, task 2), partition gpu, nodes n1, time limit 1:00:00,
    restarted 1 time``."""
    text = f"{job.get('scheduler')} job {job.get('job_id')}"
    array = [
        f"{label} {job[key]}"
        for label, key in (("array", "array_job_id"), ("task", "array_task_id"))
        if job.get(key) is not None
    ]
    if array:
        text += f" ({', '.join(array)})"
    facts = (("partition", "partition"), ("nodes", "nodes"), ("time limit", "time_limit"))
    for label, key in facts:
        if job.get(key):
            text += f", {label} {job[key]}"
    restarts = job.get("restart_count") or 0
    if restarts:
        text += f", restarted {restarts} time{'s' if restarts > 1 else ''}"
    return text


def _lineage(record: TrialRecord, out: Sections) -> None:
    from kleio.core.model.trial import short_id

    out.title("Lineage")
    parent = record.parent
    refers = record.document.get("refers") or {}
    if parent:
        why = {"change": "code or environment changed", "branch": "branched"}.get(
            refers.get("reason"), refers.get("reason") or "branched"
        )
        point = refers.get("timestamp") or out.display.zoned(refers.get("time"))
        out.item("parent", f"{short_id(parent)} ({why}, at {point})", indent=2)
    else:
        out.item("parent", "-", indent=2)
    children = record.children
    out.item(
        "children",
        ", ".join(f"{short_id(c['_id'])} ({c.get('status')})" for c in children) or "-",
        indent=2,
    )


def _statistics(record: TrialRecord, out: Sections) -> None:
    from kleio.cli.output import readable as table_text  # numbers as tables show them

    out.title("Statistics")
    summary = record.statistics_summary()
    out.item("count", summary["count"], indent=2)
    for key, value in summary["last"].items():
        out.item(key, f"last {table_text(value)}", indent=2)


def _artifacts(record: TrialRecord, out: Sections) -> None:
    from kleio.core.reading import readable

    out.title("Artifacts")
    for artifact in record.artifacts:
        attributes = readable.attributes(artifact.attributes)
        out.text(
            f"  {artifact.filename}  {readable.size(artifact.size)}  "
            f"{out.display.zoned(artifact.time)}" + (f"  {attributes}" if attributes else "")
        )
    if not record.artifacts:
        out.text("  (none)")


def _outputs(record: TrialRecord, out: Sections) -> None:
    from kleio.core.reading import readable

    outputs = record.document.get("outputs") or []
    if not outputs:
        return
    out.title("Outputs")
    for output in outputs:
        digest = output.get("sha256")
        out.text(
            f"  {output.get('path')}  {readable.size(output.get('size'))}"
            f"  written by execution #{output.get('execution')}"
            + (f"  sha256 {digest[:16]}" if digest else "")
        )


def _resources(record: TrialRecord, out: Sections) -> None:
    from kleio.core.reading import readable

    if not record.resources:
        return
    out.title("Resources")
    for resource in record.resources:
        out.text(
            f"  {resource.get('path')}  {readable.size(resource.get('size'))}  "
            f"sha256 {str(resource.get('sha256'))[:16]}"
        )


def _notes(record: TrialRecord, out: Sections) -> None:
    if not record.notes:
        return
    out.title("Notes")
    for note in record.notes:  # as `kleio note ID` lists them
        edited = "  (edited)" if note.get("edited") is not None else ""
        out.text(f"  {note['number']}  {out.display.zoned(note['time'])}  {note['text']}{edited}")


def _usage(record: TrialRecord, out: Sections) -> None:
    from kleio.core.capture.usage import usage_summary
    from kleio.core.reading import readable

    summary = usage_summary(record.usage)
    if not summary["samples"]:
        return
    out.title("Resource use")
    out.item("samples", summary["samples"], indent=2)
    if "peak_rss" in summary:
        out.item("peak memory", readable.size(summary["peak_rss"]), indent=2)
    if "mean_cpu_percent" in summary:
        out.item("mean CPU", f"{summary['mean_cpu_percent']:g}% of a core", indent=2)
    if "peak_threads" in summary:
        out.item(
            "at most",
            f"{_many(summary['peak_threads'], 'thread')} in "
            f"{_many(summary['peak_processes'], 'process', 'processes')}",
            indent=2,
        )
    for index, gpu in (summary.get("gpus") or {}).items():
        parts = []
        if "peak_memory" in gpu:
            parts.append(f"peak memory {readable.size(gpu['peak_memory'])}")
        if "mean_utilization" in gpu:
            parts.append(f"mean utilization {gpu['mean_utilization']:g}%")
        out.item(f"gpu {index}", ", ".join(parts), indent=2)


def _many(number: int, one: str, several: str | None = None) -> str:
    return f"{number} {one if number == 1 else several or one + 's'}"


#: The sections of ``kleio info``, in order.
SECTIONS: tuple[Callable[[TrialRecord, Sections], None], ...] = (
    _trial,
    _command_lines,
    _configuration,
    _code_version,
    _environment,
    _executions,
    _usage,
    _lineage,
    _statistics,
    _artifacts,
    _outputs,
    _resources,
    _notes,
)


def sections(record: TrialRecord, display: Display | None = None) -> Sections:
    """Everything about ``record``, section by section (:data:`SECTIONS`)."""
    out = Sections(display)
    for section in SECTIONS:
        section(record, out)
    return out


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.reading.record import with_iso_times

    record = context.record(args.id)
    if args.json:
        print_json(with_iso_times(record.as_dict()), context.stdout)
    else:
        sections(record, display_of(args, context.stdout)).write(context.stdout)
    return 0
