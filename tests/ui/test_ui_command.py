"""``kleio ui`` as a user starts it: where it listens, what it says, how it stops, and
the one-line errors of a port it cannot have."""

from __future__ import annotations

import signal
import socket
import sys
import time
import urllib.parse

from tests.helpers import run_kleio, text
from tests.ui.conftest import Client, kleio_ui


def test_kleio_ui_serves_the_journal_on_this_machine_until_interrupted(sqlite_journal):
    with kleio_ui(sqlite_journal.env, sqlite_journal.project) as running:
        assert urllib.parse.urlsplit(running.url).hostname == "127.0.0.1"
        assert "warning" not in running.said
        client = Client(running.url)
        page = client.get("/")
        assert page.status == 200 and b"<title>Kleio</title>" in page.body
        assert client.json("/api/trials")["total"] == len(sqlite_journal.ids)
        assert client.json("/api/info")["database"] == sqlite_journal.env["KLEIO_DB_ADDRESS"]
        assert client.get("/api/info", {"Host": "elsewhere.example"}).status == 403
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(20) == 0
        errors = text(running.process.stderr.read())
        assert errors.strip() == "kleio: dashboard stopped", errors


def test_kleio_ui_on_another_address_warns_that_others_can_read_the_journal(sqlite_journal):
    with kleio_ui(sqlite_journal.env, sqlite_journal.project, "--host", "0.0.0.0") as running:
        port = urllib.parse.urlsplit(running.url).port
        assert running.said.startswith(
            f"kleio: warning: listening on 0.0.0.0: anyone who can reach this machine on "
            f"port {port} and learns the token can read this journal"
        ), running.said
        client = Client(running.url.replace("0.0.0.0", "127.0.0.1"))
        # Reachable by any name now: the user asked for it.
        assert client.get("/api/info", {"Host": f"workstation.example:{port}"}).status == 200


def _one_line_error(result, fragment: str) -> None:
    errors = text(result.stderr)
    assert result.returncode != 0 and "Traceback" not in errors, errors
    assert errors.count("\n") == 1 and errors.startswith("kleio: error: "), errors
    assert fragment in errors, errors


def test_a_port_in_use_is_a_one_line_error(sqlite_journal):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_kleio(
            "ui", "--port", str(port), env=sqlite_journal.env, cwd=sqlite_journal.project
        )
    _one_line_error(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "choose another --port" in text(result.stderr)


def test_a_port_out_of_range_is_a_one_line_error(sqlite_journal):
    result = run_kleio("ui", "--port", "70000", env=sqlite_journal.env, cwd=sqlite_journal.project)
    _one_line_error(result, "--port must be from 0 to 65535, not 70000")
    assert result.returncode == 2


def test_the_mongodb_password_never_reaches_the_page(sqlite_journal, wire_server):
    """The address is shown masked; requests that fail say so without it, and so does
    the terminal. (nx-27017 cannot authenticate, so every read fails here: a real
    MongoDB answers them, which the wire journal's tests cover without a password.)"""
    address = f"mongodb://alice:s3cret-pw@127.0.0.1:{wire_server.port}/"
    env = {**sqlite_journal.env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "kleio_ui"}
    with kleio_ui(env, sqlite_journal.project) as running:
        client = Client(running.url)
        info = client.json("/api/info")
        assert (
            info["database"] == f"mongodb://***@127.0.0.1:{wire_server.port}/ (database kleio_ui)"
        )
        answers = [
            client.get(path)
            for path in (
                "/",
                "/static/app.js",
                "/api/trials",
                "/api/trials/0123abc",
                "/api/keys?trials=0123abc",
                "/api/series?trials=0123abc&y=loss",
            )
        ]
        running.process.send_signal(signal.SIGINT)
        running.process.wait(20)
        terminal = running.said + text(running.process.stderr.read())
    for answer in answers:
        assert b"s3cret" not in answer.body and "s3cret" not in str(answer.headers)
    assert all(answer.status >= 400 for answer in answers[2:])
    assert "s3cret" not in terminal


def test_open_shows_the_dashboard_in_the_users_browser(sqlite_journal, tmp_path):
    """``--open`` starts the browser of ``BROWSER`` on the dashboard's address; the page
    is served while that browser asks for it (a browser in the terminal waits for it)."""
    seen = tmp_path / "seen"
    browser = tmp_path / "browser.py"
    browser.write_text(
        "import sys, urllib.request\n"
        "opener = urllib.request.build_opener(\n"
        "    urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor()\n"
        ")\n"
        "page = opener.open(sys.argv[1], timeout=30).read()\n"
        f"open({str(seen)!r}, 'w').write(sys.argv[1] + ' ' + str(b'<title>Kleio' in page))\n"
    )
    env = {**sqlite_journal.env, "BROWSER": f"{sys.executable} {browser} %s"}
    with kleio_ui(env, sqlite_journal.project, "--open") as running:
        deadline = time.monotonic() + 30
        while not seen.exists():
            assert time.monotonic() < deadline, "the browser was never started"
            time.sleep(0.1)
        time.sleep(0.2)
        assert seen.read_text() == f"{running.url} True"


def test_the_secret_options_of_a_mongodb_address_never_reach_the_page(sqlite_journal, wire_server):
    address = (
        f"mongodb://127.0.0.1:{wire_server.port}/?appname=x&tlsCertificateKeyFilePassword=hunter2"
    )
    env = {**sqlite_journal.env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": "kleio_ui"}
    with kleio_ui(env, sqlite_journal.project) as running:
        info = Client(running.url).json("/api/info")
        running.process.send_signal(signal.SIGINT)
        running.process.wait(20)
        terminal = running.said + text(running.process.stderr.read())
    assert info["database"] == (
        f"mongodb://127.0.0.1:{wire_server.port}/?appname=x&tlsCertificateKeyFilePassword=***"
        " (database kleio_ui)"
    )
    assert "hunter2" not in terminal
