"""The inspection page against what the QA audit found (B1-B11): hostile store values, the token cookie,
Jupyter's proxy, stale and missing images, re-run cross-matches, malformed requests, concurrent writes."""

import collections
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urljoin

import pytest

from hippo.inspection.queue import source_details, source_queue
from hippo.store import Store
from tests.inspection import test_page
from tests.inspection.conftest import TOKEN, serving, synthetic_cutout
from tests.inspection.test_api import request
from tests.inspection.test_page import wait_for

browser = test_page.browser  # the headless Chromium fixture (skips when it is not installed)
STATIC = Path(__file__).parents[2] / "hippo" / "inspection" / "static"
SOURCE = "J100000+020000"


def quoted(name):
    return quote(name, safe="")


# -- B1: nothing from the store is ever HTML ----------------------------------------------------

XSS = {key: f"<img src=x{key} onerror=alert('{key}')>" for key in
       ("name", "label", "flag", "host", "xflag", "survey", "path", "comment", "user", "p")}


@pytest.fixture
def hostile_store(tmp_path):
    """One source whose every stored text is markup that runs a script if it is ever parsed as HTML."""
    path = tmp_path / "hippo.db"
    with Store.open(path) as store:
        with store.run("test-fill") as run:
            store.insert("classifications", [{"source": XSS["name"], "ra": 150.0, "dec": 2.0, "label": XSS["label"],
                                              "confidence": 0.5, "flag": XSS["flag"], "p_fri": 0.5, "p_frii": 0.2}],
                         run_id=run.id)
            store.insert("xmatches", [{"radio_id": XSS["name"], "optical_id": XSS["host"], "separation_arcsec": 1.5,
                                       "rank": 1, "method": "nn", "ra": 150.0, "dec": 2.0, "flag": XSS["xflag"]}],
                         run_id=run.id)
            store.insert("cutouts", [{"source": XSS["name"], "survey": XSS["survey"], "ra": 150.0, "dec": 2.0,
                                      "status": "ok", "path": XSS["path"] + ".fits"}], run_id=run.id)
            store.insert("annotations", [{"source": XSS["name"], "label": XSS["label"], "host": XSS["host"],
                                          "comment": XSS["comment"], "user": "qa", "time": "2025-01-01T00:00:00"}])
        # SQLite keeps text in a REAL column: the page must not trip over (or render) it either
        store.connection.execute("UPDATE classifications SET p_frii=?", (XSS["p"],))
    return path


def test_app_js_never_builds_html_from_strings():
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser"):
        assert sink not in script


def test_the_api_returns_hostile_store_values_unchanged(hostile_store):
    with serving(hostile_store) as server:
        details = json.loads(request(server, f"/api/source?source={quoted(XSS['name'])}&user=qa")[2])
    assert details["label"] == XSS["label"] and details["candidates"][0]["optical_id"] == XSS["host"]
    assert details["mine"]["comment"] == XSS["comment"]


def test_hostile_store_values_are_shown_as_text_in_chromium(hostile_store, browser):
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                            {"source": "window.__fired = []; window.alert = (x) => window.__fired.push(String(x));"})
    with serving(hostile_store) as server:
        host, port = server.server_address[:2]
        browser.get(f"http://{host}:{port}/?token={TOKEN}&user=qa&queue=all")
        text = lambda element_id: browser.find_element(By.ID, element_id).text
        wait_for(lambda: text("name") == XSS["name"])
        wait_for(lambda: XSS["label"] in text("status"))
        time.sleep(0.5)  # an onerror handler fires once its image has failed to load
        assert browser.execute_script("return window.__fired") == []
        assert browser.execute_script("return document.querySelectorAll('img:not([src^=\"api/\"])').length") == 0
        assert f"{XSS['label']} (confidence 0.50)" in text("probabilities")
        assert XSS["host"] in text("candidates") and f"cross-match: {XSS['xflag']}" in text("coords")
        assert f"image not found: {XSS['path']}.fits" in text("images")
        assert browser.find_element(By.ID, "comment").get_attribute("value") == XSS["comment"]


# -- B2: the cookie is named by port, is not the token, and opens only the static files -----------

def page_cookie(server):
    status, headers, _ = request(server, "/")
    assert status == 200
    return headers["Set-Cookie"]


