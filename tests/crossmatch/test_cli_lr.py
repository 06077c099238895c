"""``hippo xmatch --method lr --group`` from the shell: FITS output with provenance, the store, errors."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from hippo.crossmatch.simulate import simulate_field


@pytest.fixture(scope="module")
def field_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("field")
    radio, optical = simulate_field(n_radio=600, area_deg2=0.5, seed=21)
    radio.write(folder / "radio.fits")
    optical.write(folder / "optical.fits")
    return folder, radio


def test_lr_with_groups_writes_fits_with_provenance_and_fills_the_store(field_files, hippo_cli):
    folder, radio = field_files
    db = folder / "hippo.db"
    result = hippo_cli("xmatch", folder / "radio.fits", folder / "optical.fits", "--method", "lr", "--group",
                       "--astrometric-floor", "0.3arcsec", "-o", folder / "pairs.fits", "--store", db)
    assert result.returncode == 0, result.stderr
    assert "estimated completeness" in result.stderr
    pairs = Table.read(folder / "pairs.fits")
    assert pairs.colnames[:7] == ["radio_id", "optical_id", "separation_arcsec", "rank", "lr", "reliability", "flag"]
    header = fits.getheader(folder / "pairs.fits", 1)
    assert header["HIPPOCMD"] == "xmatch" and any("method=lr" in str(h) for h in header["HISTORY"])
    flags = set(pairs["flag"])
    assert "multi_component" in flags and "ok" in flags
    truth = dict(zip(np.asarray(radio["Source_Name"]).astype(str), np.asarray(radio["true_host"])))
    best = pairs[(pairs["rank"] == 1) & (pairs["flag"] == "ok")]
    correct = np.mean([truth[r] == o for r, o in zip(best["radio_id"], best["optical_id"])])
    assert correct >= 0.95

    from hippo.store import Store

    with Store.open(db) as store:
        rows = store.table("xmatches")
        runs = store.table("runs")
    assert len(rows) == len(pairs) and set(rows["method"]) == {"lr"}
    assert int(np.sum(rows["flag"] == "multi_component")) == int(np.sum(pairs["flag"] == "multi_component"))
    assert '"group": true' in runs["parameters"][-1] and runs["exit_status"][-1] == 0


def test_bad_error_option_and_missing_magnitude_column(field_files, hippo_cli):
    folder, _ = field_files
    result = hippo_cli("xmatch", folder / "radio.fits", folder / "optical.fits", "--method", "lr",
                       "--radio-err", "NO_SUCH_COLUMN")
    assert result.returncode == 2 and result.stderr.startswith("error:") and "--radio-err" in result.stderr
    result = hippo_cli("xmatch", folder / "radio.fits", folder / "optical.fits", "--method", "lr",
                       "--mag-col", "r_mag")
    assert result.returncode == 2 and "no column 'r_mag'" in result.stderr


def test_overlays_of_flagged_sources_and_a_failure_reported(shared_data, tmp_path, hippo_cli):
    folder = shared_data / "first_wise"
    wise = next(folder.glob("*w1-int*.fits"))
    # an extended source on the image, and one far outside it: both flagged
    (tmp_path / "radio.csv").write_text("name,ra,dec,Maj\ninside,228.1133,45.6739,40\noutside,10.0,-30.0,40\n")
    (tmp_path / "optical.csv").write_text("name,ra,dec\nhost,228.11335,45.67392\nother,10.0001,-30.0\n")
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv", "-o", tmp_path / "pairs.csv",
                       "--overlay-image", wise, "--overlay-contours", folder / "FIRSTJ151227.2+454026_3.fits",
                       "--overlay-dir", tmp_path / "flagged")
    assert result.returncode == 3, result.stderr
    assert (tmp_path / "flagged" / "inside.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "flagged" / "outside.png").exists()
    assert "error: outside:" in result.stderr
    assert "extended" in (tmp_path / "pairs.csv").read_text()
