"""Undo: a decision is taken back by a retraction row (nothing deleted), through the API and on the page."""

import json

import pytest

from hippo.store import Store
from tests.inspection import test_page
from tests.inspection.conftest import TOKEN
from tests.inspection.test_api import request
from tests.inspection.test_page import wait_for

browser = test_page.browser  # the headless Chromium fixture (skips when it is not installed)
SOURCE = "J100000+020000"


def decide(server, **decision):
    status, _, body = request(server, "/api/annotations", {"source": SOURCE, "user": "ana", **decision})
    assert status == 201
    return json.loads(body)["id"]


def retract(server, decision, user="ana"):
    status, _, body = request(server, f"/api/annotations/{decision}/retract", {"user": user})
    return status, json.loads(body)


def stored(path):
    """(id, label, user, retracts) of every annotations row, NULL as None."""
    with Store.open(path) as store:
        return store.connection.execute("SELECT id, label, user, retracts FROM annotations ORDER BY id").fetchall()


def sources(server, query):
    return [r["source"] for r in json.loads(request(server, f"/api/sources?{query}")[2])]


def test_retracting_ones_own_decision_makes_the_source_undecided_again(server, filled_store):
    first = decide(server, label="FRII", host="W100000_1")
    decide(server, label="BENT", user="ben")
    assert sources(server, "queue=uncertain&undecided_by=ana") == ["J100200+020200", "J100300+020300"]
    status, retraction = retract(server, first)
    assert status == 201 and retraction["retracts"] == first and retraction["user"] == "ana"
    assert sources(server, "queue=uncertain&undecided_by=ana")[0] == SOURCE
    details = json.loads(request(server, "/api/source?source=J100000%2B020000&user=ana")[2])
    assert details["mine"] is None and [d["user"] for d in details["annotations"]] == ["ben"]
    assert json.loads(request(server, "/api/summary")[2])["users"] == ["ben"]
    with Store.open(filled_store) as store:  # append-only: the decision is still there, and who took it back when
        rows = store.table("annotations")
    assert list(rows["id"]) == [first, first + 1, retraction["id"]]
    assert rows[0]["label"] == "FRII" and rows[2]["retracts"] == first and rows[2]["user"] == "ana"
    assert rows[2]["time"] >= rows[0]["time"] and rows[2]["run_id"] == rows[0]["run_id"]


def test_undo_brings_back_ones_previous_decision(server):
    first = decide(server, label="FRI")
    second = decide(server, label="FRII")
    assert retract(server, first)[0] == 409  # not the latest: undo goes back one step at a time
    assert retract(server, second)[0] == 201
    details = json.loads(request(server, "/api/source?source=J100000%2B020000&user=ana")[2])
    assert details["mine"]["id"] == first and details["mine"]["label"] == "FRI"
    assert retract(server, first)[0] == 201
    assert SOURCE in sources(server, "queue=uncertain&undecided_by=ana")


@pytest.mark.parametrize("case, status, says", [
    ("twice", 409, "already retracted"), ("someone else's", 403, "is ana's, not ben's"),
    ("unknown", 404, "no decision 999"), ("a retraction", 400, "is a retraction"), ("no user", 400, "who is")])
def test_a_retraction_that_undoes_nothing_of_ones_own_is_refused(server, filled_store, case, status, says):
    decision = decide(server, label="FRII")
    if case in ("twice", "a retraction"):
        _, done = retract(server, decision)
        decision = done["id"] if case == "a retraction" else decision
    got, body = retract(server, 999 if case == "unknown" else decision,
                        user={"someone else's": "ben", "no user": ""}.get(case, "ana"))
    assert got == status and says in body["error"]
    with Store.open(filled_store) as store:
        assert store.count("annotations") == (2 if case in ("twice", "a retraction") else 1)


def test_a_retraction_needs_the_token_and_a_json_body(server):
    decision = decide(server, label="FRII")
    assert request(server, f"/api/annotations/{decision}/retract", {"user": "ana"}, token=None)[0] == 403
    assert request(server, f"/api/annotations/{decision}/retract", b"user=ana")[0] == 400
    assert request(server, f"/api/annotations/x{decision}/retract", {"user": "ana"})[0] == 404
    assert request(server, f"/api/annotations/{decision}/retract")[0] == 404  # a GET
    assert SOURCE not in sources(server, "queue=uncertain&undecided_by=ana")


def test_undo_on_the_page_returns_to_the_source_and_records_the_retraction(server, browser, filled_store):
    from selenium.webdriver.common.by import By

    host, port = server.server_address[:2]
    browser.get(f"http://{host}:{port}/?token={TOKEN}&user=ana")
    name = lambda: browser.find_element(By.ID, "name").text
    wait_for(lambda: name() == SOURCE)
    undo_button = browser.find_element(By.ID, "undo")
    assert not undo_button.is_enabled()
    browser.find_element(By.XPATH, "//div[@id='labels']/button[contains(., 'BENT')]").click()  # the wrong label
    browser.find_element(By.ID, "next").click()
    wait_for(lambda: name() == "J100200+020200")
    undo_button.click()
    wait_for(lambda: name() == SOURCE and "undone: BENT" in browser.find_element(By.ID, "status").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#labels button.chosen") == []  # undecided again
    assert not undo_button.is_enabled()
    assert stored(filled_store) == [(1, "BENT", "ana", None), (2, None, "ana", 1)]
    # the right label, saved, and taken back with the keyboard this time
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("2")
    body.send_keys("\n")
    wait_for(lambda: name() == "J100200+020200")
    body.send_keys("u")
    wait_for(lambda: name() == SOURCE and "undone: FRII" in browser.find_element(By.ID, "status").text)
    assert stored(filled_store) == [(1, "BENT", "ana", None), (2, None, "ana", 1), (3, "FRII", "ana", None),
                                    (4, None, "ana", 3)]


def test_a_store_from_before_undo_is_read_as_is_and_migrated_when_served(filled_store, tmp_path):
    import sqlite3

    from astropy.table import Table

    from hippo.inspection.queue import source_queue
    from tests.inspection.conftest import serving

    database = sqlite3.connect(filled_store)
    database.execute("DROP INDEX annotations_retracts")
    database.execute("ALTER TABLE annotations DROP COLUMN retracts")
    database.execute("INSERT INTO annotations (source, label, user) VALUES (?, 'FRII', 'ana')", (SOURCE,))
    database.commit()
    database.close()
    with Store.open(filled_store, readonly=True) as store:  # changes nothing, still reads the decision
        assert SOURCE not in [r["source"] for r in source_queue(store, undecided_by="ana")]
        assert "retracts" not in store.columns("annotations")
    with serving(filled_store) as server:
        assert retract(server, 1)[0] == 201
        assert SOURCE in sources(server, "queue=uncertain&undecided_by=ana")
    # the export says which decision was taken back, and by whom
    with Store.open(filled_store, readonly=True) as store:
        store.export("annotations", tmp_path / "annotations.csv")
    exported = Table.read(tmp_path / "annotations.csv")
    assert list(exported["retracts"].filled(0)) == [0, 1] and list(exported["user"]) == ["ana", "ana"]