def test_the_page_cookie_is_named_by_port_and_is_not_the_token(server):
    cookie = page_cookie(server)
    name, _, value = cookie.split(";")[0].partition("=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert name == f"hippo_inspect_{server.server_address[1]}"
    assert value and TOKEN not in cookie
    assert "httponly" in attributes and "samesite=strict" in cookie.lower()
    assert "path" not in attributes  # the browser scopes it to the folder the page is seen in (a proxy's prefix)


def test_a_leaked_cookie_opens_the_static_files_only(server, filled_store):
    """Browsers send a cookie to every port of 127.0.0.1: what another local server receives must not
    read the store nor write a decision."""
    host, port = server.server_address[:2]
    cookie = page_cookie(server).split(";")[0]
    value = cookie.partition("=")[2]

    def status(path, data=None, headers=()):
        forged = urllib.request.Request(f"http://{host}:{port}{path}", data=data,
                                        headers={"Cookie": cookie, "Content-Type": "application/json", **dict(headers)})
        try:
            with urllib.request.urlopen(forged, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status("/static/app.js") == 200 and status("/static/style.css") == 200
    for path in ("/", "/api/sources?queue=all", f"/api/source?source={quoted(SOURCE)}", "/api/image?cutout=1",
                 "/api/summary", f"/api/sources?queue=all&token={value}"):
        assert status(path) == 403, path
    decision = json.dumps({"source": SOURCE, "label": "artefact", "user": "mallory"}).encode()
    assert status("/api/annotations", decision) == 403
    assert status("/api/annotations", decision, {"Authorization": f"token {value}"}) == 403
    with Store.open(filled_store) as store:
        assert store.count("annotations") == 0


def test_another_port_never_receives_the_token_in_chromium(server, browser, filled_store):
    received = []

    class Foreign(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            received.append(self.headers.get("Cookie") or "")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

    foreign = ThreadingHTTPServer(("127.0.0.1", 0), Foreign)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        browser.get(f"http://{host}:{port}/?token={TOKEN}&user=ana")
        wait_for(lambda: browser.find_element("id", "name").text == SOURCE)
        browser.get(f"http://127.0.0.1:{foreign.server_address[1]}/anything")
        wait_for(lambda: received)
    finally:
        foreign.shutdown()
        foreign.server_close()
    assert all(TOKEN not in cookie for cookie in received)
    leaked = dict(part.strip().partition("=")[::2] for part in received[0].split(";") if part.strip())
    for value in leaked.values():
        decision = {"source": SOURCE, "label": "artefact", "user": "mallory"}
        assert request(server, "/api/annotations", decision, token=value, header=True)[0] == 403
    with Store.open(filled_store) as store:
        assert store.count("annotations") == 0


# -- B3: relative URLs, so the page works under Jupyter's /proxy/<port>/ ------------------------

def test_every_url_in_the_page_is_relative():
    page, script = (STATIC / "index.html").read_text(), (STATIC / "app.js").read_text()
    urls = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert "static/app.js" in urls and "static/style.css" in urls
    assert not [url for url in urls if url.startswith(("/", "http:", "https:"))]
    assert not re.findall(r"""["'`]/(?:api|static)\b""", script)
    assert re.findall(r"""["'`]api/(?:sources|source|annotations|summary|config|image|overlay)\b""", script)


class PrefixProxy:
    """jupyter-server-proxy in miniature: ``/user/ana/proxy/<port>/rest`` goes to ``127.0.0.1:<port>/rest``,
    anything else is the Jupyter server's own (404); remembers every path asked for."""

    def __init__(self, port):
        self.prefix, self.seen = f"/user/ana/proxy/{port}", []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.seen.append(self.path)
                if not self.path.startswith(proxy.prefix + "/"):
                    return self._answer(404, {}, b"404 from Jupyter")
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                forwarded = urllib.request.Request(f"http://127.0.0.1:{port}{self.path[len(proxy.prefix):]}",
                                                   data=self.rfile.read(length) if length else None,
                                                   headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(forwarded, timeout=30) as response:
                        self._answer(response.status, response.headers, response.read())
                except urllib.error.HTTPError as error:
                    self._answer(error.code, error.headers, error.read())

            do_POST = do_GET

            def _answer(self, status, headers, body):
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(server):
    running = PrefixProxy(server.server_address[1])
    yield running
    running.close()


def test_the_page_and_its_requests_resolve_under_the_proxy_prefix(proxy, filled_store):
    page_url = proxy.url + f"?token={TOKEN}"
    with urllib.request.urlopen(page_url, timeout=10) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
        page = response.read().decode()
    urls = [url for url in re.findall(r'(?:href|src)="([^"]*)"', page) if not url.startswith("data:")]
    assert len(urls) == 2
    for url in urls:  # as the browser resolves them
        with urllib.request.urlopen(urllib.request.Request(urljoin(page_url, url), headers={"Cookie": cookie}),
                                    timeout=10) as response:
            assert response.status == 200
    header = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(urljoin(page_url, "api/sources?queue=uncertain"),
                                                       headers=header), timeout=10) as response:
        assert json.loads(response.read())[0]["source"] == SOURCE
    decision = json.dumps({"source": SOURCE, "label": "FRII", "user": "ana"}).encode()
    with urllib.request.urlopen(urllib.request.Request(urljoin(page_url, "api/annotations"), data=decision,
                                                       headers=header), timeout=10) as response:
        assert response.status == 201
    assert all(path.startswith(proxy.prefix + "/") for path in proxy.seen)


def test_the_page_annotates_through_the_proxy_in_chromium(proxy, browser, filled_store):
    from selenium.webdriver.common.by import By

    browser.get(proxy.url + f"?token={TOKEN}&user=ana")
    wait_for(lambda: browser.find_element(By.ID, "name").text == SOURCE)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("2")
    body.send_keys("a")
    body.send_keys("\n")
    wait_for(lambda: browser.find_element(By.ID, "name").text == "J100200+020200")
    loaded = "return [...document.querySelectorAll('#images img')].map(i => i.complete && i.naturalWidth > 0)"
    wait_for(lambda: all(browser.execute_script(loaded)) and browser.execute_script(loaded), timeout=30)
    with Store.open(filled_store) as store:
        assert [(r["source"], r["label"], r["host"]) for r in store.table("annotations")] == [
            (SOURCE, "FRII", "W100000_1")]
    outside = [path for path in proxy.seen if not path.startswith(proxy.prefix + "/")]
    assert outside == []


def test_a_proxy_that_keeps_its_prefix_reaches_the_same_routes(server):
    """jupyter-server-proxy's /proxy/absolute/<port>/ passes the whole path on."""
    prefix = f"/proxy/absolute/{server.server_address[1]}"
    status, headers, body = request(server, f"{prefix}/")
    assert status == 200 and b"static/app.js" in body
    status, _, body = request(server, f"{prefix}/api/sources?queue=uncertain")
    assert status == 200 and json.loads(body)[0]["source"] == SOURCE
    assert request(server, f"{prefix}/static/../server.py")[0] == 404


# -- B4, B5, B7: images ---------------------------------------------------------------------------

def test_a_rebuilt_store_shows_each_source_its_own_image(tmp_path):
    """After rm hippo.db and a re-run the cutout rows are numbered anew: row 1 is now B's, and
    the picture must be B's, not the cached one of the A that row 1 used to be."""
    (tmp_path / "c").mkdir()
    synthetic_cutout(tmp_path / "c" / "A.fits", 150.0, 2.0, npix=64)
    synthetic_cutout(tmp_path / "c" / "B.fits", 151.0, 3.0, npix=32)
    path = tmp_path / "hippo.db"

    def fill(order):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with Store.open(path) as store:
            store.insert("cutouts", [{"source": name, "survey": "FIRST", "ra": 0.0, "dec": 0.0, "status": "ok",
                                      "path": f"c/{name}.fits"} for name in order])

    def png(cutout):
        with serving(path) as server:
            status, _, body = request(server, f"/api/image?cutout={cutout}")
        assert status == 200
        return body

    fill(["A", "B"])
    a_png, b_png = png(1), png(2)
    assert a_png != b_png
    fill(["B", "A"])
    assert png(1) == b_png and png(2) == a_png


def test_relative_cutout_paths_are_found_beside_the_store_or_in_the_working_directory(tmp_path, monkeypatch):
    """hippo cutout -o cuts --store db/hippo.db records cuts/..., relative to where it ran."""
    (tmp_path / "db").mkdir()
    (tmp_path / "cuts").mkdir()
    synthetic_cutout(tmp_path / "cuts" / "first.fits", 150.0, 2.0)
    synthetic_cutout(tmp_path / "db" / "beside.fits", 150.0, 2.0)
    path = tmp_path / "db" / "hippo.db"
    with Store.open(path) as store:
        store.insert("cutouts", [{"source": SOURCE, "survey": survey, "ra": 150.0, "dec": 2.0, "status": "ok",
                                  "path": recorded} for survey, recorded in
                                 (("FIRST", "cuts/first.fits"), ("NVSS", "beside.fits"), ("WISE", "cuts/gone.fits"))])
    monkeypatch.chdir(tmp_path)
    with serving(path) as server:
        for cutout in (1, 2):
            status, headers, _ = request(server, f"/api/image?cutout={cutout}")
            assert status == 200 and headers["Content-Type"] == "image/png"
        status, _, body = request(server, "/api/image?cutout=3")
        assert status == 404 and json.loads(body)["error"] == "image not found: cuts/gone.fits"
        details = json.loads(request(server, f"/api/source?source={quoted(SOURCE)}")[2])
    assert [c.get("missing") for c in details["cutouts"]] == [None, None, "image not found: cuts/gone.fits"]


def test_a_corrupt_cutout_gives_422_with_the_reason(tmp_path):
    (tmp_path / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b"garbage" * 100)
    path = tmp_path / "hippo.db"
    with Store.open(path) as store:
        store.insert("cutouts", [{"source": SOURCE, "survey": "FIRST", "ra": 150.0, "dec": 2.0, "status": "ok",
                                  "path": "broken.fits"}])
    with serving(path) as server:
        status, headers, body = request(server, "/api/image?cutout=1")
    assert status == 422 and headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error.startswith("cannot draw cutout 1: ") and "broken.fits: not a readable FITS file" in error


# -- B6: the latest cross-match run per source ------------------------------------------------------

def test_only_the_latest_crossmatch_run_of_a_source_counts(filled_store):
    source = "J100100+020100"  # the fill's cross-match said ok
    with Store.open(filled_store) as store:
        for flag in ("ambiguous", "ok"):  # a re-run resolves what the one before flagged
            with store.run("xmatch") as run:
                store.insert("xmatches", [{"radio_id": source, "optical_id": "Wz", "separation_arcsec": 2.0,
                                           "rank": 1, "method": "lr", "ra": 150.25, "dec": 2.0167, "flag": flag}],
                             run_id=run.id)
        assert source not in [r["source"] for r in source_queue(store, "flagged")]
        details = source_details(store, source)
        assert [(c["optical_id"], c["flag"]) for c in details["candidates"]] == [("Wz", "ok")]
        assert details["xmatch_flag"] == "ok"
        with store.run("xmatch") as run:
            store.insert("xmatches", [{"radio_id": source, "optical_id": "Wz", "separation_arcsec": 2.0, "rank": 1,
                                       "method": "lr", "ra": 150.25, "dec": 2.0167, "flag": "blended"}],
                         run_id=run.id)
        flagged = {r["source"]: r for r in source_queue(store, "flagged")}
        assert flagged[source]["flag"] == "blended"  # why it is in the queue, not the classifier's "ok"
        assert source_details(store, source)["xmatch_flag"] == "blended"
        # sources the re-runs did not cover keep their own latest run
        assert [c["optical_id"] for c in source_details(store, SOURCE)["candidates"]] == ["W100000_1", "W100000_2"]


# -- B8, B9: malformed requests -------------------------------------------------------------------

def raw_post(server, head, body=b"", wait=10.0):
    """The status line a raw POST /api/annotations gets (or None if none comes within ``wait`` seconds)."""
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=wait) as connection:
        connection.sendall(b"POST /api/annotations HTTP/1.1\r\nHost: x\r\nAuthorization: token " + TOKEN.encode()
                           + b"\r\nContent-Type: application/json\r\n" + head + b"\r\n" + body)
        try:
            return connection.recv(200).split(b"\r\n")[0].decode()
        except socket.timeout:
            return None


@pytest.mark.parametrize("length, status", [(b"abc", 400), (b"-5", 400), (b"1_0", 400), (b"", 400), (None, 400),
                                            (b"999999999", 413)])
def test_a_malformed_or_huge_content_length_is_refused(server, length, status):
    head = b"" if length is None else b"Content-Length: " + length + b"\r\n"
    assert raw_post(server, head + b"Connection: close\r\n", b"{}").split()[1] == str(status)


def test_a_body_shorter_than_it_says_times_out_and_frees_the_thread(server, filled_store):
    server.request_timeout = 0.5
    started = time.monotonic()
    assert raw_post(server, b"Content-Length: 100\r\n", b"{}", wait=10).split()[1] == "408"
    assert time.monotonic() - started < 5
    assert request(server, "/api/annotations", {"source": SOURCE, "label": "FRI", "user": "ana"})[0] == 201


def test_a_blank_user_is_not_an_annotator(server):
    status, _, body = request(server, "/api/annotations", {"source": SOURCE, "label": "FRI", "user": "   "})
    assert status == 400 and "who is annotating" in json.loads(body)["error"]


# -- B10: leave out what one has decided -----------------------------------------------------------

def test_the_queue_can_leave_out_what_a_user_has_decided(server):
    assert request(server, "/api/annotations", {"source": SOURCE, "label": "FRII", "user": "ana"})[0] == 201
    sources = lambda query: [r["source"] for r in json.loads(request(server, f"/api/sources?{query}")[2])]
    assert sources("queue=uncertain&undecided_by=ana") == ["J100200+020200", "J100300+020300"]
    assert sources("queue=uncertain&undecided_by=ben") == [SOURCE, "J100200+020200", "J100300+020300"]
    assert sources("queue=uncertain&order=random&seed=7") == sources("queue=uncertain&order=random&seed=7")


# -- B11: every 201 is a row in the store ---------------------------------------------------------

CHURN = """
import sqlite3, sys, time
stop = time.time() + float(sys.argv[2])
while True:  # another process using the store: opens, reads, checkpoints, closes
    connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    connection.execute("SELECT COUNT(*) FROM annotations").fetchone()
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    connection.close()
    if time.time() > stop:
        break
    print("busy", flush=True)
"""


def test_opening_the_store_again_keeps_the_wal_of_open_connections(tmp_path):
    """Store.open must not open the file beside SQLite: closing that descriptor dropped the locks
    of every other connection in the process, another process then deleted the WAL under them,
    and readers got "disk I/O error" (the QA's B11)."""
    path = tmp_path / "hippo.db"
    writer = Store.open(path)
    try:
        writer.insert("annotations", [{"source": SOURCE, "label": "FRI", "user": "ana"}])
        Store.open(path).close()  # another request of the same server
        subprocess.run([sys.executable, "-c", CHURN, str(path), "0"], check=True)
        subprocess.run([sys.executable, "-c", f"import sqlite3; sqlite3.connect({str(path)!r}).execute("
                                              "'SELECT COUNT(*) FROM annotations').fetchone()"], check=True)
        assert Path(f"{path}-wal").exists()
        writer.insert("annotations", [{"source": SOURCE, "label": "FRII", "user": "ben"}])
        with Store.open(path) as reader:
            assert reader.count("annotations") == 2
    finally:
        writer.close()


def test_every_acknowledged_decision_is_stored_under_concurrent_posts(server, filled_store):
    n = 80
    tag = uuid.uuid4().hex[:8]
    codes = collections.Counter()

    def post(i):
        decision = {"source": SOURCE, "label": ("FRI", "FRII")[i % 2], "user": f"tab{i % 3}", "comment": f"{tag} {i}"}
        codes[request(server, "/api/annotations", decision, header=True)[0]] += 1

    churn = subprocess.Popen([sys.executable, "-c", CHURN, str(filled_store), "60"], stdout=subprocess.PIPE)
    try:
        churn.stdout.readline()  # it is at work
        threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        churn.terminate()
        churn.wait(30)
        churn.stdout.close()
    stored = sqlite3.connect(filled_store).execute("SELECT COUNT(*) FROM annotations WHERE comment LIKE ?",
                                                   (tag + " %",)).fetchone()[0]
    assert stored == codes[201]
    assert codes == {201: n}


def test_a_decision_the_store_does_not_take_is_not_acknowledged(server, filled_store, monkeypatch):
    decision = {"source": SOURCE, "label": "FRI", "user": "ana"}
    real_insert = Store.insert
    failures = []

    def failing_insert(store, table, rows, **options):
        if failures:
            raise sqlite3.OperationalError(failures.pop(0))
        return real_insert(store, table, rows, **options)

    monkeypatch.setattr(Store, "insert", failing_insert)
    failures[:] = ["database is locked"]  # a busy store: tried again, then stored once
    assert request(server, "/api/annotations", decision)[0] == 201
    failures[:] = ["disk I/O error"]
    status, _, body = request(server, "/api/annotations", decision)
    assert status == 503 and "not stored" in json.loads(body)["error"]
    failures[:] = ["database is locked"] * 5
    assert request(server, "/api/annotations", decision)[0] == 503
    with Store.open(filled_store) as store:
        assert store.count("annotations") == 1
