"""``kleio import`` of archives made by someone else: believed only once checked whole.

Each archive here is a real export taken apart and changed (``tests/archives.py``), as
an attacker or a broken program would. An archive cannot change a trial the journal
holds (its events, output or artifacts); a damaged or foreign one is refused in one line
naming the member, and imports nothing, not even a hidden half-imported trial; no line
takes more memory than its limit. On SQLite and on the MongoDB wire backend.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kleio.core.model.catalogue import open_journal
from tests.archives import Archive, Member
from tests.conftest import script_project
from tests.helpers import invoke, run_kleio, text, trial_id_in
from tests.mongo_server import unique_database_name

SCRIPT = """\
import sys
from kleio.client.logger import kleio_logger as log
for step in range(3):
    log.log_statistic(step=step, loss=1.0 / (step + 1))
print("trained", sys.argv[1:])
log.log_artifact("model.bin", b"the weights of " + sys.argv[-1].encode())
"""


@dataclass
class Source:
    env: dict[str, str]
    project: Path
    archive: Path
    #: The trial the target journal holds before each import, and one it does not.
    held: str
    new: str


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    folder = tmp_path_factory.mktemp("hostile")
    project, env = script_project(folder, SCRIPT)
    ids = []
    for lr in ("0.1", "0.2"):
        result = run_kleio("python", "train.py", "--lr", lr, env=env, cwd=project)
        assert result.returncode == 0, text(result.stderr)
        ids.append(trial_id_in(result.stderr))
    archive = folder / "both.tar"
    assert run_kleio("export", "-o", str(archive), env=env, cwd=project).returncode == 0
    return Source(env, project, archive, *ids)


@dataclass
class Target:
    env: dict[str, str]
    project: Path

    def store(self):
        return open_journal(self.env["KLEIO_DB_ADDRESS"], self.env["KLEIO_DB_NAME"])

    def state(self) -> dict:
        """Everything the journal holds: documents, events and blobs with their bytes."""
        with self.store() as store:
            documents = {d["_id"]: d for d in store.find_trials()}
            events = {
                trial: [tuple(e[1:]) for e in store.read_events(trial)]
                for trial in sorted(store.event_trials() | set(documents))
            }
            blobs = {
                blob.id: (blob.metadata, b"".join(store.read_blob(blob.id)))
                for blob in store.find_blobs({})
            }
        return {"documents": documents, "events": events, "blobs": blobs}

    def kleio(self, *args: str):
        return invoke(*args, env=self.env, cwd=self.project)


@pytest.fixture(params=["sqlite", "wire"])
def target(request, source, tmp_path) -> Target:
    """A journal holding the first trial of the source (imported from a real export)."""
    if request.param == "sqlite":
        address, name = str(tmp_path / "target.db"), "kleio"
    else:
        address, name = request.getfixturevalue("wire_server").uri, unique_database_name()
    env = {**source.env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": name}
    made = Target(env, source.project)
    one = tmp_path / "one.tar"
    exported = invoke("export", source.held[:8], "-o", str(one), env=source.env, cwd=source.project)
    assert exported.returncode == 0, text(exported.stderr)
    imported = made.kleio("import", str(one))
    assert imported.returncode == 0, text(imported.stderr)
    yield made
    if request.param == "wire":
        with made.store() as store:
            store._db.client.drop_database(name)


def _refused(result, *fragments: str) -> str:
    errors = text(result.stderr)
    assert result.returncode != 0 and "Traceback" not in errors, errors
    lines = [line for line in errors.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("kleio: error: "), errors
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- 2. an archive cannot change what is already in the journal ------------------------


def test_a_trial_the_journal_holds_gets_nothing_from_an_archive(source, target, tmp_path):
    """The same trial, with more statistics, output and an artifact planted in it: the
    journal's trial stays as it was; the other, new trial is imported."""
    archive = Archive.read(source.archive)
    events = archive.index(f"trials/{source.held}/events-000001.jsonl")
    extra = {"kind": "statistic", "key": "99999999999999999.evil.000000000000", "time": 1e11}
    archive.insert(
        events + 1,
        Member(
            f"trials/{source.held}/events-000009.jsonl",
            (
                json.dumps({**extra, "data": {"step": 99, "loss": 0.0}})
                + "\n"
                + json.dumps({**extra, "kind": "stdout", "data": {"text": "planted\n"}})
                + "\n"
            ).encode(),
        ),
    )
    blob, ending = "f" * 32, archive.index(f"trials/{source.held}/end.json")
    record = {"trial": source.held, "kind": "artifact", "filename": "model.bin"}
    archive.insert(
        ending,
        Member(
            f"trials/{source.held}/blobs/{blob}.json",
            json.dumps({"metadata": record, "length": 6}).encode(),
        ),
    )
    archive.insert(ending + 1, Member(f"trials/{source.held}/blobs/{blob}", b"pickle"))
    archive.recount()
    before = target.state()
    result = target.kleio("import", str(archive.write(tmp_path / "planted.tar")))
    assert result.returncode == 0, text(result.stderr)
    assert "1 trial here already, left as they are" in text(result.stderr)
    after = target.state()
    assert after["events"][source.held] == before["events"][source.held]
    assert after["blobs"].keys() - before["blobs"].keys() == {
        b for b, (metadata, _) in after["blobs"].items() if metadata["trial"] == source.new
    }
    assert source.new in after["documents"] and blob not in after["blobs"]


