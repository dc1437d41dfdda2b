"""What is particular to one backend: opening, addresses and failures."""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time

import mongomock
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kleio.core.model.catalogue import TRIAL_CATALOGUE, open_journal
from kleio.store import Catalogue, StoreError, StoreUnavailable, mask_address
from kleio.store.base import Event
from kleio.store.keys import event_key
from kleio.store.mongodb import MongoStore
from kleio.store.sqlite import SQLiteStore
from kleio.store.sqlite.schema import SCHEMA_VERSION
from tests.conftest import examples
from tests.mongo_server import free_port, unique_database_name


def test_addresses_select_the_backend(tmp_path):
    assert isinstance(open_journal(str(tmp_path / "a.db")), SQLiteStore)
    assert isinstance(open_journal(f"sqlite://{tmp_path}/b.db"), SQLiteStore)
    assert open_journal(f"sqlite://{tmp_path}/b.db").path == tmp_path / "b.db"
    assert isinstance(open_journal("mongodb://127.0.0.1:1/"), MongoStore)
    assert isinstance(open_journal("mongodb+srv://user:pw@cluster.example.org/"), MongoStore)
    with pytest.raises(StoreError, match="postgres://"):
        open_journal("postgres://user:pw@host/db")


def test_passwords_are_masked_in_addresses():
    assert mask_address("mongodb://user:secret@h:1/db?x=1") == "mongodb://***@h:1/db?x=1"
    assert (
        mask_address("mongodb+srv://u:p%40ss@c.example.org/") == "mongodb+srv://***@c.example.org/"
    )
    assert mask_address("mongodb://h:1/") == "mongodb://h:1/"
    assert mask_address("/home/me/kleio.db") == "/home/me/kleio.db"


@pytest.mark.parametrize(
    "address",
    ["mongodb://alice:p@ssw0rd@host/", "mongodb://alice:pa/ss@host/", "mongodb://al@ice:PW@host/"],
)
def test_malformed_addresses_are_masked_up_to_the_last_at(address):
    assert mask_address(address) == "mongodb://***@host/"


def test_an_unreachable_mongodb_fails_fast_with_the_password_masked():
    store = open_journal("mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=1500")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        store.find_trials()
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert "secret" not in message and "mongodb://***@127.0.0.1:1" in message
    assert "\n" not in message


def test_a_malformed_mongodb_address_is_a_store_error():
    with pytest.raises(StoreError, match="invalid MongoDB address"):
        open_journal("mongodb://user:secret@host:notaport/").get_trial("x")


#: Whatever a user name or password may hold, separators of an address included.
_USERINFO = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="QXJZ"), max_size=30
)
#: A password's letters are ones no message of pymongo or Kleio holds: any of them in a
#: message is a fragment of the password.
_PASSWORD = st.text(st.sampled_from("QXJZ:@/?#%+ ,;=&é"), min_size=1, max_size=20)
_HOST = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?", fullmatch=True)
_REST = st.from_regex(r"(/[a-z0-9]{0,8})?(\?[a-zA-Z]{1,8}=[a-z0-9]{1,8})?", fullmatch=True)


@settings(max_examples=examples(500))
@given(st.sampled_from(["mongodb", "mongodb+srv", "sqlite"]), _USERINFO, _HOST, _REST)
@example("mongodb", "u:p", "0", "?PW=0")
@example("mongodb", "u:p", "h:1", "/db?authSource=admin")
def test_everything_before_the_host_is_masked_whatever_the_shape(scheme, userinfo, host, rest):
    """The user information goes whatever it holds; an option keeps its value unless its
    name is a secret's (``?pw=``, ``?token=``: :func:`kleio.redaction.is_secret_name`)."""
    from kleio.redaction import is_secret_name

    address = f"{scheme}://{userinfo}@{host}{rest}"
    path, _, option = rest.partition("?")
    if option:
        name, _, value = option.partition("=")
        option = f"?{name}={'***' if is_secret_name(name) else value}"
    assert mask_address(address) == f"{scheme}://***@{host}{path}{option}"


@pytest.mark.filterwarnings("ignore:Unknown option")  # pymongo's, on a '?' in a password
@settings(max_examples=examples(150), deadline=None)
@given(_USERINFO, st.sampled_from([":", "@", "/", ":/", "?", ""]), _PASSWORD)
def test_no_store_message_shows_a_password_whatever_the_address(user, separator, password):
    """Messages of a MongoDB store that cannot be used (a malformed address, a server
    that does not answer) never show the password, nor a fragment of it."""
    address = f"mongodb://{user}{separator}Q{password}J@127.0.0.1:1/"
    store = open_journal(address)
    try:
        with _quick_server_selection():
            store.find_trials()
    except StoreError as error:
        message = str(error)
    else:  # pragma: no cover - nothing listens on port 1
        raise AssertionError("a store without a server answered")
    assert not set("QXJZ") & set(message), message
    assert "\n" not in message


