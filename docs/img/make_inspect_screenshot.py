"""Make docs/img/inspect.png: the inspection page in headless Chromium, over real FIRST and AllWISE cutouts.

    python docs/img/make_inspect_screenshot.py [--data ../shared/data] [-o docs/img/inspect.png]

Needs Debian's chromium and chromium-driver, and selenium. The store is a demonstration one made
in a temporary folder: the FIRST 3' and AllWISE W1 cutouts of J151227+454026 and two MiraBest
FIRST cutouts from ../shared/data, with illustrative classifier probabilities (not a model's) and
host candidates taken from the W1 image (peaks within 20" of the radio core). The page is shown
for the first source with the FRII key and host a pressed (not saved), after its overlays loaded.
"""

import argparse
import importlib.util
import shutil
import tempfile
import threading
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN = "screenshot-token"
MIRABEST = ("first_mirabest/100_117.079+045.746_0.1850_0228.03.fits.fz",
            "first_mirabest/200_143.160+016.199_0.1910_0242.71.fits.fz")


def gallery_module():
    """docs/gallery/make_gallery.py, for its data paths and W1 host candidates."""
    spec = importlib.util.spec_from_file_location("make_gallery", REPOSITORY / "docs/gallery/make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demonstration_store(data, folder):
    from astropy.table import Table

    from hippo.io import read_image
    from hippo.store import Store

    gallery = gallery_module()
    core, candidates_csv, _ = gallery.host_candidates(data, folder)
    candidates = Table.read(candidates_csv)
    name = "J151227+454026"
    path = folder / "hippo.db"
    with Store.open(path) as store:
        with store.run("screenshot-demo") as run:
            classifications = [{"source": name, "ra": core.ra.deg, "dec": core.dec.deg, "label": "FRII",
                                "p_fri": 0.41, "p_frii": 0.47, "p_bent": 0.09, "p_comp": 0.03, "confidence": 0.47,
                                "flag": "uncertain", "model": "illustrative"}]
            cutouts = [{"source": name, "survey": "FIRST", "ra": core.ra.deg, "dec": core.dec.deg, "status": "ok",
                        "path": str(data / gallery.FIRST_3)},
                       {"source": name, "survey": "AllWISE W1", "ra": core.ra.deg, "dec": core.dec.deg,
                        "status": "ok", "path": str(data / gallery.W1)}]
            matches = [{"radio_id": name, "optical_id": f"AllWISE {row['id']}", "rank": rank, "method": "nn",
                        "separation_arcsec": float(core.separation(
                            core.__class__(row["ra"], row["dec"], unit="deg")).arcsec),
                        "ra": core.ra.deg, "dec": core.dec.deg, "flag": "ok"}
                       for rank, row in enumerate(candidates, start=1)]
            for relative, (label, confidence) in zip(MIRABEST, (("FRI", 0.52), ("FRII", 0.55))):
                image = read_image(data / relative)
                centre = image.wcs.pixel_to_world(*(n / 2 - 0.5 for n in image.shape[::-1]))
                source = f"MB{relative.split('/')[1][:3]}_{centre.ra.deg:.3f}"
                classifications.append({"source": source, "ra": centre.ra.deg, "dec": centre.dec.deg, "label": label,
                                        "confidence": confidence, "flag": "uncertain", "model": "illustrative",
                                        "p_fri": confidence if label == "FRI" else 1 - confidence,
                                        "p_frii": confidence if label == "FRII" else 1 - confidence})
                cutouts.append({"source": source, "survey": "FIRST", "ra": centre.ra.deg, "dec": centre.dec.deg,
                                "status": "ok", "path": str(data / relative)})
            store.insert("classifications", classifications, run_id=run.id)
            store.insert("cutouts", cutouts, run_id=run.id)
            store.insert("xmatches", matches, run_id=run.id)
    return path, name


def screenshot(store_path, source, output):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from hippo.inspection import make_server

    server = make_server(store_path, token=TOKEN, user="ana", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1120",
                 f"--user-data-dir={store_path.parent / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        host, port = server.server_address[:2]
        driver.get(f"http://{host}:{port}/?token={TOKEN}&user=ana")
        wait(lambda: driver.find_element(By.ID, "name").text == source)
        # every image (the two overlays are drawn on first request) has arrived and decoded
        wait(lambda: driver.execute_script(
            "const im = [...document.querySelectorAll('#images img')];"
            "return im.length >= 4 && im.every(i => i.complete && i.naturalWidth > 0);"), timeout=180)
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("2")
        body.send_keys("a")
        time.sleep(0.3)
        driver.save_screenshot(str(output))
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


def wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise SystemExit("error: the page did not reach the expected state in time")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gallery = gallery_module()
    parser.add_argument("--data", type=Path, default=gallery.DEFAULT_DATA)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parent / "inspect.png")
    args = parser.parse_args()
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise SystemExit("error: chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    if not args.data.is_dir():
        raise SystemExit(f"error: {args.data}: survey data not found (give --data or set HIPPO_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as folder:
        store_path, source = demonstration_store(args.data, Path(folder))
        screenshot(store_path, source, args.output)
    print(f"{args.output}  {args.output.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