def test_a_document_of_another_id_in_a_trials_folder_is_refused(source, target, tmp_path):
    """Events are filed under the folder's trial: a folder of a new id holding the held
    trial's document would have given that trial the folder's events."""
    archive = Archive.read(source.archive)
    archive.renamed(source.held, "e" * 32)
    before = target.state()
    _refused(
        target.kleio("import", str(archive.write(tmp_path / "moved.tar"))),
        f"trials/{'e' * 32}/trial.json",
        "is not the folder's trial",
    )
    assert target.state() == before


def test_a_blob_naming_another_trial_is_refused(source, target, tmp_path):
    archive = Archive.read(source.archive)
    record = next(m for m in archive.members if m.name.startswith(f"trials/{source.new}/blobs/"))
    value = record.json()
    value["metadata"]["trial"] = source.held
    record.data = json.dumps(value).encode()
    before = target.state()
    _refused(
        target.kleio("import", str(archive.write(tmp_path / "theirs.tar"))),
        record.name,
        f"names trial '{source.held}', not its own",
    )
    assert target.state() == before


def test_a_blob_with_the_id_of_another_trials_blob_is_refused(source, target, tmp_path):
    """The planted checkpoint: a new trial's blob given the id of the held trial's
    artifact, which the held trial's script loads back."""
    with target.store() as store:
        (held_blob,) = [b.id for b in store.find_blobs({"trial": source.held})]
    archive = Archive.read(source.archive)
    for member in archive.members:
        if member.name.startswith(f"trials/{source.new}/blobs/"):
            old = member.name.split("/")[-1].removesuffix(".json")
            member.name = member.name.replace(old, held_blob)
    before = target.state()
    _refused(
        target.kleio("import", str(archive.write(tmp_path / "same-blob.tar"))),
        held_blob,
        "nothing was imported",
    )
    assert target.state() == before


def test_a_hidden_trial_of_the_same_id_is_finished_only_with_the_same_document(
    source, target, tmp_path
):
    """An interrupted import is finished by the file it came from, proven by the
    document: a crafted document of the same id gets nothing."""
    with target.store() as store:
        document = store.get_trial(source.new)
    assert document is None
    archive = Archive.read(source.archive)
    with target.store() as store:
        real = json.loads(archive.member(f"trials/{source.new}/trial.json").data)
        store.create_trial({**real, "project": "another", "incomplete": "importing"})
    before = target.state()
    result = target.kleio("import", str(source.archive))
    assert result.returncode == 0, text(result.stderr)
    assert f"warning: trial {source.new[:7]} of" in text(result.stderr)
    assert target.state() == before