@contextlib.contextmanager
def _quick_server_selection():
    import kleio.store.mongodb

    saved = kleio.store.mongodb.SERVER_SELECTION_TIMEOUT_MS
    kleio.store.mongodb.SERVER_SELECTION_TIMEOUT_MS = 50
    try:
        yield
    finally:
        kleio.store.mongodb.SERVER_SELECTION_TIMEOUT_MS = saved


def test_sqlite_creates_its_file_and_folder_on_first_use(tmp_path):
    path = tmp_path / "deep" / "folder" / "kleio.db"
    store = open_journal(str(path))
    assert not path.exists()
    assert store.find_trials() == []
    assert path.exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_refuses_a_database_that_is_not_kleios(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(StoreError, match="not a Kleio database"):
        open_journal(str(path)).find_trials()
    with sqlite3.connect(path) as connection:  # untouched
        assert connection.execute("SELECT count(*) FROM customers").fetchone() == (0,)


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="notes.db"):
        open_journal(str(path)).find_trials()
    assert path.read_bytes().startswith(b"these are my notes")


def test_sqlite_reconnects_after_fork(tmp_path):
    import os

    store = open_journal(str(tmp_path / "kleio.db"))
    store.create_trial({"_id": "parent", "created": 1.0})
    pid = os.fork()
    if pid == 0:  # the child uses its own connection
        try:
            store.create_trial({"_id": "child", "created": 2.0})
        except BaseException:
            os._exit(1)
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert [d["_id"] for d in store.find_trials()] == ["child", "parent"]


def _mode(path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_creates_its_file_wal_and_folder_for_the_owner_only(tmp_path):
    path = tmp_path / "home" / "kleio.db"
    store = open_journal(str(path))
    store.create_trial({"_id": "t", "created": 1.0})  # a write: the WAL and its index exist
    journal = [path, path.with_name("kleio.db-wal"), path.with_name("kleio.db-shm")]
    assert [_mode(p) for p in [path.parent, *journal]] == [0o700, 0o600, 0o600, 0o600]
    store.close()


def test_sqlite_keeps_the_permissions_of_an_existing_database(tmp_path):
    path = tmp_path / "shared.db"
    open_journal(str(path)).create_trial({"_id": "t", "created": 1.0})
    path.chmod(0o640)
    tmp_path.chmod(0o750)
    store = open_journal(str(path))
    store.create_trial({"_id": "u", "created": 2.0})
    assert (_mode(path), _mode(tmp_path)) == (0o640, 0o750)
    store.close()


# -- summaries: what each backend does to keep them right --------------------------------


def _statistics(trial: str, count: int, writer: str = "w", start: int = 0) -> list[Event]:
    return [
        Event(trial, "statistic", event_key(1.0 + i, writer, i), 1.0 + i, {"loss": 1.0 / (i + 1)})
        for i in range(start, start + count)
    ]


#: The tables of a journal as Kleio wrote it with schema 1 (schema 2 added the summaries):
#: one row per event.
SCHEMA_1 = """
CREATE TABLE trials (id TEXT PRIMARY KEY, created REAL NOT NULL, status TEXT, project TEXT,
    parent TEXT, document TEXT NOT NULL);
CREATE TABLE trial_tags (trial TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (tag, trial))
    WITHOUT ROWID;
CREATE TABLE events (trial TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    time REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (trial, kind, key)) WITHOUT ROWID;
CREATE TABLE blobs (id TEXT PRIMARY KEY, length INTEGER NOT NULL, chunk_size INTEGER NOT NULL,
    uploaded REAL NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE blob_chunks (blob TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (blob, n));
PRAGMA application_id = 1263290703;
PRAGMA user_version = 1;
"""
SUMMARIES_2 = """
CREATE TABLE summaries (trial TEXT NOT NULL, kind TEXT NOT NULL, field TEXT NOT NULL,
    count INTEGER NOT NULL, first_key TEXT NOT NULL, first TEXT NOT NULL,
    last_key TEXT NOT NULL, last TEXT NOT NULL, min, max, PRIMARY KEY (trial, kind, field))
    WITHOUT ROWID;
CREATE TABLE stale_summaries (trial TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (trial, kind)) WITHOUT ROWID;
PRAGMA user_version = 2;
"""


def _old_journal(path, version: int, rows: list[tuple]) -> None:
    """A journal as Kleio wrote it with schema ``version`` (1 or 2), holding the event
    ``rows`` (``trial, kind, key, time, data`` as JSON text)."""
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA_1 + (SUMMARIES_2 if version == 2 else ""))
        connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    connection.close()


