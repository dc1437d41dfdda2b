"""Who the dashboard answers: the holder of its token, on this site, promptly.

On a cluster's login or compute node the dashboard's port is open to every user of the
machine; a page of any web site the user visits can make the browser send requests to
it. Neither reads anything: a request must carry the token ``kleio ui`` printed (a
cookie once the page is open), a request another site's page makes is refused before any
work, and a connection that says nothing is closed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.parse

import pytest

from kleio.ui import server as server_module
from kleio.ui.api import Dashboard
from tests.helpers import run_kleio, text
from tests.ui.conftest import TOKEN, Client, kleio_ui, serving


def _without_token(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_kleio_ui_prints_an_address_with_a_new_token_and_refuses_requests_without_it(
    sqlite_journal,
):
    tokens = []
    for _ in range(2):
        with kleio_ui(sqlite_journal.env, sqlite_journal.project) as running:
            token = urllib.parse.parse_qs(urllib.parse.urlsplit(running.url).query)["token"][0]
            tokens.append(token)
            bare = Client(_without_token(running.url))
            for path in ("/", "/api/trials", "/api/info", "/static/app.js"):
                refused = bare.get(path)
                assert refused.status == 403, path
                assert b"sweep" not in refused.body and b"train.py" not in refused.body
            assert "needs its token" in refused.json()["error"]
            wrong = bare.get("/api/trials", {"Authorization": "token " + "x" * len(token)})
            assert wrong.status == 403
            assert bare.get(f"/api/trials?token={token}x").status == 403
            assert Client(running.url).json("/api/trials")["total"] == len(sqlite_journal.ids)
    assert len(tokens[0]) >= 40 and tokens[0] != tokens[1]


def test_the_token_in_the_address_becomes_a_strict_cookie_and_leaves_the_address(
    sqlite_journal,
):
    with kleio_ui(sqlite_journal.env, sqlite_journal.project) as running:
        bare = Client(_without_token(running.url))
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(running.url).query)["token"][0]
        # urllib follows redirects: ask for the first answer alone.
        connection = socket.create_connection(
            ("127.0.0.1", urllib.parse.urlsplit(running.url).port)
        )
        port = urllib.parse.urlsplit(running.url).port
        connection.sendall(
            f"GET /?token={token}&x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        connection.close()
        head = answer.split(b"\r\n\r\n")[0].decode()
        assert head.startswith("HTTP/1.1 303"), head
        assert "\r\nLocation: /?x=1\r\n" in head, head
        cookie = next(line for line in head.split("\r\n") if line.startswith("Set-Cookie: "))
        assert f"kleio-ui-{port}={token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        with_cookie = bare.get("/api/trials", {"Cookie": f"kleio-ui-{port}={token}"})
        assert with_cookie.status == 200
        assert bare.get("/api/trials", {"Cookie": f"kleio-ui-{port + 1}={token}"}).status == 403


def test_another_user_of_the_machine_reads_nothing(sqlite_journal):
    """With curl, as ``nobody`` when the tests run as root (CI does), else as this user
    without the token: the port answers, the journal does not."""
    curl = [shutil.which("curl") or "curl", "-s", "--noproxy", "*", "-w", "\n%{http_code}"]
    if os.geteuid() == 0:
        curl = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *curl]
    with kleio_ui(sqlite_journal.env, sqlite_journal.project) as running:
        base = _without_token(running.url)
        trial = sqlite_journal.ids["a"]
        for path in ("/", "/api/trials", f"/api/trials/{trial}", f"/api/trials/{trial}/output"):
            result = subprocess.run([*curl, base + path], capture_output=True, timeout=60)
            body, _, status = result.stdout.rpartition(b"\n")
            assert status == b"403", (path, result.stdout, result.stderr)
            assert trial.encode() not in body and b"train.py" not in body


def test_no_token_is_a_choice_said_aloud_and_a_token_may_be_fixed(sqlite_journal):
    with kleio_ui(sqlite_journal.env, sqlite_journal.project, "--no-token") as running:
        assert "token" not in running.url
        assert "warning: no token: any user of this machine can read this journal" in (running.said)
        assert Client(running.url).json("/api/trials")["total"] == len(sqlite_journal.ids)
    fixed = "a-fixed-token-of-the-lab_0123"
    env = {**sqlite_journal.env, "KLEIO_UI_TOKEN": fixed}
    with kleio_ui(env, sqlite_journal.project) as running:
        assert running.url.endswith(f"/?token={fixed}")
        assert Client(running.url).get("/api/info").status == 200
    for bad in ("short", "has spaces in it, sixteen+", "é" * 20):
        result = run_kleio(
            "ui", "--port", "0", env={**env, "KLEIO_UI_TOKEN": bad}, cwd=sqlite_journal.project
        )
        errors = text(result.stderr)
        assert result.returncode == 2 and errors.count("\n") == 1, errors
        assert errors.startswith("kleio: error: KLEIO_UI_TOKEN must be"), errors


@pytest.fixture
def counted(monkeypatch):
    """How many times each endpoint of the dashboard did its work."""
    calls = {"trials": 0, "trial": 0, "info": 0}
    for name in calls:
        original = getattr(Dashboard, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Dashboard, name, counting)
    return calls


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of this machine is another site
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
    ],
    ids=["cross-site", "same-site", "origin", "origin-another-port", "origin-null"],
)
def test_a_request_another_sites_page_makes_is_refused_before_any_work(
    sqlite_journal, counted, headers
):
    """Even with the token (a browser would send the cookie of a lax site): nothing is
    read, however heavy the request (a regular expression made to backtrack)."""
    where = urllib.parse.quote("command~(x+x+)+y")
    with sqlite_journal.store() as store, serving(store) as client:
        refused = client.get(f"/api/trials?where={where}", headers)
        assert refused.status == 403 and "its own page only" in refused.json()["error"]
        assert counted["trials"] == 0
        own = {"Sec-Fetch-Site": "same-origin", "Origin": client.url}
        assert client.get("/api/info", own).status == 200 and counted["info"] == 1
        assert client.get("/api/info", {"Sec-Fetch-Site": "none"}).status == 200


def test_a_pattern_made_to_backtrack_does_not_freeze_the_dashboard(sqlite_journal):
    """The regular expression of ``where=`` runs on an engine that does not backtrack
    without end, within a time budget: the answer comes, and so do others meanwhile."""
    where = urllib.parse.quote("command~^(\\w+\\s?)*$")
    with sqlite_journal.store() as store, serving(store) as client:
        answer = client.get(f"/api/trials?where={where}")
        assert answer.status in (200, 400), answer.body
        assert client.get("/api/info").status == 200


def test_a_silent_connection_is_closed(sqlite_journal, monkeypatch):
    monkeypatch.setattr(server_module._Handler, "timeout", 0.5)
    with sqlite_journal.store() as store, serving(store) as client:
        port = urllib.parse.urlsplit(client.url).port
        connection = socket.create_connection(("127.0.0.1", port))
        connection.settimeout(30)
        connection.sendall(b"GET /api/info HTTP/1.1\r\n")  # and never the rest
        assert connection.recv(65536) == b""  # closed by the server, not by our timeout
        connection.close()
        assert client.get("/api/info").status == 200
        assert client.token == TOKEN
