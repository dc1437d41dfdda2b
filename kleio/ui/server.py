"""The dashboard over HTTP: the standard library's threading server, read-only.

Routes (``GET`` only; any other method is refused)::

    /                                   the page (static/index.html)
    /static/NAME                        an asset of the package's static/ folder
    /api/info                           version and database (its password masked)
    /api/trials?...                     a page of the trials list (kleio compare's rows)
    /api/trials/ID                      everything about one trial
    /api/trials/ID/output?...           the end of its output, or what followed a cursor
    /api/trials/ID/artifacts/BLOB       an artifact, as a download
    /api/keys?trials=ID,ID              statistic keys the trials logged as numbers
    /api/series?trials=...&y=...        curves, downsampled

Safe by default, as Jupyter's server is:

- it listens on 127.0.0.1, and then answers only requests addressed to this machine by
  name (``Host: 127.0.0.1:PORT``, ``localhost`` or ``[::1]``), so a web page elsewhere
  cannot reach it through a DNS name it points here;
- every request must carry the dashboard's token, a random secret printed in the address
  ``kleio ui`` shows: other users of the machine reach the port, not the journal. The
  address's ``?token=`` is traded at once for an ``HttpOnly``, ``SameSite=Strict``
  cookie, and the page is served again without it; programs may send ``Authorization:
  token TOKEN`` instead;
- a request another site's page makes (``Sec-Fetch-Site`` or ``Origin`` say so) is
  refused before any work, whatever it carries;
- an idle connection is closed after :data:`IDLE_TIMEOUT` seconds.

Every answer forbids scripts but the page's own (``Content-Security-Policy``); the page
writes every value of a trial as text, never as HTML. Artifacts are sent as attachments
of an opaque type (``image/png`` or ``image/jpeg`` when their first bytes say they are one:
the gallery's ``<img>`` shows them), found by the id of a blob the trial lists: no path is
ever read from a request.
"""

from __future__ import annotations

import errno
import gzip
import hmac
import ipaddress
import json
import mimetypes
import re
import socket
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from kleio.core.model.errors import KleioError, UnknownTrial
from kleio.core.model.unreadable import Unreadable, noting_unreadable
from kleio.store.base import StoreError
from kleio.ui.api import Dashboard, NotFound

#: What a page may load and run: its own scripts, styles and connections only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Answers larger than this are compressed when the browser accepts gzip.
COMPRESS_FROM = 1024
_TRIAL = re.compile(r"/api/trials/(?P<id>[^/]+)(?P<rest>/.*)?")
_ARTIFACT = re.compile(r"/artifacts/(?P<blob>[^/]+)")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
#: Seconds a connection may stay silent before the server closes it (a browser's idle
#: keep-alive connection, or a client that sends half a request and waits).
IDLE_TIMEOUT = 30.0
#: ``Sec-Fetch-Site`` values of requests the dashboard's own page or the user makes
#: (an address typed, a bookmark): anything else is another site's page.
_OWN_SITE = ("same-origin", "none")


def static_files() -> dict[str, tuple[bytes, str]]:
    """The assets of ``kleio/ui/static`` by name, with their content types: the server
    sends these and nothing else from disk."""
    found = {}
    for entry in (resources.files("kleio.ui") / "static").iterdir():
        if entry.is_file():
            suffix = "." + entry.name.rpartition(".")[2]
            kind = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "text/plain"
            found[entry.name] = (entry.read_bytes(), f"{kind}; charset=utf-8")
    return found