def _rows(events: list[Event]) -> list[tuple]:
    return [(e.trial, e.kind, e.key, e.time, json.dumps(e.data)) for e in events]


def test_sqlite_summarises_the_events_of_a_journal_written_before_summaries(tmp_path):
    path = tmp_path / "kleio.db"
    _old_journal(path, 1, _rows(_statistics("old", 5)))  # as Kleio 0.2 wrote it
    store = open_journal(str(path))
    store.append_events(_statistics("old", 2, start=5))  # a resumed trial logs on
    # Sorting every trial by one statistic summarises them from the events too.
    assert store.read_field_summaries("statistic", "loss")["old"][:3] == (7, 1.0, 1 / 7)
    loss = store.read_summaries(["old"], "statistic")["old"]["loss"]
    assert (loss.count, loss.first, loss.last) == (7, 1.0, 1 / 7)
    assert [e.data["loss"] for e in store.read_events("old")] == [1 / i for i in range(1, 8)]
    store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("SELECT count(*) FROM stale_summaries").fetchone() == (0,)


def test_sqlite_keeps_every_event_of_a_journal_written_one_row_per_event(tmp_path):
    # Schema 3 stores rows of many events; a journal of schema 2 is converted on opening.
    path = tmp_path / "kleio.db"
    events = [
        *_statistics("a", 2_345),
        *_statistics("a", 3, writer="x"),  # a second writer, its keys among the first's
        *_statistics("b", 7),
        Event("a", "output", event_key(2.0, "w", 0), 2.0, {"text": "hello"}),
    ]
    _old_journal(path, 2, _rows(events))
    store = open_journal(str(path))
    by_trial = {trial: list(store.read_events(trial)) for trial in ("a", "b")}
    assert [*by_trial["a"], *by_trial["b"]] == sorted(events, key=lambda e: (e.trial, e.key))
    assert store.count_events("a", ["statistic"]) == 2_348
    assert store.append_events(_statistics("a", 10)) == 0  # already there: not again
    store.close()


def test_sqlite_lists_the_trials_of_a_journal_written_before_listings(tmp_path):
    """A database of schema 3 has no listing column: opening it fills one from each
    document, a document holding NaN (which SQLite's JSON functions refuse) included."""
    path = tmp_path / "kleio.db"
    store = open_journal(str(path))
    documents = [
        {"_id": "a1", "created": 1.5, "status": "completed", "tags": ["x"], "run_time": 2.0},
        {"_id": "b2", "created": 2.5, "status": "running", "configuration": {"lr": math.nan}},
    ]
    for document in documents:
        store.create_trial(document)
    store.close()
    with sqlite3.connect(path) as connection:  # as Kleio wrote it before listings
        connection.executescript(
            "DROP INDEX trials_listing; ALTER TABLE trials DROP COLUMN listing;"
            " PRAGMA user_version = 3;"
        )
    store = open_journal(str(path))
    listed = store.find_trials(fields=["status", "tags", "run_time", "created"])
    assert [{k: v for k, v in d.items() if v is not None} for d in listed] == [
        {"_id": "b2", "status": "running", "created": 2.5},
        {"_id": "a1", "status": "completed", "tags": ["x"], "run_time": 2.0, "created": 1.5},
    ]
    store.update_trial("b2", {"status": "completed", "run_time": 4.0})
    assert store.find_trials(fields=["run_time", "status"])[0] == {
        "_id": "b2",
        "run_time": 4.0,
        "status": "completed",
    }
    store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_sqlite_blocks_the_events_of_a_journal_written_before_blocks(tmp_path):
    """A database of schema 4 has no blocks: its rows are summarised when first read,
    into the blocks a journal of this version holds, and a curve reads the same."""
    path = tmp_path / "kleio.db"
    store = open_journal(str(path))
    for start in range(0, 2_500, 700):
        store.append_events(_statistics("a", 700, start=start))
    store.append_events(_statistics("b", 3))
    written = store.read_blocks("a", "statistic")
    store.close()
    with sqlite3.connect(path) as connection:  # as Kleio wrote it before blocks
        connection.executescript(
            "DROP TABLE event_blocks; DROP TABLE stale_blocks; PRAGMA user_version = 4;"
        )
    store = open_journal(str(path))
    assert store.read_blocks("a", "statistic") == written
    store.append_events(_statistics("b", 2, start=3))  # a resumed trial logs on
    assert [block.count for block in store.read_blocks("b", "statistic")] == [3, 2]
    store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("SELECT count(*) FROM stale_blocks").fetchone() == (0,)


