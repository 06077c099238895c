"""Nearest and symmetric-best matching agree with astropy, at the RA wrap and near the pole."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky
from astropy.table import Table

from hippo.crossmatch import xmatch
from hippo.errors import UsageError


def _field(rng, n, ra_centre, dec_centre, half_width_deg):
    ra = (ra_centre + rng.uniform(-half_width_deg, half_width_deg, n) / max(np.cos(np.radians(dec_centre)), 0.05)) % 360
    dec = np.clip(dec_centre + rng.uniform(-half_width_deg, half_width_deg, n), -90, 90)
    return ra, dec


@pytest.mark.parametrize("ra_centre,dec_centre", [(180.0, 10.0), (0.0, -30.0), (45.0, 89.5)])
def test_nn_matches_astropy_nearest_neighbour(ra_centre, dec_centre):
    rng = np.random.default_rng(7)
    ra_o, dec_o = _field(rng, 4000, ra_centre, dec_centre, 0.3)
    pick = rng.choice(4000, 300, replace=False)
    ra_r = (ra_o[pick] + rng.normal(0, 1.5, 300) / 3600 / np.cos(np.radians(dec_o[pick]))) % 360
    dec_r = np.clip(dec_o[pick] + rng.normal(0, 1.5, 300) / 3600, -90, 90)
    radio = Table({"id": [f"r{i}" for i in range(300)], "ra": ra_r, "dec": dec_r})
    optical = Table({"id": [f"o{i}" for i in range(4000)], "ra": ra_o, "dec": dec_o})
    pairs = xmatch(radio, optical, method="nn", radius="5arcsec")

    index, separation, _ = match_coordinates_sky(SkyCoord(ra_r * u.deg, dec_r * u.deg),
                                                 SkyCoord(ra_o * u.deg, dec_o * u.deg))
    within = separation.arcsec <= 5
    expected = {f"r{i}": f"o{j}" for i, j in enumerate(index) if within[i]}
    assert dict(zip(pairs["radio_id"], pairs["optical_id"])) == expected
    np.testing.assert_allclose(pairs["separation_arcsec"], separation.arcsec[within], atol=1e-6)
    assert pairs["lr"].mask.all() and set(pairs["rank"]) == {1}


def test_best_keeps_only_mutual_nearest_pairs():
    # two radio sources compete for one optical source: only the closer one keeps it
    radio = Table({"name": ["near", "far"], "ra": [10.0, 10.0 + 3 / 3600], "dec": [0.0, 0.0]})
    optical = Table({"name": ["host"], "ra": [10.0 + 0.5 / 3600], "dec": [0.0]})
    assert list(xmatch(radio, optical, method="nn", radius="5arcsec")["radio_id"]) == ["near", "far"]
    best = xmatch(radio, optical, method="best", radius="5arcsec")
    assert list(best["radio_id"]) == ["near"] and best["separation_arcsec"][0] == pytest.approx(0.5, abs=1e-6)


def test_cli_writes_spec_columns_and_records_the_store(tmp_path, hippo_cli):
    Table({"Source_Name": ["A", "B"], "RA": [359.9999, 120.0], "DEC": [0.0, 5.0]}).write(tmp_path / "radio.fits")
    (tmp_path / "optical.csv").write_text("objid,ra,dec\nX,0.0001,0.0\nY,121,5\n")
    db = tmp_path / "h.db"
    result = hippo_cli("xmatch", tmp_path / "radio.fits", tmp_path / "optical.csv", "--radius", "1arcsec",
                       "--store", db)
    assert result.returncode == 0, result.stderr
    header, row, *rest = result.stdout.strip().splitlines()
    assert header.startswith("radio_id,optical_id,separation_arcsec,rank,lr,reliability,flag,") and not rest
    fields = row.split(",")
    assert fields[:2] == ["A", "X"] and float(fields[2]) == pytest.approx(0.72, abs=0.01)
    assert fields[3:7] == ["1", "", "", "ok"]
    from hippo.store import Store

    with Store.open(db) as store:
        assert list(store.table("xmatches")["radio_id"]) == ["A"]


def test_unknown_method_and_bad_catalogue(tmp_path, hippo_cli):
    with pytest.raises(UsageError, match="choose one of nn, best, lr"):
        xmatch(Table({"ra": [1.0], "dec": [1.0]}), Table({"ra": [1.0], "dec": [1.0]}), method="closest")
    (tmp_path / "r.csv").write_text("x,y\n1,2\n")
    (tmp_path / "o.csv").write_text("ra,dec\n1,2\n")
    result = hippo_cli("xmatch", tmp_path / "r.csv", tmp_path / "o.csv")
    assert result.returncode == 2 and result.stderr.startswith("error:") and "r.csv: no RA column" in result.stderr


def test_real_lotss_source_list_against_itself(shared_data):
    path = shared_data / "lotss_dr1" / "catalog_shimwell_reduced.srl.fits"
    pairs = xmatch(path, path, method="best", radius="1arcsec")
    assert len(pairs) == 12093 and np.all(pairs["radio_id"] == pairs["optical_id"])


@pytest.mark.parametrize("method", ["nn", "best"])
def test_a_wide_radius_is_chosen_batch_by_batch_with_the_pairs_of_a_whole_list(method, monkeypatch):
    # 1 arcmin: some 30 candidates a radio source in its zones, 12,000 in all, in batches of 2,000
    from hippo.crossmatch import zones

    rng = np.random.default_rng(11)
    ra_o, dec_o = _field(rng, 3000, 0.0, 40.0, 0.2)  # across RA 0/360
    ra_r, dec_r = _field(rng, 400, 0.0, 40.0, 0.2)
    radio = Table({"id": [f"r{i}" for i in range(400)], "ra": ra_r, "dec": dec_r})
    optical = Table({"id": [f"o{i}" for i in range(3000)], "ra": ra_o, "dec": dec_o})
    seen = []
    whole = zones.ZoneIndex._pairs_in_spans
    monkeypatch.setattr(zones, "_BATCH_CANDIDATES", 2000)
    monkeypatch.setattr(zones.ZoneIndex, "_pairs_in_spans",
                        lambda self, *args: seen.append(int((args[4] - args[3]).sum())) or whole(self, *args))
    pairs = xmatch(radio, optical, method=method, radius="1arcmin")

    radio_sky, optical_sky = SkyCoord(ra_r * u.deg, dec_r * u.deg), SkyCoord(ra_o * u.deg, dec_o * u.deg)
    to_optical, separation, _ = match_coordinates_sky(radio_sky, optical_sky)
    to_radio, _, _ = match_coordinates_sky(optical_sky, radio_sky)
    keep = separation.arcsec <= 60
    if method == "best":
        keep &= to_radio[to_optical] == np.arange(400)
    expected = {f"r{i}": f"o{to_optical[i]}" for i in np.flatnonzero(keep)}
    assert dict(zip(pairs["radio_id"], pairs["optical_id"])) == expected
    assert len(seen) >= 5 and max(seen) < 2000 + 150  # a batch overruns by at most one query's candidates
    np.testing.assert_allclose(pairs["separation_arcsec"], separation.arcsec[keep], atol=1e-6)


def test_duplicate_radio_ids_are_warned_about_once(tmp_path, hippo_cli):
    Table({"Source_Name": ["A", "B", "A", "C", "B", "A"], "RA": [10.0, 10.1, 10.2, 10.3, 10.4, 10.5],
           "DEC": [0.0] * 6}).write(tmp_path / "radio.fits")
    Table({"objid": [1, 2], "ra": [10.0, 10.2], "dec": [0.0, 0.0]}).write(tmp_path / "optical.fits")
    result = hippo_cli("xmatch", tmp_path / "radio.fits", tmp_path / "optical.fits")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{tmp_path / 'radio.fits'}: 2 ids in column Source_Name are not unique (e.g. 'A' is on 3 rows): "
        "their matches cannot be told apart"]
    assert result.stdout.count("\nA,") == 2  # both rank 1, told apart only by their positions


def test_a_failed_run_with_store_prints_one_error_line_and_keeps_it_in_the_run_log(tmp_path, hippo_cli):
    Table({"Source_Name": ["A"], "RA": [10.0], "DEC": [0.0]}).write(tmp_path / "radio.fits")
    Table({"objid": [1], "ra": [10.0], "dec": [0.0]}).write(tmp_path / "optical.fits")
    db = tmp_path / "h.db"
    result = hippo_cli("xmatch", tmp_path / "radio.fits", tmp_path / "optical.fits", "--method", "lr",
                       "--radio-err", "bogus", "--store", db)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'radio.fits'}: --radio-err 'bogus': neither columns of this table nor an angle"]
    from hippo.store import Store

    with Store.open(db) as store:
        run = store.table("runs")
        assert list(run["exit_status"]) == [2] and "run failed: " in run["log"][0]
