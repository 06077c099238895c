"""The inspection JSON API against a real server on 127.0.0.1."""

import json
import urllib.error
import urllib.request

import pytest

from hippo.store import Store
from tests.inspection.conftest import TOKEN


def request(server, path, data=None, token=TOKEN, header=False, method=None):
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}{path}"
    headers = {"Content-Type": "application/json"}
    if token is not None:
        if header:
            headers["Authorization"] = f"token {token}"
        else:
            url += ("&" if "?" in url else "?") + f"token={token}"
    body = json.dumps(data).encode() if isinstance(data, dict) else data
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_queues_follow_classifier_and_crossmatch_flags(server):
    status, headers, body = request(server, "/api/sources?queue=uncertain")
    assert status == 200
    rows = json.loads(body)
    assert [r["source"] for r in rows] == ["J100000+020000", "J100200+020200", "J100300+020300"]
    assert rows[0] == {"source": "J100000+020000", "ra": 150.0, "dec": 2.0, "label": "FRII",
                       "confidence": 0.48, "flag": "uncertain"}
    flagged = json.loads(request(server, "/api/sources?queue=flagged", header=True)[2])
    assert {r["source"] for r in flagged} == {"J100000+020000", "J100300+020300", "J100400+020400"}
    everything = json.loads(request(server, "/api/sources?queue=all&order=random&seed=3")[2])
    assert sorted(r["source"] for r in everything) == sorted(r["source"] for r in json.loads(
        request(server, "/api/sources?queue=all")[2]))
    assert len(everything) == 5
    fri = json.loads(request(server, "/api/sources?queue=all&label=FRI")[2])
    assert [r["source"] for r in fri] == ["J100100+020100"]


def test_annotation_is_stored_at_once_with_user_and_time(server, filled_store):
    decision = {"source": "J100000+020000", "label": "FRII", "host": "W100000_1", "comment": "clear lobes",
                "user": "ana"}
    status, _, body = request(server, "/api/annotations", decision)
    assert status == 201
    with Store.open(filled_store) as store:
        rows = store.table("annotations")
    assert len(rows) == 1
    assert [rows[0][k] for k in ("source", "label", "host", "comment", "user")] == list(decision.values())
    assert rows[0]["time"].startswith("20")
    request(server, "/api/annotations", dict(decision, user="ben", label="bent"))
    assert store_labels(filled_store) == ["FRII", "BENT"]  # the classifier's name for the class
    request(server, "/api/annotations", dict(decision, user="ben", label="FRII"))  # the latest per user counts
    summary = json.loads(request(server, "/api/summary")[2])
    assert summary["users"] == ["ana", "ben"] and summary["multiply_annotated"] == 1
    assert summary["label_agreement"] == 1.0
    details = json.loads(request(server, "/api/source?source=J100000%2B020000&user=ben")[2])
    assert details["mine"]["label"] == "FRII" and len(details["annotations"]) == 3
    assert [c["optical_id"] for c in details["candidates"]] == ["W100000_1", "W100000_2"]
    assert details["probabilities"]["frii"] == pytest.approx(0.48)


def test_cutout_png_at_two_zooms_is_cached(server):
    details = json.loads(request(server, "/api/source?source=J100300%2B020300")[2])
    cutout = details["cutouts"][0]["id"]
    for zoom in (1, 2):
        status, headers, body = request(server, f"/api/image?cutout={cutout}&zoom={zoom}")
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(server.cache_dir.glob("*.png"))) == 2


@pytest.mark.parametrize("token,header", [(None, False), ("wrong", False), ("wrong", True)])
def test_token_is_required_on_every_request(server, token, header):
    for path in ("/", "/api/sources?queue=all", "/static/app.js"):
        status, headers, body = request(server, path, token=token, header=header)
        assert status in (401, 403)
        assert "error" in json.loads(body)
    status, _, _ = request(server, "/api/annotations", {"source": "x", "user": "eve"}, token=token, header=header)
    assert status in (401, 403)


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/..%2F..%2Fstore%2Fstore.py",
                                  "/static/%2Fetc%2Fpasswd", "/../../etc/passwd", "/etc/passwd",
                                  "/api/image?cutout=../../etc/passwd", "/api/image?cutout=999"])
def test_no_file_outside_the_products_is_readable(server, path):
    status, _, body = request(server, path)
    assert status in (400, 403, 404)
    assert b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("data,status", [(b"not json", 400), ({"label": "FRI"}, 400), (b"[1, 2]", 400),
                                         ({"source": "J1", "label": {"a": 1}, "user": "x"}, 400),
                                         ({"source": "J1", "label": "FRI"}, 400)])
def test_bad_requests_get_4xx_json(server, data, status):
    got, headers, body = request(server, "/api/annotations", data)
    assert got == status
    assert headers["Content-Type"] == "application/json" and "error" in json.loads(body)
    assert request(server, "/api/sources?queue=nonsense")[0] == 400
    assert request(server, "/api/source?source=nope")[0] == 404
    assert request(server, "/api/source")[0] == 400