@pytest.mark.parametrize("aged", [False, True], ids=["new", "upgraded"])
def test_sqlite_finds_a_trials_tags_by_an_index(tmp_path, aged):
    """Writing a trial's tags (every create and tag change) deletes its tag rows by trial:
    a scan of every tag of the journal made creating 100,000 trials quadratic."""
    path = tmp_path / "kleio.db"
    store = open_journal(str(path))
    store.create_trial({"_id": "a", "created": 1.0, "tags": ["x"]})
    store.close()
    if aged:  # as Kleio wrote it before the index
        with sqlite3.connect(path) as connection:
            connection.executescript(
                "DROP INDEX trial_tags_trial; DROP TABLE event_blocks;"
                " DROP TABLE stale_blocks; PRAGMA user_version = 4;"
            )
        store = open_journal(str(path))
        assert store.get_trial("a")["tags"] == ["x"]  # opened: upgraded
        store.close()
    with sqlite3.connect(path) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN DELETE FROM trial_tags WHERE trial = ?", ("a",)
        ).fetchall()
    assert any("USING" in row[-1] and "INDEX" in row[-1] for row in plan), plan
    assert not any(row[-1].startswith("SCAN") for row in plan), plan


def test_mongodb_blocks_events_written_before_blocks_and_distrusts_a_write_in_flight():
    store = MongoStore(
        "mongodb://mongomock.invalid/", "kleio", mongomock.MongoClient(), catalogue=TRIAL_CATALOGUE
    )
    store.append_events(_statistics("a", 1_500))
    written = store.read_blocks("a", "statistic")
    assert [block.count for block in written] == [1_000, 500]
    store._db.blocks.delete_many({})  # as an older Kleio left it
    assert store.read_blocks("a", "statistic") == written
    assert store._db.blocks.count_documents({}) == 2  # kept
    for start in range(1_500, 1_520, 5):  # small flushes: their blocks made by a reader
        store.append_events(_statistics("a", 5, start=start))
    assert [block.count for block in store.read_blocks("a", "statistic")] == [1_000, 500, 20]
    store.append_events(_statistics("a", 3, start=1_520))
    assert [block.count for block in store.read_blocks("a", "statistic")] == [1_000, 500, 20, 3]
    store._db.summaries.update_one({}, {"$inc": {"writing": 1}})  # a writer in flight
    assert store.read_blocks("a", "statistic") is None


def test_sqlite_lists_the_study_of_every_trial_of_a_journal_listed_before_studies(tmp_path):
    """A journal of schema 4 or 5 has listings without the study: opening it makes them
    again, so that `kleio studies` counts trials from the listings alone."""
    path = tmp_path / "kleio.db"
    store = open_journal(str(path))
    store.create_trial({"_id": "a1", "created": 1.5, "status": "completed", "study": "s"})
    store.create_trial({"_id": "b2", "created": 2.5, "status": "new"})
    store.close()
    with sqlite3.connect(path) as connection:  # as Kleio wrote it before
        connection.execute("UPDATE trials SET listing = json_remove(listing, '$.study')")
        connection.execute("PRAGMA user_version = 4")
    store = open_journal(str(path))
    assert store.find_trials(fields=["study"]) == [
        {"_id": "b2"},
        {"_id": "a1", "study": "s"},
    ]
    store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        (listing,) = connection.execute("SELECT listing FROM trials WHERE id = 'a1'").fetchone()
    assert json.loads(listing)["study"] == "s"


def test_sqlite_keeps_kleios_trials_in_the_table_every_version_made(tmp_path):
    """Kleio's catalogue makes the trials table of every journal before it: an older
    Kleio writes a new journal's columns, and listings are the same text."""
    path = tmp_path / "kleio.db"
    store = open_journal(str(path))
    document = {"_id": "a", "created": 1.5, "status": "new", "refers": {"parent": "p"}}
    store.create_trial({**document, "configuration": {"lr": 0.1}})
    store.close()
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(trials)")]
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(trials)")}
        (listing,) = connection.execute("SELECT listing FROM trials").fetchone()
    # A journal made before studies gets its study column when first opened (the test
    # below): it comes after the document there, as ALTER TABLE adds it.
    assert columns == [
        "id", "created", "status", "project", "parent", "study", "listing", "document"
    ]  # fmt: skip
    names = ("created", "status", "project", "parent", "study")
    assert {f"trials_{name}" for name in names} <= indexes
    assert listing == '{"_id":"a","status":"new","created":1.5,"refers":{"parent":"p"}}'


