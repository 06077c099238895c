"""Overlays on the inspection page: radio contours on the optical/IR cutout at two zooms, made once, cached."""

import json

import numpy as np
import pytest

from hippo.store import Store
from tests.inspection.conftest import TOKEN, serving
from tests.inspection.test_page import browser, wait_for  # noqa: F401 (a fixture, used by name)
from tests.inspection.test_api import request
from tests.overlays.conftest import gaussian_at, make_wcs, write_image

SOURCE = "J100000+020000"


@pytest.fixture
def overlay_server(tmp_path):
    """A store whose source has a FIRST-like radio cutout (204" at 4"/px, noise, Jy/beam) and a wider
    WISE-like one (241" at 1"/px), and a second source with only an optical cutout."""
    rng = np.random.default_rng(0)
    radio_wcs, optical_wcs = make_wcs(150.0, 2.0, 51, 4.0), make_wcs(150.0, 2.0, 241, 1.0)
    write_image(tmp_path / "radio.fits", rng.normal(0, 1e-4, (51, 51))
                + gaussian_at(radio_wcs, (51, 51), 150.0, 2.0, 20, 1e-2), radio_wcs, BUNIT="JY/BEAM")
    write_image(tmp_path / "optical.fits", 100 + rng.normal(0, 5, (241, 241))
                + gaussian_at(optical_wcs, (241, 241), 150.0, 2.0, 3, 400), optical_wcs, BUNIT="DN")
    store_path = tmp_path / "hippo.db"
    with Store.open(store_path) as store:
        with store.run("test-fill") as run:
            store.insert("classifications", [
                {"source": SOURCE, "ra": 150.0, "dec": 2.0, "label": "FRII", "confidence": 0.5, "flag": "uncertain"},
                {"source": "J100100+020100", "ra": 150.25, "dec": 2.0, "label": "FRI", "confidence": 0.5,
                 "flag": "uncertain"}], run_id=run.id)
            store.insert("cutouts", [
                {"source": SOURCE, "survey": "FIRST", "ra": 150.0, "dec": 2.0, "status": "ok", "path": "radio.fits"},
                {"source": SOURCE, "survey": "WISE 3.4", "ra": 150.0, "dec": 2.0, "status": "ok",
                 "path": "optical.fits"},
                {"source": "J100100+020100", "survey": "DSS2 Red", "ra": 150.25, "dec": 2.0, "status": "ok",
                 "path": "optical.fits"}], run_id=run.id)
    with serving(store_path) as server:
        yield server


def png_text(body):
    import io

    from PIL import Image

    with Image.open(io.BytesIO(body)) as picture:
        return dict(picture.text)


def test_source_details_name_the_overlay_radio_contours_on_the_optical_cutout(overlay_server):
    details = json.loads(request(overlay_server, f"/api/source?source={SOURCE.replace('+', '%2B')}")[2])
    assert details["overlay"] == {"image": "WISE 3.4", "contours": ["FIRST"]}
    other = json.loads(request(overlay_server, "/api/source?source=J100100%2B020100")[2])
    assert other["overlay"] is None  # no radio cutout: nothing to contour
    assert request(overlay_server, "/api/overlay?source=J100100%2B020100&zoom=1")[0] == 404


def test_overlay_pngs_at_two_zooms_are_drawn_from_the_store_cutouts_and_cached(overlay_server):
    quoted = SOURCE.replace("+", "%2B")
    bodies = {}
    for zoom in (1, 2):
        status, headers, body = request(overlay_server, f"/api/overlay?source={quoted}&zoom={zoom}")
        assert status == 200 and headers["Content-Type"] == "image/png"
        bodies[zoom] = body
        description = png_text(body)["Description"]
        assert "optical.fits" in description and "contours=" in description and "radio.fits" in description
    # zoom 1: the 241" optical field cut to the 204" the radio cutout covers; zoom 2: its central half
    assert "size=204.0arcsec" in png_text(bodies[1])["Description"]
    assert "size=102.0arcsec" in png_text(bodies[2])["Description"]
    assert "ra=150.0 dec=2.0" in png_text(bodies[2])["Description"]   # centred on the source
    cached = sorted(overlay_server.cache_dir.glob("overlay_*.png"))
    assert len(cached) == 2
    stamps = [path.stat().st_mtime_ns for path in cached]
    assert request(overlay_server, f"/api/overlay?source={quoted}&zoom=2")[2] == bodies[2]
    assert [path.stat().st_mtime_ns for path in cached] == stamps  # served from the cache, not redrawn


@pytest.mark.parametrize("path, status", [("/api/overlay?zoom=1", 400), ("/api/overlay?source=nope&zoom=1", 404),
                                          (f"/api/overlay?source={SOURCE.replace('+', '%2B')}&zoom=3", 400)])
def test_bad_overlay_requests_get_4xx_json(overlay_server, path, status):
    got, headers, body = request(overlay_server, path)
    assert got == status and "error" in json.loads(body)


def test_the_page_shows_the_overlays_at_two_zooms_in_chromium(overlay_server, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    host, port = overlay_server.server_address[:2]
    browser.get(f"http://{host}:{port}/?token={TOKEN}&user=ana")
    wait_for(lambda: browser.find_element(By.ID, "name").text == SOURCE)
    loaded = ("return [...document.querySelectorAll('#images figure.overlay img')]"
              ".map(i => i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0);")
    wait_for(lambda: all(browser.execute_script(loaded)) and len(browser.execute_script(loaded)) == 2, timeout=60)
    assert all(300 < width <= 370 for width in browser.execute_script(loaded))  # 3.6" at 100 dpi, trimmed
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#images figure.overlay figcaption")]
    assert captions == ["FIRST contours on WISE 3.4 · zoom ×1", "FIRST contours on WISE 3.4 · zoom ×2"]


def test_each_cutout_file_is_read_once_per_overlay_drawn(overlay_server, monkeypatch):
    """Once to choose the layout (kept for the source), then once per zoom drawn: the field is sized
    from the same images the overlay draws, not from a read of its own."""
    from collections import Counter
    from pathlib import Path

    from astropy.io import fits

    opened = Counter()
    real_open = fits.open

    def counting_open(name, *args, **kwargs):
        opened[Path(name).name] += 1
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(fits, "open", counting_open)
    quoted = SOURCE.replace("+", "%2B")
    for zoom in (1, 2):
        assert request(overlay_server, f"/api/overlay?source={quoted}&zoom={zoom}")[0] == 200
    assert opened == {"radio.fits": 3, "optical.fits": 3}