@pytest.mark.parametrize("decision,status,says", [
    ({"source": "nowhere", "label": "FRI", "user": "eve"}, 404, "no source 'nowhere'"),
    ({"source": "J100000+020000", "label": "banana", "user": "eve"}, 400, "label must be one of"),
    ({"source": "J100000+020000", "host": "W999999_9", "user": "eve"}, 400, "not a candidate"),
    ({"source": "J100000+020000", "user": "eve"}, 400, "needs a label, a host or a comment")])
def test_a_decision_about_nothing_in_the_store_is_refused(server, filled_store, decision, status, says):
    got, _, body = request(server, "/api/annotations", decision)
    assert got == status and says in json.loads(body)["error"]
    assert request(server, "/api/annotations", {"source": "J100000+020000", "host": "none", "user": "eve"})[0] == 201
    with Store.open(filled_store) as store:
        assert len(store.table("annotations")) == 1


def test_a_write_needs_the_token_itself_not_the_cookie_alone(server, filled_store):
    """A page served by another local server (same site to the browser) can make it send the
    cookie with a form POST, but cannot read the token to send it."""
    host, port = server.server_address[:2]
    decision = json.dumps({"source": "J100000+020000", "label": "FRI", "user": "mallory"}).encode()
    for content_type in ("application/json", "text/plain"):
        forged = urllib.request.Request(f"http://{host}:{port}/api/annotations", data=decision,
                                        headers={"Cookie": f"hippo_token={TOKEN}", "Content-Type": content_type})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 403
    # The token in the header but a form's content type: refused too.
    plain = urllib.request.Request(f"http://{host}:{port}/api/annotations", data=decision,
                                   headers={"Authorization": f"token {TOKEN}", "Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(plain, timeout=10)
    assert refused.value.code == 415
    with Store.open(filled_store) as store:
        assert len(store.table("annotations")) == 0
    # The page's own cookie opens its static files (a <script src> cannot send a header), not the API.
    cookie = request(server, "/")[1]["Set-Cookie"].split(";")[0]
    with urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/static/app.js",
                                                       headers={"Cookie": cookie}), timeout=10) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/api/sources?queue=all",
                                                      headers={"Cookie": cookie}), timeout=10)
    assert refused.value.code == 403


def store_labels(path):
    with Store.open(path) as store:
        return [row["label"] for row in store.table("annotations")]


@pytest.mark.parametrize("given, stored", [("COMP", "COMP"), ("compact", "COMP"), ("fri", "FRI"), ("FR-II", "FRII"),
                                           ("head tail", "BENT"), ("Artifact", "artefact"), ("Other", "other")])
def test_annotation_labels_are_the_classifiers_in_any_case_or_spelling(server, filled_store, given, stored):
    decision = {"source": "J100000+020000", "label": given, "user": "ana"}
    assert request(server, "/api/annotations", decision)[0] == 201
    assert store_labels(filled_store) == [stored]
    assert request(server, "/api/annotations", dict(decision, label="spiral"))[0] == 400


def test_decisions_carry_the_run_id_of_their_inspection_session(filled_store):
    import sqlite3

    from tests.inspection.conftest import serving

    database = sqlite3.connect(filled_store)
    database.execute("ALTER TABLE annotations DROP COLUMN run_id")  # a store from before the column
    database.commit()
    database.close()
    decision = {"source": "J100000+020000", "label": "FRII", "user": "ana"}
    with serving(filled_store) as server:
        assert request(server, "/api/annotations", decision)[0] == 201
        assert request(server, "/api/annotations", dict(decision, label="BENT"))[0] == 201
        with Store.open(filled_store) as store:
            assert store.table("runs")[-1]["status"] == "running"  # the session goes on
    with serving(filled_store) as server:
        assert request(server, "/api/annotations", dict(decision, user="ben"))[0] == 201
    with Store.open(filled_store) as store:
        runs = {run["id"]: run for run in store.table("runs")}
        run_ids = list(store.table("annotations")["run_id"])
    assert run_ids[0] == run_ids[1] != run_ids[2]
    assert [runs[i]["command"] for i in run_ids] == ["inspect"] * 3
    assert all(runs[i]["status"] == "finished" and runs[i]["exit_status"] == 0 for i in run_ids)


def test_inspecting_an_empty_file_is_refused_and_leaves_it_empty(tmp_path):
    from hippo.errors import InputError
    from hippo.inspection import make_server

    path = tmp_path / "hippo.db"
    path.write_bytes(b"")  # a truncated store, say: not to be turned into an empty one
    with pytest.raises(InputError, match="is not a HIPPO store \\(empty file\\)"):
        make_server(path, token=TOKEN, port=0)
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["hippo.db"]


def test_the_labels_are_the_classifiers_classes_and_two_more_in_one_place(server):
    from hippo.inspection.server import LABELS, label_name
    from hippo.morphology.classifier import CLASSES
    from hippo.morphology.labels import class_name

    assert json.loads(request(server, "/api/config")[2])["labels"] == LABELS == [*CLASSES, "other", "artefact"]
    for spelling in ("fr1", "Fr II", "WAT", "compact"):  # what a label table may say, the page accepts
        assert label_name(spelling) == class_name(spelling) is not None