def test_sqlite_gives_a_field_indexed_since_a_journal_was_made_a_column(tmp_path):
    """A field the catalogue indexes that an older journal has no column for gets one,
    filled from every document (one holding NaN included), when the journal is opened."""
    path = tmp_path / "kleio.db"
    store = open_journal(str(path))
    store.create_trial({"_id": "a", "created": 1.0, "team": "t1", "x": math.nan})
    store.create_trial({"_id": "b", "created": 2.0})
    store.close()
    teams = Catalogue(TRIAL_CATALOGUE.listed, {**TRIAL_CATALOGUE.indexed, "team": "team"})
    store = SQLiteStore(path, catalogue=teams)
    assert [d["_id"] for d in store.find_trials(team="t1")] == ["a"]
    assert store.update_trial("b", {"team": "t1"})
    assert [d["_id"] for d in store.find_trials(team="t1", status=None)] == ["b", "a"]
    store.close()
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(trials)")]
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(trials)")}
    assert columns[-1] == "team" and "trials_team" in indexes
    with pytest.raises(ValueError, match="document"):
        SQLiteStore(path, catalogue=Catalogue(indexed={"document": "x"}))


def test_mongodb_lists_a_thousand_trials_in_one_round_trip(wire_server):
    """Each batch of a cursor is a round trip (20 ms or more to a hosted MongoDB): a
    listing asks for every trial in its first batch, not 101 (MongoDB's default)."""
    import pymongo

    name = unique_database_name()
    commands = _command_listener()
    client = pymongo.MongoClient(wire_server.uri, event_listeners=[commands])
    try:
        store = MongoStore(wire_server.uri, name, client, catalogue=TRIAL_CATALOGUE)
        client[name].trials.insert_many(
            [{"_id": f"t{i:04d}", "created": float(i), "status": "new"} for i in range(1000)]
        )
        store.get_trial("x")  # set up
        del commands.names[:]
        listed = store.find_trials(fields=["status", "created"])
        assert len(listed) == 1000 and listed[0]["_id"] == "t0999"
        assert commands.names == ["find"]
    finally:
        client.drop_database(name)
        client.close()


def test_mongodb_appends_events_of_one_kind_in_three_round_trips(wire_server):
    """Every status change, execution start and end of a run is one append (each round
    trip is 20 ms or more to a hosted MongoDB): the mark of its summary answers with the
    summary, so no read comes between the insert and the summary's update; the summary
    stays exact, also when another writer changed it after the mark."""
    import pymongo

    name = unique_database_name()
    commands = _command_listener()
    client = pymongo.MongoClient(wire_server.uri, event_listeners=[commands])
    try:
        store = MongoStore(wire_server.uri, name, client, catalogue=TRIAL_CATALOGUE)
        store.get_trial("x")  # set up
        for start in (0, 2):  # a new summary, then one that exists
            del commands.names[:]
            assert store.append_events(_statistics("t", 2, start=start)) == 2
            assert commands.names == ["findAndModify", "insert", "update"]
        original = store._mark_writing

        def beaten(trial, kind):  # another writer's whole append comes after this mark
            marked = original(trial, kind)
            other = MongoStore(wire_server.uri, name, catalogue=TRIAL_CATALOGUE)
            other.append_events(_statistics("t", 1, writer="o"))
            other.close()
            return marked

        store._mark_writing = beaten
        store.append_events(_statistics("t", 1, start=4))
        summary = store.read_summaries(["t"], "statistic")["t"]["loss"]
        assert summary.count == 6
        document = client[name].summaries.find_one({"trial": "t"})
        assert document["writing"] == 0 and document["fields"]["loss"]["count"] == 6
    finally:
        client.drop_database(name)
        client.close()


#: Values whose JSON text the standard library and orjson write differently, or not at all.
AWKWARD = {
    "small": 1e-07,
    "large": 1e16,
    "nan": float("nan"),
    "infinite": [float("inf"), -float("inf")],
    "negative_zero": -0.0,
    "wide": -(2**63),
    "text": "héllo \u2028 \U0001f600 null",
    "none": None,
    "nested": {"a": [1, 2.5, True, None, {"b": "c"}]},
}