# -- 3. an archive is validated before it is believed ----------------------------------


def _deep(levels: int):
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


DOCUMENT_CHANGES = {
    "refers-as-text": ("refers", "a text"),
    "created-not-a-time": ("created", "yesterday"),
    "created-nan": ("created", float("nan")),
    "id-a-number": ("_id", 12345),
    "commandline-mixed": ("commandline", ["python", 3, None]),
    "tags-not-a-list": ("tags", "a,b"),
    "status-unknown": ("status", "exploded"),
    "configuration-a-list": ("configuration", [1, 2]),
    "worker-a-number": ("worker", 7),
    "deep": ("configuration", {"a": _deep(100)}),
}


@pytest.mark.parametrize("change", list(DOCUMENT_CHANGES))
def test_a_trial_document_of_the_wrong_shape_is_refused(source, target, tmp_path, change):
    field, value = DOCUMENT_CHANGES[change]
    archive = Archive.read(source.archive)
    member = archive.member(f"trials/{source.new}/trial.json")
    document = member.json()
    document[field] = value
    member.data = json.dumps(document).encode()
    before = target.state()
    _refused(target.kleio("import", str(archive.write(tmp_path / "bad.tar"))), member.name)
    assert target.state() == before


def _blob_record(archive: Archive, trial: str) -> Member:
    return next(
        m
        for m in archive.members
        if m.name.startswith(f"trials/{trial}/blobs/") and m.name.endswith(".json")
    )


def _damage(archive: Archive, kind: str, trial: str) -> str:
    """Damage ``archive`` as ``kind`` says; returns a fragment of the expected error."""
    part = archive.index(f"trials/{trial}/events-000001.jsonl")
    events = archive.members[part]
    if kind == "symlink":
        archive.insert(part, Member.link(f"trials/{trial}/events-000002.jsonl", "/etc/passwd"))
        return "a link, a folder or a device"
    if kind == "hardlink":
        archive.insert(part, Member.link(f"trials/{trial}/trial.json", "/etc/passwd", True))
        return "a link, a folder or a device"
    if kind == "folder":
        archive.insert(part, Member(f"trials/{trial}/blobs", kind=tarfile.DIRTYPE))
        return "a link, a folder or a device"
    if kind == "bad-json-line":
        events.data = b'{"kind": "statistic",\n' + events.data
        return "an event is not JSON"
    if kind == "missing-keys":
        events.data = b'{"kind": "statistic", "time": 1.0}\n' + events.data
        return "an event has no key"
    if kind == "invalid-utf-8":
        events.data = events.data.replace(b'"loss"', b'"lo\xffss"', 1)
        return "an event is not JSON"
    if kind == "deep-event":
        line = b'{"kind": "statistic", "key": "' + b"1" * 17 + b'.w.000000000001", "time": 1.0'
        events.data = line + b', "data": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}\n"
        return "an event"
    if kind == "bad-key":
        line = {"kind": "statistic", "key": "../../x", "time": 1.0, "data": {}}
        events.data = json.dumps(line).encode() + b"\n" + events.data
        return "an event's key '../../x'"
    if kind == "end-a-list":
        archive.members[-1].data = b"[1, 2, 3]"
        return "end.json: it does not hold what the archive holds"
    if kind == "end-missing-key":
        archive.members[-1].data = json.dumps({"trials": 2, "events": 6}).encode()
        return "end.json: it does not hold"
    if kind == "trial-end-negative":
        archive.member(f"trials/{trial}/end.json").data = b'{"events": -1, "blobs": 0}'
        return f"trials/{trial}/end.json"
    if kind == "header-a-list":
        archive.members[0].data = b"[]"
        return "is not a Kleio export"
    if kind == "unknown-member":
        archive.insert(part, Member(f"trials/{trial}/../../../etc/cron.d/x", b"* * * * *"))
        return "not a member of a Kleio export"
    if kind == "interleaved":
        (other,) = set(archive.trial_ids()) - {trial}
        archive.insert(part, Member(f"trials/{other}/events-000005.jsonl", b""))
        return "has no end.json before it"
    if kind == "blob-length":
        record = next(
            m
            for m in archive.members
            if m.name.endswith(".json") and "/blobs/" in m.name and trial in m.name
        )
        value = record.json()
        value["length"] += 1
        record.data = json.dumps(value).encode()
        return "not the"
    if kind == "blob-without-record":
        index = next(
            i
            for i, m in enumerate(archive.members)
            if "/blobs/" in m.name and m.name.endswith(".json") and trial in m.name
        )
        del archive.members[index]
        return "without its record"
    if kind == "blob-metadata-a-dict-trial":
        record = next(
            m
            for m in archive.members
            if m.name.endswith(".json") and "/blobs/" in m.name and trial in m.name
        )
        value = record.json()
        value["metadata"]["trial"] = {"$ne": None}
        record.data = json.dumps(value).encode()
        return "not its own"
    if kind == "member-after-end":
        archive.members.append(Member("trials/x", b""))
        return "a member after end.json"
    if kind == "no-trial-json-first":
        del archive.members[archive.index(f"trials/{trial}/trial.json")]
        return "trial.json must come first"
    raise AssertionError(kind)


