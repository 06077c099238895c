"""The inspection web server: a token-protected JSON API and the static page, on http.server."""

import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hippo.inspection.queue import QUEUES, agreement, source_details, source_queue
from hippo.morphology.classifier import CLASSES
from hippo.morphology.labels import class_name

log = logging.getLogger("hippo")

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8"}
ZOOMS = (1, 2)
MAX_BODY_BYTES = 64 * 1024
REQUEST_TIMEOUT = 10.0  # seconds a request may take to arrive: a body shorter than it says does not hold a thread
WRITE_ATTEMPTS = 3  # a decision that meets a busy store is tried this many times before the page is told
# What an annotator can call a source (the page's buttons, keys 1-6): the classifier's classes
# themselves, so that decisions and classifications compare directly, and two more; spelt as
# label_name() says. The host choice "none of these" is NO_HOST.
LABELS = [*CLASSES, "other", "artefact"]
_OTHER_LABELS = {"other": "other", "artefact": "artefact", "artifact": "artefact"}
NO_HOST = "none"
_RETRACT = re.compile(r"/api/annotations/([0-9]+)/retract")


def label_name(text):
    """The label of LABELS that ``text`` spells, or None: a class in any spelling that label tables
    may use (hippo.morphology.labels: any case, fr-ii, compact, WAT, ...), or other / artefact (artifact)."""
    return class_name(text) or _OTHER_LABELS.get(re.sub(r"[\s_\-]", "", text).lower())


class RequestError(Exception):
    """A bad request: answered with ``status`` and a one-line JSON message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class InspectionServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to one store, token and default user.

    Each request opens its own store connection (SQLite connections are per thread); a decision is
    one INSERT, committed and read back before it is acknowledged, so a crash loses at most the
    decision being sent, and never one the page was told is saved.
    """

    daemon_threads = True
    request_queue_size = 128  # two tabs' bursts of image and API requests, not connection resets
    request_timeout = REQUEST_TIMEOUT

    def __init__(self, store_path, token, user=None, queue="uncertain", host="127.0.0.1", port=8765):
        self.store_path = Path(store_path)
        self.token = token
        # What the page's cookie carries: not the token. Browsers send cookies to every port of a
        # host, so any other server on 127.0.0.1 receives it; it opens only the static files.
        self.cookie_secret = secrets.token_hex(24)
        self.default_user = user
        self.default_queue = queue
        self.cache_dir = self.store_path.parent / (self.store_path.name + ".inspect-cache")
        self.image_lock = threading.Lock()
        self.layouts = {}  # source -> (its cutout files' identities, overlay layout): headers read once
        self.session = None  # this session's run (command "inspect"), begun at its first decision
        self.session_lock = threading.Lock()
        self.retract_lock = threading.Lock()  # a retraction's checks and its row, one at a time
        super().__init__((host, port), InspectionHandler)

    def server_close(self):
        super().server_close()
        session, self.session = self.session, None
        if session is not None:  # the session's end; a killed server's run is marked interrupted later
            from hippo.errors import HippoError

            try:
                with self.open_store() as store:
                    store.end_run(session, 0)
            except HippoError as exc:
                log.error("inspect: %s", exc)

    def session_run(self, store):
        """The id of this session's run, whose provenance the decisions it records carry."""
        with self.session_lock:
            if self.session is None:
                self.session = store.begin_run("inspect", {"queue": self.default_queue, "user": self.default_user})
            return self.session.id

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/?token={self.token}"

    @property
    def cookie_name(self):
        # Named by port, as Jupyter does, so two servers behind one Jupyter proxy keep their own.
        return f"hippo_inspect_{self.server_address[1]}"

    def open_store(self):
        from hippo.store import Store
        return Store.open(self.store_path)

    def record_decision(self, row):
        """Store one decision (or retraction), committed and then seen through a new connection, before
        it is acknowledged; returns its id.

        A busy store is tried again; anything else that keeps the row out of the store raises
        RequestError(503), so the page says "not saved" and keeps the decision to send again.
        """
        from hippo.errors import HippoError

        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.open_store() as store:
                    store.insert("annotations", [row], run_id=self.session_run(store))
                break
            except (sqlite3.Error, HippoError) as exc:
                if ("locked" in str(exc) or "busy" in str(exc)) and attempt < WRITE_ATTEMPTS:
                    time.sleep(0.2 * attempt)
                    continue
                log.error("inspect: decision on %s not stored: %s", row["source"], exc)
                raise RequestError(503, f"not stored ({exc}); send it again") from None
        try:
            with self.open_store() as store:  # what every later reader will see
                stored = store.connection.execute(
                    "SELECT MAX(id) FROM annotations WHERE source=? AND user=? AND time=? AND retracts IS ?",
                    (row["source"], row["user"], row["time"], row.get("retracts"))).fetchone()[0]
        except (sqlite3.Error, HippoError) as exc:
            stored = None
            log.error("inspect: decision on %s could not be read back: %s", row["source"], exc)
        if stored is None:  # sending it again at worst repeats a decision; the latest per user counts
            raise RequestError(503, "not stored (the store did not keep it); send it again")
        return stored

    def overlay_layout(self, source):
        """(background, contours, surveys) of a source's overlay from its cutouts in the store, or None."""
        with self.open_store() as store:
            rows = store.connection.execute("SELECT survey, path FROM cutouts WHERE source=? AND path IS NOT NULL "
                                            "ORDER BY id", (source,)).fetchall()
        cutouts = [(survey, path) for survey, recorded in rows
                   if (path := _product_path(self.store_path, recorded)) is not None]
        key = tuple((survey, _file_identity(path)) for survey, path in cutouts)
        cached = self.layouts.get(source)
        if cached is None or cached[0] != key:
            from hippo.inspection.render import overlay_layout

            with self.image_lock:  # FITS reading and first imports in one thread at a time, as for rendering
                layout = overlay_layout(cutouts)
            if layout is not None:
                names = {str(path): survey for survey, path in cutouts}
                layout = (*layout, {"image": names[layout[0]], "contours": [names[p] for p in layout[1]]})
            cached = self.layouts[source] = (key, layout)
        return cached[1]


