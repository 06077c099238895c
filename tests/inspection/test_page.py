"""The inspection page in real headless Chromium: annotate three sources with the keyboard, reload."""

import shutil
import time

import pytest

from hippo.store import Store
from tests.inspection.conftest import TOKEN

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,860"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the page did not reach the expected state")


def test_annotate_three_sources_with_the_keyboard_and_reload(server, browser, filled_store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    host, port = server.server_address[:2]
    browser.get(f"http://{host}:{port}/?token={TOKEN}&user=ana")
    name = lambda: browser.find_element(By.ID, "name").text
    wait_for(lambda: name() == "J100000+020000")
    body = browser.find_element(By.TAG_NAME, "body")
    # FRII with host a; BENT with host b and a comment; COMP with no host
    for keys, expected_next in ((["2", "a"], "J100200+020200"), (["3", "b", "/"], "J100300+020300"),
                                (["4", "0"], "end of the queue")):
        for key in keys:
            body.send_keys(key)
        if "/" in keys:
            comment = browser.find_element(By.ID, "comment")
            comment.send_keys("one-sided jet", Keys.ESCAPE)
        body.send_keys(Keys.ENTER)
        wait_for(lambda: name() == expected_next)
    with Store.open(filled_store) as store:
        rows = store.table("annotations")
    assert [(r["source"], r["label"], r["host"], r["comment"], r["user"]) for r in rows] == [
        ("J100000+020000", "FRII", "W100000_1", "", "ana"),
        ("J100200+020200", "BENT", "W100200_2", "one-sided jet", "ana"),
        ("J100300+020300", "COMP", "none", "", "ana")]
    browser.refresh()
    wait_for(lambda: name() == "J100000+020000")
    assert "your decision: FRII / host W100000_1" in browser.find_element(By.ID, "status").text
    chosen = browser.find_elements(By.CSS_SELECTOR, "#labels button.chosen")
    assert [b.text for b in chosen] == ["2 FRII"]
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("s")
    wait_for(lambda: name() == "J100200+020200")
    assert browser.find_element(By.ID, "comment").get_attribute("value") == "one-sided jet"
    assert "3 annotated" in browser.find_element(By.ID, "summary").text
