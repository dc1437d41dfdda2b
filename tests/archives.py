"""Crafted ``kleio export`` archives: a real export taken apart, changed as an attacker
or a broken program would, and put back together.

    archive = Archive.read(path)              # the members of a real export, in order
    archive.set_json("trials/ID/trial.json", document)
    archive.insert(1, Member.link("trials/x", "/etc/passwd"))
    archive.write(tmp_path / "crafted.tar")   # or .tar.gz
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Member:
    name: str
    data: bytes = b""
    #: tarfile's type: REGTYPE, SYMTYPE, LNKTYPE, DIRTYPE, FIFOTYPE, CHRTYPE...
    kind: bytes = tarfile.REGTYPE
    target: str = ""

    @classmethod
    def link(cls, name: str, target: str, hard: bool = False) -> Member:
        return cls(name, kind=tarfile.LNKTYPE if hard else tarfile.SYMTYPE, target=target)

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Archive:
    members: list[Member] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Archive:
        with tarfile.open(path) as archive:
            return cls(
                [Member(m.name, archive.extractfile(m).read()) for m in archive.getmembers()]
            )

    def names(self) -> list[str]:
        return [member.name for member in self.members]

    def index(self, suffix: str, start: int = 0) -> int:
        """The first member whose name ends with ``suffix``."""
        return next(i for i, m in enumerate(self.members) if i >= start and m.name.endswith(suffix))

    def member(self, suffix: str) -> Member:
        return self.members[self.index(suffix)]

    def trial_ids(self) -> list[str]:
        return list(
            dict.fromkeys(m.name.split("/")[1] for m in self.members if m.name.count("/") >= 2)
        )

    def set_json(self, suffix: str, value: Any) -> None:
        self.member(suffix).data = json.dumps(value).encode()

    def insert(self, index: int, member: Member) -> None:
        self.members.insert(index, member)

    def renamed(self, old: str, new: str) -> None:
        """Every member of folder ``trials/OLD/`` moved to ``trials/NEW/``."""
        for member in self.members:
            member.name = member.name.replace(f"trials/{old}/", f"trials/{new}/")

    def recount(self) -> None:
        """Make every end record hold what the archive holds (a crafted archive that is
        consistent with itself)."""
        totals = {"trials": 0, "events": 0, "blobs": 0}
        counts: dict[str, dict[str, int]] = {}
        for member in self.members:
            parts = member.name.split("/")
            if len(parts) < 3 or parts[0] != "trials":
                continue
            mine = counts.setdefault(parts[1], {"events": 0, "blobs": 0})
            if parts[2].startswith("events-"):
                mine["events"] += member.data.count(b"\n")
            elif parts[2] == "blobs" and not parts[-1].endswith(".json"):
                mine["blobs"] += 1
            elif parts[2] == "end.json":
                member.data = json.dumps(mine).encode()
                totals["trials"] += 1
                totals["events"] += mine["events"]
                totals["blobs"] += mine["blobs"]
        self.members[-1].data = json.dumps(totals).encode()

    def write(self, path: Path) -> Path:
        mode = "w:gz" if path.name.endswith(".gz") else "w"
        with tarfile.open(path, mode) as archive:
            for member in self.members:
                info = tarfile.TarInfo(member.name)
                info.type = member.kind
                info.linkname = member.target
                info.mode = 0o600
                if member.kind == tarfile.REGTYPE:
                    info.size = len(member.data)
                    archive.addfile(info, io.BytesIO(member.data))
                else:
                    archive.addfile(info)
        return path
