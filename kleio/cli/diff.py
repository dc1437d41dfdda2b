"""``kleio diff A B``: what differs between two trials, section by section."""

from __future__ import annotations

import argparse
from typing import Any

from kleio.cli.output import Sections, print_json, record_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="what differs between two trials: configuration, code, environment, hosts, statistics",
        description="What differs between two trials, in sections: configuration, code "
        "(commits between them and the diff of the code each ran), environment, hosts and "
        "statistic summaries.",
        epilog="examples: kleio diff 3f9c2e0 4d1a7b2; kleio diff 3f9c2e0 4d1a7b2 --stat",
    )
    parser.add_argument("a", metavar="A", help="the first trial: an id or unique prefix")
    parser.add_argument("b", metavar="B", help="the second trial: an id or unique prefix")
    parser.add_argument(
        "--stat", action="store_true", help="name the files whose code differs, not the diff"
    )
    record_options(parser, json_help="print every section as JSON")


def _shown(value: Any) -> str:
    """A value in full: a difference must not be rounded away."""
    from kleio.core.reading import readable

    return "-" if value is None else readable.value(value)


def _rounded(old: Any, new: Any) -> tuple[str, str]:
    """Two statistics as tables show them (4 significant digits), in full where the
    rounding would make two different values look the same."""
    from kleio.cli.output import readable

    shown = tuple("-" if value is None else readable(value) for value in (old, new))
    if old != new and shown[0] == shown[1]:
        return _shown(old), _shown(new)
    return shown


def _changes(
    out: Sections, difference: dict[str, Any], defaults: tuple[list[str], list[str]] = ([], [])
) -> bool:
    """The lines of a difference; a value a script's parser filled in says ``(default)``."""
    old_defaults, new_defaults = set(defaults[0]), set(defaults[1])

    def shown(value: Any, key: str, default_keys: set[str]) -> str:
        return _shown(value) + (" (default)" if key in default_keys else "")

    for key, value in difference["added"].items():
        out.text(f"  + {key} = {shown(value, key, new_defaults)}")
    for key, value in difference["removed"].items():
        out.text(f"  - {key} = {shown(value, key, old_defaults)}")
    for key, (old, new) in difference["changed"].items():
        old_text, new_text = shown(old, key, old_defaults), shown(new, key, new_defaults)
        out.text(f"  ~ {key}: {old_text} -> {new_text}")
    return any(difference[part] for part in ("added", "removed", "changed"))


def _configuration(out: Sections, difference: dict[str, Any], labels: list[str]) -> None:
    out.title("Configuration")
    changed = _changes(out, difference["configuration"], difference["defaults"])
    unknown = [
        label for label, known in zip(labels, difference["resolved"], strict=True) if not known
    ]
    if len(unknown) == 1:  # its defaults would show as keys added or removed
        out.text(
            f"  ({unknown[0]}'s script never reported its defaults: it has not run, or ran "
            "without Kleio's hook; only its command line is compared)"
        )
    elif not changed:
        out.text("  (same configuration)")


def _code(out: Sections, code: dict[str, Any], stat: bool, labels: list[str]) -> None:
    out.title("Code")
    if code["same"]:
        out.text("  (same code)")
        return
    old, new = code["commits"]
    if old != new:
        out.item("commits", f"{str(old)[:12]} -> {str(new)[:12]}", indent=2)
    if code["between"] is not None and old != new:
        out.item("history", f"{labels[1]} is {code['direction']} {labels[0]}", indent=2)
        for commit in code["between"]:
            out.text(f"    {commit['commit'][:12]}  {commit['summary']}")
    if code["note"]:
        out.item("note", code["note"], indent=2)
    if code["files"]:
        out.item("files", ", ".join(code["files"]), indent=2)
    if code["diff"] and not stat:
        out.text("")
        out.text(code["diff"].rstrip("\n"))


def _environment(out: Sections, environment: dict[str, Any]) -> None:
    out.title("Environment")
    changed = False
    for part in ("python", "os"):
        old, new = environment[part]
        if old != new:
            out.item(part, f"{old} -> {new}", indent=2)
            changed = True
    changed = _changes(out, environment["packages"]) or changed
    if not changed:
        out.text("  (same environment)")


def _hosts(out: Sections, hosts: list[list[dict[str, Any]]], labels: list[str]) -> None:
    from kleio.core.reading import readable

    out.title("Hosts")
    for label, found in zip(labels, hosts, strict=True):
        for host in found or [{}]:
            gpus = ", ".join(host.get("gpus") or []) or "no GPU"
            out.text(
                f"  {label}  {host.get('hostname') or '(never ran)'}"
                + (
                    f"  {host.get('cpus')} CPUs ({host.get('cpu') or '?'}), "
                    f"{readable.size(host.get('memory'))}, {gpus}"
                    if host
                    else ""
                )
            )


def _statistics(out: Sections, statistics: dict[str, Any], labels: list[str]) -> None:
    out.title("Statistics")
    if not statistics:
        out.text("  (none)")
        return
    rows = []
    for key, aggregates in statistics.items():
        for name, (old, new) in aggregates.items():
            if old is None and new is None:
                continue
            mark = "" if old == new else "  *"
            shown_old, shown_new = _rounded(old, new)
            rows.append([f"  {key}", name, shown_old, shown_new + mark])
    out.table(["  KEY", "SUMMARY", labels[0], labels[1]], rows)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.reading.difference import trial_difference

    a, b = context.record(args.a), context.record(args.b)
    difference = trial_difference(a, b)
    if args.json:
        print_json(difference, context.stdout)
        return 0
    labels = [a.short_id, b.short_id]
    out = Sections()
    named = [f"{r.id} ({r.document['name']})" if r.document.get("name") else r.id for r in (a, b)]
    out.text(f"Trials {named[0]} -> {named[1]}")
    _configuration(out, difference, labels)
    _code(out, difference["code"], args.stat, labels)
    _environment(out, difference["environment"])
    _hosts(out, difference["hosts"], labels)
    _statistics(out, difference["statistics"], labels)
    out.write(context.stdout)
    return 0