def _same(value, other) -> bool:
    return json.dumps(value, sort_keys=True) == json.dumps(other, sort_keys=True)


def test_sqlite_reads_events_written_before_orjson_and_writes_what_the_json_module_reads(tmp_path):
    # Pages and batches of 100 events and more are decoded and encoded with orjson.
    path = tmp_path / "kleio.db"
    keys = [event_key(1.0, "w0", number) for number in range(150)]
    # As Kleio wrote events with the json module, one row per event (schema 2).
    _old_journal(path, 2, [("old", "statistic", key, 1.0, json.dumps(AWKWARD)) for key in keys])
    store = open_journal(str(path))
    read = [event.data for event in store.read_events("old", ["statistic"])]
    assert len(read) == 150 and all(_same(data, AWKWARD) for data in read)
    assert math.isnan(read[0]["nan"]) and math.copysign(1, read[0]["negative_zero"]) == -1

    store.append_events([Event("new", "statistic", key, 1.0, AWKWARD) for key in keys])
    with sqlite3.connect(path) as connection:
        texts = connection.execute("SELECT data FROM events WHERE trial = 'new'").fetchall()
    # The stored text is JSON the standard library reads (NaN and infinities as Python's).
    stored = [data for (text,) in texts for data in json.loads(text)]
    assert len(stored) == 150 and all(_same(data, AWKWARD) for data in stored)
    assert all(_same(event.data, AWKWARD) for event in store.read_events("new"))
    store.close()


def test_sqlite_appends_events_and_their_summaries_in_one_transaction(tmp_path, monkeypatch):
    store = open_journal(str(tmp_path / "kleio.db"))
    store.append_events(_statistics("t", 2))

    def failing(*args):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SQLiteStore, "_add_to_summaries", staticmethod(failing))
    with pytest.raises(StoreError):
        store.append_events(_statistics("t", 3, start=2))
    monkeypatch.undo()
    assert store.count_events("t") == 2
    store.append_events(_statistics("t", 3, start=2))
    assert store.read_summaries(["t"], "statistic")["t"]["loss"].count == 5


@pytest.fixture(params=["mongomock", "wire"])
def mongo_store(request):
    if request.param == "mongomock":
        import mongomock

        yield MongoStore(
            "mongodb://mongomock.invalid/",
            unique_database_name(),
            mongomock.MongoClient(),
            catalogue=TRIAL_CATALOGUE,
        )
        return
    server = request.getfixturevalue("wire_server")
    store = MongoStore(server.uri, unique_database_name(), catalogue=TRIAL_CATALOGUE)
    yield store
    store._db.client.drop_database(store.name)
    store.close()


def test_mongodb_reads_blocks_without_counting_the_events_again(mongo_store, monkeypatch):
    """The first read of a trial's blocks counts its events (a journal's older events, no
    writer counted); later reads take the count from the summary, which each append adds
    to, and count again only when that summary cannot vouch for it."""
    monkeypatch.setattr("kleio.store.mongodb.BLOCK_EVENTS", 100)  # 1,000 in use
    events = mongo_store._db.events
    counts = []
    original = type(events).count_documents

    def counting(self, *args, **kwargs):
        counts.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(events), "count_documents", counting)
    mongo_store.append_events(_statistics("t", 150))
    mongo_store._db.summaries.update_one({}, {"$unset": {"added": ""}})  # an older Kleio's
    assert [b.count for b in mongo_store.read_blocks("t", "statistic")] == [100, 50]
    assert len(counts) == 1
    for start in range(150, 180, 10):  # small flushes (blocks made by the reader) and
        mongo_store.append_events(_statistics("t", 10, start=start))  # events already in
        mongo_store.append_events(_statistics("t", 5, start=start))
        assert sum(b.count for b in mongo_store.read_blocks("t", "statistic")) == start + 10
    mongo_store.append_events(_statistics("t", 200, start=180))  # blocks by the writer
    assert sum(b.count for b in mongo_store.read_blocks("t", "statistic")) == 380
    assert len(counts) == 1
    # A summary a writer left stale (writers busy on it all along) is counted again.
    mongo_store._db.summaries.update_one({}, {"$set": {"stale": True}})
    mongo_store.append_events(_statistics("t", 10, start=380))
    assert sum(b.count for b in mongo_store.read_blocks("t", "statistic")) == 390
    assert len(counts) == 2