DAMAGES = [
    "symlink",
    "hardlink",
    "folder",
    "bad-json-line",
    "missing-keys",
    "invalid-utf-8",
    "deep-event",
    "bad-key",
    "end-a-list",
    "end-missing-key",
    "trial-end-negative",
    "header-a-list",
    "unknown-member",
    "interleaved",
    "blob-length",
    "blob-without-record",
    "blob-metadata-a-dict-trial",
    "member-after-end",
    "no-trial-json-first",
]


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_archive_is_refused_in_one_line_and_imports_nothing(
    source, target, tmp_path, kind
):
    archive = Archive.read(source.archive)
    fragment = _damage(archive, kind, source.new)
    before = target.state()
    _refused(target.kleio("import", str(archive.write(tmp_path / f"{kind}.tar"))), fragment)
    assert target.state() == before  # no hidden half-imported trial either


# -- 4. an archive cannot exhaust the machine -------------------------------------------


def _long_line_archive(source: Source, path: Path, size: int) -> Path:
    archive = Archive.read(source.archive)
    events = archive.member(f"trials/{source.new}/events-000001.jsonl")
    line = b'{"kind": "stdout", "key": "' + b"1" * 17 + b'.w.000000000001", "time": 1.0, '
    events.data = line + b'"data": {"text": "' + b"a" * size + b'"}}\n' + events.data
    archive.recount()
    return archive.write(path)


def test_a_line_longer_than_its_limit_is_refused_with_memory_kept_flat(source, tmp_path):
    """A 100 MB line in a 100 KB file (a gigabyte one was 3 GB of memory, then a
    traceback): refused at its limit, the memory of the import well under the line."""
    import tracemalloc

    from kleio.core.curation.transfer import MAX_LINE, TransferError, import_trials

    path = _long_line_archive(source, tmp_path / "long.tar.gz", 100 << 20)
    assert path.stat().st_size < 1 << 20
    with open_journal(str(tmp_path / "t.db")) as store:
        tracemalloc.start()
        try:
            with pytest.raises(TransferError, match="a line is longer than 16 MB"):
                import_trials(store, str(path))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert store.find_trials() == []
    assert peak < 3 * MAX_LINE, peak


def test_an_archive_that_expands_past_its_bound_is_refused(source, target, tmp_path, monkeypatch):
    from kleio.core.curation import transfer

    monkeypatch.setattr(transfer, "EXPANSION_FLOOR", 1 << 20)
    path = _long_line_archive(source, tmp_path / "wide.tar.gz", 8 << 20)
    before = target.state()
    _refused(target.kleio("import", str(path)), "expands to more than", "decompress it first")
    assert target.state() == before
    plain = tmp_path / "plain.tar"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    # Decompressed, the same archive is within its bound (and refused for its long line
    # only if it had one over the limit: this one is 8 MB, under it).
    assert target.kleio("import", str(plain)).returncode == 0