def _artifact_type(first: bytes) -> str:
    """The content type of an artifact starting with ``first``: ``image/png`` or
    ``image/jpeg`` when its bytes are one (whatever its name or metadata say), so the
    page's ``<img>`` shows it; anything else is opaque. With ``nosniff``, a browser
    takes neither for a page or a script."""
    from kleio.client.images import JPEG_SIGNATURE, PNG_SIGNATURE

    if first.startswith(PNG_SIGNATURE):
        return "image/png"
    if first.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    return "application/octet-stream"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DashboardServer(ThreadingHTTPServer):
    """One thread per request; the threads end with the server."""

    daemon_threads = True
    # A restarted dashboard takes its port back at once.
    allow_reuse_address = True

    def __init__(
        self,
        dashboard: Dashboard,
        host: str,
        port: int,
        log: Callable[[str], None],
        token: str | None,
    ):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host.strip("[]"), port), _Handler)
        self.dashboard = dashboard
        self.log = log
        self.static = static_files()
        self.loopback = is_loopback(host)
        self.token = token

    @property
    def address(self) -> str:
        """Where the dashboard listens, without its token."""
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    @property
    def url(self) -> str:
        """The address to open: with its token, when it has one."""
        return self.address + (f"?{urlencode({'token': self.token})}" if self.token else "")

    @property
    def cookie(self) -> str:
        """The name of the cookie holding the token: a browser shares a host's cookies
        between its ports, so each dashboard has its own."""
        return f"kleio-ui-{self.server_address[1]}"

    def holds_token(self, given: str | None) -> bool:
        """Whether ``given`` is the token (compared in constant time); always true
        without a token."""
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def allowed_host(self, header: str | None) -> bool:
        """On a loopback address, only requests addressed to this machine by name."""
        if not self.loopback:
            return True
        if not header:
            return False
        port = self.server_address[1]
        names = ("127.0.0.1", "localhost", "[::1]")
        return header.lower() in {f"{name}:{port}" for name in names}


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"
    server_version = "kleio-ui"
    timeout = IDLE_TIMEOUT

    # -- answers -----------------------------------------------------------------------
    def _headers(self, status: int, kind: str, length: int, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        # How long the answer took to make (a browser's developer tools show it).
        spent = (time.perf_counter() - self._started) * 1000
        self.send_header("Server-Timing", f"answer;dur={spent:.1f}")
        for name, value in extra.items():
            self.send_header(name, value)
        if self._set_cookie is not None:
            self.send_header("Set-Cookie", self._set_cookie)
        self.end_headers()

    def _send(self, status: int, body: bytes, kind: str, **extra: str) -> None:
        if len(body) >= COMPRESS_FROM and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=5)
            extra = {**extra, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        self._headers(status, kind, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = HTTPStatus.OK) -> None:
        unreadable: Unreadable | None = getattr(self, "_unreadable", None)
        if unreadable and isinstance(value, dict):
            # events and blobs another program damaged, skipped: said beside the answer
            value = {**value, "unreadable": unreadable.describe()}
        body = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        self._send(status, body.encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def _stream(self, chunks: Iterator[bytes], length: int, filename: str) -> None:
        # The name as the user sees it, with the characters a header cannot hold encoded.
        ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "artifact"
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
        first = next(chunks, b"")
        self._headers(
            HTTPStatus.OK, _artifact_type(first), length, {"Content-Disposition": disposition}
        )
        if self.command != "HEAD":
            self.wfile.write(first)
            for chunk in chunks:
                self.wfile.write(chunk)

    # -- who may ask -------------------------------------------------------------------
    def _from_another_site(self) -> bool:
        """Whether the browser says another site's page made this request (an image,
        a script or a form of a page elsewhere, even on another port of this host)."""
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in _OWN_SITE:
            return True
        origin = self.headers.get("Origin")
        if origin is None:
            return False
        own = {f"http://{self.headers.get('Host', '')}".lower(), self.server.address[:-1]}
        return origin.lower() not in own

    def _cookie_token(self) -> str | None:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        found = cookie.get(self.server.cookie)
        return found.value if found is not None else None

    def _admitted(self, parts, params: dict[str, list[str]]) -> bool:
        """Whether the request may be answered; if not, the refusal is sent. A valid
        ``?token=`` sets the cookie, and a page asked for with it is sent again without
        it (the token stays out of the address bar and the history)."""
        if not self.server.allowed_host(self.headers.get("Host")):
            self._error(
                HTTPStatus.FORBIDDEN,
                "this dashboard answers requests to 127.0.0.1 or localhost only",
            )
            return False
        if self._from_another_site():
            self._error(HTTPStatus.FORBIDDEN, "this dashboard answers its own page only")
            return False
        if self.server.token is None:
            return True
        authorization = self.headers.get("Authorization", "")
        given = params.pop("token", [None])[-1]
        if self.server.holds_token(given):
            cookie = f"{self.server.cookie}={self.server.token}; Path=/; HttpOnly; SameSite=Strict"
            if parts.path in ("/", "/index.html"):
                rest = urlencode(params, doseq=True)
                self._headers(
                    HTTPStatus.SEE_OTHER,
                    "text/plain; charset=utf-8",
                    0,
                    {"Location": parts.path + (f"?{rest}" if rest else ""), "Set-Cookie": cookie},
                )
                return False
            self._set_cookie = cookie
            return True
        if self.server.holds_token(self._cookie_token()) or (
            authorization.startswith("token ")
            and self.server.holds_token(authorization[len("token ") :])
        ):
            return True
        self._error(
            HTTPStatus.FORBIDDEN,
            "this dashboard needs its token: open the address kleio ui printed, with its ?token=",
        )
        return False

    # -- requests ----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._started = time.perf_counter()
        self._set_cookie = None
        parts = urlsplit(self.path)
        path, params = unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)
        if not self._admitted(parts, params):
            return
        try:
            with noting_unreadable() as self._unreadable:
                self._route(path, params)
        except (NotFound, UnknownTrial) as error:
            self._error(HTTPStatus.NOT_FOUND, str(error))
        except KleioError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except StoreError as error:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(error))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception as error:  # one request fails, never the server
            # The details stay in the terminal: an unexpected error may quote anything.
            self.server.log(
                f"error: {self.command} {parts.path} failed: {type(error).__name__}: {error}"
            )
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "the dashboard failed to answer; the terminal running kleio ui says why",
            )

    do_HEAD = do_GET

    def _refuse(self) -> None:
        self._started = time.perf_counter()
        self._set_cookie = None
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "the dashboard only reads")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _route(self, path: str, params: dict[str, list[str]]) -> None:
        dashboard = self.server.dashboard
        if path in ("/", "/index.html"):
            body, kind = self.server.static["index.html"]
            self._send(HTTPStatus.OK, body, kind)
        elif path.startswith("/static/"):
            found = self.server.static.get(path[len("/static/") :])
            if found is None:
                raise NotFound(f"no file {path}")
            self._send(HTTPStatus.OK, found[0], found[1])
        elif path == "/api/info":
            self._json(dashboard.info(params))
        elif path == "/api/trials":
            self._json(dashboard.trials(params))
        elif path == "/api/keys":
            self._json(dashboard.keys(params))
        elif path == "/api/series":
            self._json(dashboard.series(params))
        elif match := _TRIAL.fullmatch(path):
            trial, rest = match["id"], match["rest"] or ""
            artifact = _ARTIFACT.fullmatch(rest)
            if not rest:
                self._json(dashboard.trial(trial, params))
            elif rest == "/output":
                self._json(dashboard.output(trial, params))
            elif artifact:
                found = dashboard.artifact(trial, artifact["blob"])
                self._stream(found.chunks(), found.size, found.filename)
            else:
                raise NotFound(f"no page {path}")
        else:
            raise NotFound(f"no page {path}")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request per poll would flood the terminal; errors are logged above


def make_server(
    dashboard: Dashboard,
    host: str,
    port: int,
    log: Callable[[str], None],
    token: str | None,
) -> DashboardServer:
    """A server listening on ``host:port`` (port 0: any free port) that answers
    requests carrying ``token`` (None: any request); a one-line error when it cannot
    listen there."""
    try:
        return DashboardServer(dashboard, host, port, log, token)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(error, socket.gaierror):
            reason = f"unknown host ({reason})"
        raise KleioError(
            f"cannot listen on {host}:{port}: {reason}"
            + ("; choose another --port" if error.errno == errno.EADDRINUSE else "")
        ) from None