def test_mongodb_trusts_no_summary_a_writer_left_half_written(mongo_store, monkeypatch):
    mongo_store.append_events(_statistics("t", 2))
    original = MongoStore._add_to_summary

    def dying(self, *args):
        raise StoreUnavailable("connection lost")

    monkeypatch.setattr(MongoStore, "_add_to_summary", dying)
    with pytest.raises(StoreUnavailable):
        mongo_store.append_events(_statistics("t", 3, start=2))  # events in, summary not
    monkeypatch.setattr(MongoStore, "_add_to_summary", original)
    assert mongo_store.read_summaries(["t"], "statistic")["t"]["loss"].count == 5
    mongo_store.append_events(_statistics("t", 4, start=2))  # the retry: 3 old, 1 new
    assert mongo_store.read_summaries(["t"], "statistic")["t"]["loss"].count == 6
    document = mongo_store._db.summaries.find_one({"trial": "t"})
    assert document["writing"] == 1  # the dead writer's mark: recomputed, not kept

    monkeypatch.setattr("kleio.store.mongodb.ABANDONED_WRITE_AGE", 0.0)
    assert mongo_store.read_summaries(["t"], "statistic")["t"]["loss"].count == 6
    document = mongo_store._db.summaries.find_one({"trial": "t"})
    assert document["writing"] == 0 and document["fields"]["loss"]["count"] == 6
    mongo_store.append_events(_statistics("t", 1, start=6))
    assert mongo_store.read_summaries(["t"], "statistic")["t"]["loss"].count == 7


def test_mongodb_leaves_a_summary_that_keeps_changing_to_its_readers(mongo_store, monkeypatch):
    # Processes logging to one trial all at once may update its summary between each
    # other's read and write, every time: the events are kept, the summary is recomputed.
    mongo_store.append_events(_statistics("t", 2))
    monkeypatch.setattr("kleio.store.mongodb._SUMMARY_ATTEMPTS", 0)  # every attempt lost
    assert mongo_store.append_events(_statistics("t", 3, start=2)) == 3
    assert mongo_store._db.summaries.find_one({"trial": "t"})["stale"]  # nx-27017 gives 1
    # Sorting every trial by one statistic recomputes it too, and keeps it.
    assert mongo_store.read_field_summaries("statistic", "loss")["t"][:3] == (5, 1.0, 1 / 5)
    document = mongo_store._db.summaries.find_one({"trial": "t"})
    assert not document["stale"] and document["writing"] == 0  # recomputed and kept
    assert mongo_store.read_summaries(["t"], "statistic")["t"]["loss"][:3] == (5, 1.0, 1 / 5)


def test_mongodb_summarises_the_events_of_a_journal_written_before_summaries(mongo_store):
    mongo_store.append_events(_statistics("old", 3) + _statistics("older", 1))
    database = mongo_store._db
    database.summaries.drop()
    database.kleio.drop()
    mongo_store._database = None  # as a new process connects: it finds older events
    summaries = mongo_store.read_summaries(["old", "older"], "statistic")
    assert summaries["old"]["loss"][:3] == (3, 1.0, 1 / 3)
    assert summaries["older"]["loss"][:3] == (1, 1.0, 1.0)
    assert mongo_store._db.summaries.count_documents({"stale": True}) == 0  # kept


class _LongestText:
    """A connection past which SQLite's joined listing is too long, as it is for a journal
    of millions of trials: for Python 3.10, whose sqlite3 cannot lower SQLite's limit."""

    def __init__(self, connection):
        self._connection = connection

    def execute(self, statement, *parameters):
        if "group_concat(listing" in statement:
            raise sqlite3.DataError("string or blob too big")  # SQLite's own error
        return self._connection.execute(statement, *parameters)


def test_sqlite_lists_trials_whose_listings_pass_sqlites_longest_text(tmp_path, monkeypatch):
    """A listing is one text joined by SQLite, within its limit on a text's length (1 GB
    by default); past it, the trials are listed all the same."""
    store = open_journal(str(tmp_path / "kleio.db"))
    for index in range(50):
        store.create_trial({"_id": f"t{index:02d}", "created": float(index), "tags": ["x"]})
    connection = store._connect()
    if hasattr(connection, "setlimit"):  # Python 3.11: SQLite's own limit, lowered
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000)  # 50 listings: 2 KB
    else:
        monkeypatch.setattr(
            store, "_reading", contextlib.contextmanager(lambda: iter([_LongestText(connection)]))
        )
    listed = store.find_trials(fields=["tags", "created"], limit=40)
    assert [d["_id"] for d in listed] == [f"t{index:02d}" for index in range(49, 9, -1)]
    assert listed[0] == {"_id": "t49", "tags": ["x"], "created": 49.0}
    store.close()