# -- fuzzing ----------------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _mutations(draw, size: int):
    """What to do to an archive of ``size`` members."""
    index = st.integers(min_value=0, max_value=size - 1)
    one = st.one_of(
        st.tuples(st.just("json"), index, _JSON),
        st.tuples(st.just("field"), index, st.text(max_size=12), _JSON),
        st.tuples(st.just("bytes"), index, st.binary(max_size=64)),
        st.tuples(st.just("delete"), index),
        st.tuples(st.just("duplicate"), index),
        st.tuples(st.just("swap"), index, index),
        st.tuples(st.just("kind"), index, st.sampled_from([tarfile.SYMTYPE, tarfile.DIRTYPE])),
        st.tuples(st.just("rename"), index, st.text(max_size=30)),
        st.tuples(st.just("line"), index, _JSON),
    )
    return draw(st.lists(one, min_size=1, max_size=3))


def _mutate(archive: Archive, mutation: tuple) -> None:
    what, index, *rest = mutation
    index %= len(archive.members)
    member = archive.members[index]
    if what == "json":
        member.data = json.dumps(rest[0]).encode()
    elif what == "field":
        try:
            value = member.json()
        except ValueError:
            return
        if isinstance(value, dict):
            value[rest[0] if rest[0] not in value or not value else list(value)[0]] = rest[1]
            member.data = json.dumps(value).encode()
    elif what == "bytes":
        member.data = rest[0]
    elif what == "delete":
        del archive.members[index]
    elif what == "duplicate":
        archive.insert(index, Member(member.name, member.data))
    elif what == "swap":
        other = rest[0] % len(archive.members)
        archive.members[index], archive.members[other] = member, archive.members[index]
    elif what == "kind":
        member.kind, member.target = rest[0], "/etc/passwd"
    elif what == "rename":
        member.name = rest[0] or "x"
    elif what == "line":
        member.data = json.dumps(rest[0]).encode() + b"\n" + member.data


@pytest.fixture(scope="module")
def held_journal(source, tmp_path_factory) -> Path:
    """A SQLite journal holding the source's first trial, copied for each example."""
    folder = tmp_path_factory.mktemp("held")
    one = folder / "one.tar"
    exported = invoke("export", source.held[:8], "-o", str(one), env=source.env, cwd=source.project)
    assert exported.returncode == 0, text(exported.stderr)
    from kleio.core.curation.transfer import import_trials

    with open_journal(str(folder / "held.db")) as store:
        import_trials(store, str(one))
    return folder / "held.db"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_archive_makes_import_fail_otherwise_than_in_one_line(source, held_journal, data):
    """Whatever is done to a real export: import either works or raises TransferError
    (one line); it never changes the trial the journal held, never leaves a hidden
    trial behind when it refuses, and its memory stays far under a line's limit."""
    import shutil
    import tempfile
    import tracemalloc

    from kleio.core.curation.transfer import MAX_LINE, TransferError, import_trials

    archive = Archive.read(source.archive)
    for mutation in data.draw(_mutations(len(archive.members))):
        if archive.members:
            _mutate(archive, mutation)
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder) / "journal.db"
        shutil.copy(held_journal, journal)
        try:
            path = archive.write(Path(folder) / "fuzzed.tar")
        except (ValueError, UnicodeError, tarfile.TarError):
            return  # a name tar itself cannot write
        with open_journal(str(journal)) as store:
            held = (store.get_trial(source.held), list(store.read_events(source.held)))
            tracemalloc.start()
            try:
                import_trials(store, str(path))
                refused = None
            except TransferError as error:
                refused = str(error)
            finally:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            assert (store.get_trial(source.held), list(store.read_events(source.held))) == held
            if refused is not None:
                assert "\n" not in refused
                assert [d["_id"] for d in store.find_trials()] == [source.held]
            for document in store.find_trials():
                assert document.get("incomplete") is None
        assert peak < MAX_LINE