class InspectionHandler(BaseHTTPRequestHandler):
    server_version = "hippo-inspect"

    def log_message(self, format, *args):
        log.debug("inspect: " + format, *args)

    def setup(self):
        self.timeout = self.server.request_timeout  # the socket's: StreamRequestHandler.setup applies it
        super().setup()

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")  # the page's own URL carries the token
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, value, headers=()):
        self._send(status, json.dumps(value, default=_jsonable).encode(), "application/json", headers)

    def _authorised(self, query, path):
        """The token from ?token= or ``Authorization: token T``, compared in constant time; for the
        page's own static files (``<script src>`` cannot send a header) also the page's cookie.

        The cookie is not the token and opens nothing else. Browsers send a cookie to every port of
        a host, so other servers on this machine (a Jupyter server, another user's process) receive
        it; with it they can fetch app.js, not read the store nor write a decision. Every API call
        and image of the page names the token itself, which another page cannot read.
        """
        offered = query.get("token", [None])[0]
        header = self.headers.get("Authorization", "")
        if offered is None and header.lower().startswith("token "):
            offered = header[6:].strip()
        if offered is not None:
            return hmac.compare_digest(offered.encode(), self.server.token.encode())
        if self.command in ("GET", "HEAD") and path.startswith("/static/"):
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == self.server.cookie_name:
                    return hmac.compare_digest(value.encode(), self.server.cookie_secret.encode())
        return False

    def _dispatch(self, method):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = _app_path(url.path)
        try:
            if not self._authorised(query, path):
                raise RequestError(403, "missing or wrong token (open the URL printed by hippo inspect)")
            handler, arguments = ROUTES.get((method, path)), ()
            if handler is None and method == "POST" and (match := _RETRACT.fullmatch(path)):
                handler, arguments = InspectionHandler.retract, (int(match[1]),)
            if handler is None:
                if method == "GET" and path.startswith("/static/"):
                    return self._static(path[len("/static/"):])
                raise RequestError(404, f"no such resource: {url.path}")
            handler(self, query, *arguments)
        except RequestError as exc:
            try:
                self._json(exc.status, {"error": str(exc)})
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client that sent a bad request and left: nobody to tell
        except (BrokenPipeError, ConnectionResetError):
            # the browser moved on (next source) before a slow image was ready: nothing to answer
            log.debug("inspect: %s %s: the client closed the connection", method, url.path)
        except TimeoutError:
            # a body shorter than its Content-Length: say so (if the client still listens) and free the thread
            self.close_connection = True
            try:
                self._json(408, {"error": f"the request did not arrive within {self.server.request_timeout:g} s"})
            except OSError:
                pass
        except Exception as exc:  # never a traceback page: log it, answer 500 JSON
            log.exception("inspect: %s %s failed", method, url.path)
            self._json(500, {"error": f"internal error: {type(exc).__name__}"})

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._json(405, {"error": "method not allowed"})

    do_DELETE = do_PATCH = do_PUT

    # -- routes ------------------------------------------------------------------------------

    def _static(self, name):
        if name not in STATIC_FILES:  # a fixed list: nothing else on disk is reachable
            raise RequestError(404, f"no such file: {name}")
        self._send(200, (STATIC_DIR / name).read_bytes(), STATIC_FILES[name])

    def page(self, query):
        # No Path: the browser scopes the cookie to the folder it sees the page in, which is the
        # app's prefix behind a Jupyter proxy (/user/ana/proxy/8765), not the whole Jupyter server.
        cookie = f"{self.server.cookie_name}={self.server.cookie_secret}; HttpOnly; SameSite=Strict"
        self._send(200, (STATIC_DIR / "index.html").read_bytes(), STATIC_FILES["index.html"],
                   headers=[("Set-Cookie", cookie)])

    def sources(self, query):
        queue = query.get("queue", [self.server.default_queue])[0]
        if queue not in QUEUES:
            raise RequestError(400, f"queue must be one of {', '.join(QUEUES)}")
        order = query.get("order", ["store"])[0]
        if order not in ("store", "random"):
            raise RequestError(400, "order must be store or random")
        seed = query.get("seed", [None])[0]
        undecided_by = query.get("undecided_by", [""])[0].strip() or None
        with self.server.open_store() as store:
            rows = source_queue(store, queue, label=query.get("label", [None])[0], order=order, seed=seed,
                                undecided_by=undecided_by)
        self._json(200, rows)

    def source(self, query):
        name = _required(query, "source")
        user = query.get("user", [self.server.default_user])[0]
        with self.server.open_store() as store:
            details = source_details(store, name, user=user)
        if details is None:
            raise RequestError(404, f"no source {name!r} in the store")
        for cutout in details["cutouts"]:  # the page says which file it could not find, not just "no image"
            if _product_path(self.server.store_path, cutout["path"]) is None:
                cutout["missing"] = f"image not found: {cutout['path']}"
        layout = self.server.overlay_layout(name)
        details["overlay"] = layout[2] if layout else None
        self._json(200, details)

    def config(self, query):
        self._json(200, {"user": self.server.default_user, "queue": self.server.default_queue, "labels": LABELS})

    def summary(self, query):
        with self.server.open_store() as store:
            self._json(200, agreement(store))

    def _json_object(self):
        """The request's body: one JSON object, sent as application/json (a form cannot send that)."""
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            raise RequestError(415, "send the body as application/json")
        declared = (self.headers.get("Content-Length") or "").strip()
        if not re.fullmatch(r"[0-9]+", declared) or int(declared) == 0:
            raise RequestError(400, "send one JSON object, with its size in Content-Length")
        length = int(declared)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body is not another request
            raise RequestError(413, "send one JSON object (at most 64 KiB)")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            raise RequestError(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise RequestError(400, "body must be a JSON object")
        return body

    def _user(self, body):
        """Who sends the request: 'user' in the body, or hippo inspect --user."""
        user = body.get("user")
        if user is not None and not isinstance(user, (str, int, float)):
            raise RequestError(400, "'user' must be a string")
        user = str(user or "").strip() or self.server.default_user
        if not user:
            raise RequestError(400, "say who is annotating: 'user' in the body (or hippo inspect --user)")
        return user

    def annotate(self, query):
        from hippo.provenance import utc_now

        body = self._json_object()
        if not isinstance(body.get("source"), str) or not body["source"]:
            raise RequestError(400, "body must be a JSON object with a non-empty 'source'")
        row = {"source": body["source"], "time": utc_now()}
        for key in ("label", "host", "comment"):
            value = body.get(key)
            if value is not None and not isinstance(value, (str, int, float)):
                raise RequestError(400, f"{key!r} must be a string")
            row[key] = None if value in (None, "") else str(value)
        row["user"] = self._user(body)
        if row["label"] is not None:
            label = label_name(row["label"])
            if label is None:
                raise RequestError(400, f"label must be one of {', '.join(LABELS)}, not {row['label']!r}")
            row["label"] = label
        if row["label"] is None and row["host"] is None and row["comment"] is None:
            raise RequestError(400, "a decision needs a label, a host or a comment")
        with self.server.open_store() as store:
            details = source_details(store, row["source"])
            if details is None:
                raise RequestError(404, f"no source {row['source']!r} in the store")
            hosts = {str(candidate["optical_id"]) for candidate in details["candidates"]}
            if row["host"] not in (None, NO_HOST) and row["host"] not in hosts:
                raise RequestError(400, f"host {row['host']!r} is not a candidate of {row['source']} "
                                        f"(candidates: {', '.join(sorted(hosts)) or 'none'}; or {NO_HOST!r})")
        row["id"] = self.server.record_decision(row)
        self._json(201, row)

    def retract(self, query, decision):
        """Undo: take back one's own latest decision on a source by appending a row that ``retracts``
        it (who and when), so nothing is deleted and the decision no longer counts anywhere."""
        from hippo.provenance import utc_now

        user = self._user(self._json_object())
        with self.server.retract_lock:  # checked and recorded as one step: a double click retracts once
            with self.server.open_store() as store:
                found = store.connection.execute("SELECT source, user, retracts FROM annotations WHERE id=?",
                                                 (decision,)).fetchone()
                if found is None:
                    raise RequestError(404, f"no decision {decision} in the store")
                source, owner, retracts = found
                if retracts is not None:
                    raise RequestError(400, f"{decision} is a retraction, not a decision; make the decision again")
                if owner != user:  # names are not logins: this keeps annotators from undoing each other by mistake
                    raise RequestError(403, f"decision {decision} is {owner}'s, not {user}'s")
                if store.connection.execute("SELECT 1 FROM annotations WHERE retracts=?", (decision,)).fetchone():
                    raise RequestError(409, f"decision {decision} is already retracted")
                latest = (source_details(store, source, user=user) or {}).get("mine") or {}
                if latest.get("id") != decision:
                    raise RequestError(409, f"decision {decision} is not {user}'s latest on {source} "
                                            f"(that is {latest.get('id')})")
            row = {"source": source, "user": user, "time": utc_now(), "retracts": decision}
            row["id"] = self.server.record_decision(row)
        self._json(201, row)

    def image(self, query):
        """A PNG of one cutout of the store at zoom 1 (whole cutout) or 2 (central half), cached.

        The cache is keyed by the file (path, size, modification time), not the row: a rebuilt store
        numbers its cutouts anew, and row 1 may then be another source's.
        """
        from hippo.errors import HippoError

        try:
            cutout_id = int(_required(query, "cutout"))
            zoom = int(query.get("zoom", ["1"])[0])
        except ValueError:
            raise RequestError(400, "cutout and zoom must be integers") from None
        if zoom not in ZOOMS:
            raise RequestError(400, "zoom must be 1 or 2")
        with self.server.open_store() as store:
            rows = store.connection.execute("SELECT path, source, survey FROM cutouts WHERE id=?",
                                            (cutout_id,)).fetchall()
        if not rows or not rows[0][0]:
            raise RequestError(404, f"no cutout {cutout_id} in the store")
        recorded = rows[0][0]
        fits_path = _product_path(self.server.store_path, recorded)
        if fits_path is None:
            raise RequestError(404, f"image not found: {recorded}")
        cached = self.server.cache_dir / f"cutout_{_digest(_file_identity(fits_path))}_z{zoom}.png"
        with self.server.image_lock:
            if not cached.exists():
                from hippo.inspection.render import render_png

                try:
                    render_png(fits_path, cached, zoom=zoom)
                except HippoError as exc:
                    raise RequestError(422, f"cannot draw cutout {cutout_id}: {exc}") from None
        self._send(200, cached.read_bytes(), "image/png")

    def overlay(self, query):
        """Radio contours on the source's optical/IR cutout (hippo.overlays) at zoom 1 or 2, made once and cached."""
        from hippo.errors import HippoError

        name = _required(query, "source")
        try:
            zoom = int(query.get("zoom", ["1"])[0])
        except ValueError:
            raise RequestError(400, "zoom must be an integer") from None
        if zoom not in ZOOMS:
            raise RequestError(400, "zoom must be 1 or 2")
        layout = self.server.overlay_layout(name)
        if layout is None:
            raise RequestError(404, f"no radio cutout of {name!r} in the store to contour")
        background, contours, _ = layout
        # hashed, so nothing from the request becomes part of a path; a new or changed cutout makes a new overlay
        digest = _digest(name, *(_file_identity(Path(p)) for p in (background, *contours)))
        cached = self.server.cache_dir / f"overlay_{digest}_z{zoom}.png"
        with self.server.image_lock:
            if not cached.exists():
                from hippo.inspection.render import render_overlay_png

                with self.server.open_store() as store:  # the source's position, needed only to draw
                    details = source_details(store, name) or {}
                try:
                    render_overlay_png(background, contours, cached, zoom=zoom, ra=details.get("ra"),
                                       dec=details.get("dec"), title=name)
                except HippoError as exc:
                    raise RequestError(422, f"cannot draw the overlay: {exc}") from None
        self._send(200, cached.read_bytes(), "image/png")


ROUTES = {
    ("GET", "/"): InspectionHandler.page,
    ("GET", "/api/config"): InspectionHandler.config,
    ("GET", "/api/sources"): InspectionHandler.sources,
    ("GET", "/api/source"): InspectionHandler.source,
    ("GET", "/api/summary"): InspectionHandler.summary,
    ("GET", "/api/image"): InspectionHandler.image,
    ("GET", "/api/overlay"): InspectionHandler.overlay,
    ("POST", "/api/annotations"): InspectionHandler.annotate,
}


def _required(query, name):
    value = query.get(name, [None])[0]
    if not value:
        raise RequestError(400, f"missing parameter {name!r}")
    return value


def _app_path(path):
    """The app's own path of a request path: behind a proxy that keeps its prefix
    (jupyter-server-proxy's /proxy/absolute/<port>/...) the page's relative URLs arrive prefixed."""
    at = max(path.rfind("/api/"), path.rfind("/static/"))
    if at >= 0:
        return path[at:]
    return "/" if path.endswith("/") else path


def _product_path(store_path, recorded):
    """The file a store row names, if it exists: a relative path is looked for in the store's folder,
    then in the current directory (commands record paths as typed, relative to where they ran).

    Only paths recorded in the store are ever opened, never a path taken from the request.
    """
    path = Path(recorded)
    candidates = [path] if path.is_absolute() else [store_path.parent / path, Path.cwd() / path]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _file_identity(path):
    """What a cached picture of a file depends on: the file itself, its size and modification time."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _digest(*parts):
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def make_server(store_path, token=None, user=None, queue="uncertain", host="127.0.0.1", port=8765):
    """An InspectionServer (not yet serving); a random token when none is given."""
    return InspectionServer(store_path, token or secrets.token_hex(24), user=user, queue=queue,
                            host=host, port=port)