def _command_listener():
    """A pymongo listener whose ``names`` are the commands sent, in order."""
    from pymongo import monitoring

    class Commands(monitoring.CommandListener):
        def __init__(self):
            self.names: list[str] = []

        def started(self, event):
            self.names.append(event.command_name)

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    return Commands()


def test_mongodb_sets_a_database_up_once_and_again_once_it_was_dropped(wire_server):
    """Opening a database already set up costs one round trip, not ten (a command's
    start at 20 ms a round trip); a dropped database gets its indexes back."""
    import pymongo

    name = unique_database_name()
    first = MongoStore(wire_server.uri, name, catalogue=TRIAL_CATALOGUE)
    first.get_trial("x")
    first.close()
    commands = _command_listener()
    client = pymongo.MongoClient(wire_server.uri, event_listeners=[commands])
    try:
        store = MongoStore(wire_server.uri, name, client, catalogue=TRIAL_CATALOGUE)
        assert store.get_trial("x") is None
        assert commands.names == ["find", "find"]  # the set-up markers, then the trial
        client.drop_database(name)
        store._database = None  # as a new process connects
        del commands.names[:]
        store.get_trial("x")
        assert commands.names.count("createIndexes") == 10
        unique = [i for i in client[name].events.index_information().values() if i.get("unique")]
        assert [index["key"] for index in unique] == [[("trial", 1), ("kind", 1), ("key", 1)]]
    finally:
        client.drop_database(name)
        client.close()


def test_mongodb_appends_events_of_several_kinds_in_four_round_trips(wire_server):
    """An append's round trips do not grow with its kinds (each is 20 ms or more to a
    hosted MongoDB): the marks of the summaries in one bulk write and one read, the
    events in one insert, the summaries in one bulk write; one kind, three as before.
    A summary changed by another writer meanwhile is read again and merged, not lost."""
    import pymongo

    name = unique_database_name()
    commands = _command_listener()
    client = pymongo.MongoClient(wire_server.uri, event_listeners=[commands])
    try:
        store = MongoStore(wire_server.uri, name, client, catalogue=TRIAL_CATALOGUE)
        store.get_trial("warm")
        del commands.names[:]
        made = [
            Event("t", kind, event_key(1.0 + i, "w", i), 1.0 + i, {"i": i})
            for kind in ("status", "execution", "usage")
            for i in range(2)
        ]
        assert store.append_events(made) == 6
        assert commands.names == ["update", "find", "insert", "update"]
        del commands.names[:]
        store.append_events([Event("t", "usage", event_key(9.0, "w", 9), 9.0, {"i": 9})])
        assert commands.names == ["findAndModify", "insert", "update"]
        # Another writer changes a summary between this one's marks and its merge.
        other = MongoStore(wire_server.uri, name, catalogue=TRIAL_CATALOGUE)
        original = store._mark_all_writing

        def marked_then_changed(pairs):
            found = original(pairs)
            other.append_events([Event("t", "usage", event_key(20.0, "o", 0), 20.0, {"i": 20})])
            return found

        store._mark_all_writing = marked_then_changed
        store.append_events(
            [
                Event("t", kind, event_key(30.0, "w", 30), 30.0, {"i": 30})
                for kind in ("status", "usage")
            ]
        )
        other.close()
        usage = store.read_summaries(["t"], "usage")["t"]["i"]
        status = store.read_summaries(["t"], "status")["t"]["i"]
        assert (usage.count, usage.min, usage.max, usage.last) == (5, 0, 30, 30)
        assert (status.count, status.last) == (3, 30)
        summaries = client[name].summaries
        assert summaries.count_documents({"writing": {"$ne": 0}}) == 0
        assert summaries.count_documents({}) == 3
    finally:
        client.drop_database(name)
        client.close()


def test_mongodb_connecting_ahead_reports_an_unreachable_server_once(monkeypatch):
    """A connection started ahead (while a run looks at git) that fails makes the first
    call fail with its one-line error at once, not after a second timeout."""
    from kleio.store import mongodb

    monkeypatch.setattr(mongodb, "SERVER_SELECTION_TIMEOUT_MS", 300)
    store = MongoStore(
        f"mongodb://127.0.0.1:{free_port()}/", unique_database_name(), catalogue=TRIAL_CATALOGUE
    )
    store.connect_ahead()
    store._ahead.join(10)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach MongoDB"):
        store.get_trial("x")
    assert time.monotonic() - started < 0.25
    with pytest.raises(StoreUnavailable):  # a later call tries again
        store.get_trial("x")
    store.close()
