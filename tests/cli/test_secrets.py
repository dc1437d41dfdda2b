"""Secrets never reach the journal nor Kleio's messages: database passwords, and secret
values on a script's command line."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.conftest import git, write_script
from tests.helpers import text, trial_id_in

#: The script writes what it received where Kleio does not look (its output is journalled).
RECEIVER = """\
import hashlib, json, sys
with open("received.json", "w") as stream:
    json.dump(sys.argv[1:], stream)
print("done")
"""

SECRETS = ("sk-api-11111", "pw-22222", "tok-33333", "dbpw-44444")
COMMAND = (
    "python",
    "receive.py",
    "--api-key",
    SECRETS[0],
    "--password",
    SECRETS[1],
    f"--token={SECRETS[2]}",
    "--db",
    f"postgres://alice:{SECRETS[3]}@db.example.org/runs",
    "--max-tokens",
    "512",
)


def journal_dump(home) -> str:
    with sqlite3.connect(home / "kleio.db") as connection:
        return "\n".join(connection.iterdump())


def shown(result) -> str:
    return text(result.stdout) + text(result.stderr)


@pytest.mark.parametrize(
    "address",
    ["mongodb://alice:p@ssw0rd@host/", "mongodb://alice:pa/ss@host/", "mongodb://al@ice:PW@host/"],
)
def test_no_message_shows_any_part_of_a_malformed_address_password(kleio, address):
    for args in (("ls",), ("python", "train.py")):
        result = kleio(*args, KLEIO_DB_ADDRESS=address, timeout=60)
        assert result.returncode != 0
        errors = shown(result)
        assert "mongodb://***@host/" in errors and "Traceback" not in errors
        for fragment in ("p@ss", "ssw0rd", "pa/ss", "PW", "al@ice"):
            assert fragment not in errors


def test_secret_options_and_url_credentials_are_masked_but_the_script_gets_them(
    kleio, project, home
):
    write_script(project, "receive.py", RECEIVER)
    result = kleio(*COMMAND)
    assert result.returncode == 0, text(result.stderr)
    assert json.loads((project / "received.json").read_text()) == list(COMMAND[2:])
    trial = trial_id_in(result.stderr)

    dump = journal_dump(home)
    assert not [secret for secret in SECRETS if secret in dump]
    for args in (("ls",), ("ls", "--format", "json"), ("info", trial), ("info", "--json", trial)):
        listed = kleio(*args)
        assert listed.returncode == 0
        assert not [secret for secret in SECRETS if secret in shown(listed)], args
    record = json.loads(kleio("info", "--json", trial).stdout)
    assert record["commandline"] == [
        "python",
        "receive.py",
        "--api-key",
        "***",
        "--password",
        "***",
        "--token=***",
        "--db",
        "postgres://***@db.example.org/runs",
        "--max-tokens",
        "512",
    ]
    assert record["configuration"] == {
        "api-key": "***",
        "password": "***",
        "token": "***",
        "db": "postgres://***@db.example.org/runs",
        "max-tokens": 512,
    }


def test_the_trial_id_stands_on_the_real_values(kleio, project):
    write_script(project, "receive.py", RECEIVER)
    first = trial_id_in(kleio(*COMMAND).stderr)
    again = kleio(*COMMAND)
    assert again.returncode == 0 and "already completed" in text(again.stderr)
    assert first in text(again.stderr) or first[:7] in text(again.stderr)
    other = kleio(*COMMAND[:3], "sk-api-other", *COMMAND[4:])
    assert trial_id_in(other.stderr) != first


def test_kleio_run_id_of_a_trial_with_masked_values_says_how_to_give_them(kleio, project, journal):
    write_script(project, "receive.py", RECEIVER)
    trial = trial_id_in(kleio(*COMMAND).stderr)
    (project / "received.json").unlink()
    result = kleio("run", trial[:7])
    errors = text(result.stderr)
    assert result.returncode == 1 and errors.count("\n") == 1, errors
    assert "cannot replay --api-key, --password, --token, --db" in errors
    assert "run the command itself with the real values" in errors
    assert "kleio python receive.py --api-key VALUE" in errors
    assert not (project / "received.json").exists()  # nothing ran
    assert len(journal.find_trials()) == 1  # and nothing was made

    # Copying the stored command line back gives the same answer.
    copied = kleio("python", "receive.py", "--api-key", "***")
    assert copied.returncode == 1 and "cannot replay --api-key" in text(copied.stderr)


def test_a_branch_of_a_trial_with_masked_values_takes_them_again(kleio, project):
    write_script(project, "receive.py", RECEIVER)
    trial = trial_id_in(kleio(*COMMAND).stderr)[:7]
    refused = kleio("branch", trial, "--max-tokens", "1024")
    assert refused.returncode == 1 and "cannot replay" in text(refused.stderr)

    given = ["--api-key", "k2", "--password", "p2", "--token", "t2", "--db", "sqlite:///x.db"]
    branched = kleio("branch", trial, "--max-tokens", "1024", *given)
    assert branched.returncode == 0, text(branched.stderr)
    received = json.loads((project / "received.json").read_text())
    assert received[received.index("--api-key") + 1] == "k2"
    assert received[received.index("--max-tokens") + 1] == "1024"


def test_saving_a_command_with_secrets_says_it_cannot_be_replayed_by_id(kleio, project):
    write_script(project, "receive.py", RECEIVER)
    result = kleio("save", "python", "receive.py", "--token", "tok-1")
    assert result.returncode == 0
    assert "--token recorded masked" in text(result.stderr)
    assert "tok-1" not in shown(result)


def test_secrets_in_a_configuration_file_are_masked_and_replayed_from_the_file(
    kleio, project, home
):
    write_script(project, "receive.py", RECEIVER)
    (project / "creds.yaml").write_text("user: alice\npassword: hunter2-secret\nlr: 0.1\n")
    result = kleio("python", "receive.py", "--credentials", "creds.yaml", "--opt", "creds.yaml")
    assert result.returncode == 0, text(result.stderr)
    trial = trial_id_in(result.stderr)
    assert "hunter2-secret" not in journal_dump(home)
    record = json.loads(kleio("info", "--json", trial).stdout)
    assert record["configuration"] == {
        "credentials": "***",
        "opt": {"user": "alice", "password": "***", "lr": 0.1},
    }
    # The file is read again: `kleio run ID` can replay this one.
    assert record["commandline"][2:4] == ["--credentials", "creds.yaml"]


#: Option names whose values are secret, as users write them.
SECRET_OPTIONS = ("--pwd", "--PW", "--pass", "--Cookie", "--bearer", "--jwt", "--authorization")


@pytest.mark.parametrize(
    "remote", ["https://host/r.git?api_key=hunter2", "https://user:hunter2@host/r.git"]
)
def test_secret_url_parameters_options_and_remotes_never_reach_the_journal(
    kleio, project, home, remote
):
    write_script(project, "receive.py", RECEIVER)
    git(project, "remote", "add", "origin", remote)
    command = (
        "python",
        "receive.py",
        "--pwd",
        "hunter2",
        "--url",
        "https://x/y?access_token=hunter2&page=2",
        "--callback=https://x/cb#id_token=hunter2",
        "--db-password=hunter2",
        "--Api-Token",
        "hunter2",
        *(f"{name}=hunter2" for name in SECRET_OPTIONS),
        "--passes",
        "3",
    )
    result = kleio(*command)
    assert result.returncode == 0, text(result.stderr)
    assert json.loads((project / "received.json").read_text()) == list(command[2:])
    trial = trial_id_in(result.stderr)

    assert b"hunter2" not in (home / "kleio.db").read_bytes()
    assert "hunter2" not in journal_dump(home)
    for args in (("ls", "--json"), ("info", trial), ("info", "--json", trial), ("cat", trial)):
        listed = kleio(*args)
        assert listed.returncode == 0, args
        assert "hunter2" not in shown(listed), args
    record = json.loads(kleio("info", "--json", trial).stdout)
    assert record["commandline"][2:10] == [
        "--pwd",
        "***",
        "--url",
        "https://x/y?access_token=***&page=2",
        "--callback=https://x/cb#id_token=***",
        "--db-password=***",
        "--Api-Token",
        "***",
    ]
    assert record["configuration"]["passes"] == 3
    assert "hunter2" not in json.dumps(record["version"])
    assert record["version"]["repository"] == "r"


@pytest.mark.slow
def test_a_database_address_is_printed_without_its_secret_options(kleio):
    address = "mongodb://127.0.0.1:1/?tlsCertificateKeyFilePassword=hunter2&appname=x"
    result = kleio("ls", KLEIO_DB_ADDRESS=address, timeout=60)
    assert result.returncode != 0
    errors = shown(result)
    assert "/?tlsCertificateKeyFilePassword=***&appname=x" in errors, errors
    assert "hunter2" not in errors and "Traceback" not in errors
