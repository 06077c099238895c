"""Remote surveys through astroquery against a local SkyView/hips2fits: cache, retries, timeouts, offline."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import hippo
from hippo.archive import RemoteError, RemoteSurvey, get_survey

POSITION = SkyCoord(228.11333 * u.deg, 45.67389 * u.deg)


def cached_files(cache):
    return sorted((cache / "downloads").rglob("*.fits")) if (cache / "downloads").exists() else []


def assert_centred_exactly(cutout, coord):
    x, y = cutout.wcs.world_to_pixel(coord)
    n_y, n_x = cutout.data.shape
    assert abs(float(x) - (n_x - 1) / 2) < 1e-6 and abs(float(y) - (n_y - 1) / 2) < 1e-6


def test_skyview_cutout_is_centred_and_cached(fake_services, private_cache):
    survey = get_survey("first", timeout=5)
    assert isinstance(survey, RemoteSurvey) and survey.name == "FIRST" and survey.is_radio
    cut = survey.cutout(POSITION, "1arcmin")
    assert cut.status == "ok" and cut.data.shape == (35, 35)  # 60"/1.8" -> 35 px
    assert_centred_exactly(cut, POSITION)
    assert cut.data[17, 17] == pytest.approx(1.0001, rel=1e-4)  # the source the server put at the centre
    assert cut.header["BUNIT"] == "JY/BEAM"
    assert len(fake_services.image_requests) == 1 and len(cached_files(private_cache)) == 1
    again = get_survey("FIRST", timeout=5).cutout(POSITION, "1arcmin")
    assert len(fake_services.image_requests) == 1  # answered from the cache
    np.testing.assert_array_equal(again.data, cut.data)
    # at the survey's own scale SkyView is asked for nearest-neighbour values, not interpolation
    assert fake_services.samplers == ["NN"]
    survey.cutout(POSITION, "1arcmin", pixel_scale="1arcsec")
    assert fake_services.samplers == ["NN", "LI"]  # resampled for display: bilinear


def test_exact_resampling_of_a_remote_survey_resamples_its_own_pixels_here(fake_services, private_cache):
    survey = get_survey("first", timeout=5)
    cut = survey.cutout(POSITION, "1arcmin", pixel_scale="1arcsec", resampling="exact")
    # the survey's own 1.8" pixels, not a service's area-weighted sampler (SkyView's Clip sums)
    assert fake_services.samplers == ["NN"]
    assert cut.status == "ok" and cut.data.shape == (61, 61)
    assert_centred_exactly(cut, POSITION)
    assert cut.header["BUNIT"] == "JY/BEAM" and cut.data[0, 0] == pytest.approx(1e-4, rel=1e-3)  # Jy/beam kept
    native = survey.cutout(POSITION, "90arcsec")
    # the source's surface brightness integrated over the sky is the same on both grids
    assert np.sum(cut.data - 1e-4) * 1.0 ** 2 == pytest.approx(np.sum(native.data - 1e-4) * 1.8 ** 2, rel=0.01)


def test_hips2fits_cutout_on_the_requested_grid(fake_services):
    cut = get_survey("PanSTARRS-g", timeout=5).cutout(POSITION, "10arcsec", pixel_scale="0.5arcsec")
    assert cut.status == "ok" and cut.data.shape == (21, 21)
    assert_centred_exactly(cut, POSITION)
    assert "hips2fits" in fake_services.image_requests[0]


def test_offline_mode_uses_only_the_cache(fake_services, private_cache):
    get_survey("NVSS", timeout=5).cutout(POSITION, "5arcmin")
    fake_services.mode = "failing"
    offline = get_survey("NVSS", offline=True)
    assert offline.cutout(POSITION, "5arcmin").status == "ok"
    with pytest.raises(RemoteError, match="offline"):
        offline.cutout(POSITION, "6arcmin")
    assert len(fake_services.image_requests) == 1


def test_failing_service_is_retried_then_reported_and_nothing_is_cached(fake_services, private_cache):
    fake_services.mode = "failing"
    survey = RemoteSurvey("DSS2", timeout=5, retries=2, backoff=0.01)
    with pytest.raises(RemoteError, match=r"HTTP 500.*3 attempts"):
        survey.cutout(POSITION, "30arcsec")
    assert len(fake_services.image_requests) == 3
    assert cached_files(private_cache) == []


def test_flaky_service_succeeds_after_back_off(fake_services, private_cache):
    fake_services.mode = "flaky"
    cut = RemoteSurvey("WISE", timeout=5, retries=3, backoff=0.01).cutout(POSITION, "30arcsec")
    assert cut.status == "ok" and len(fake_services.image_requests) == 3
    assert len(cached_files(private_cache)) == 1


def test_slow_service_times_out(fake_services, private_cache):
    fake_services.mode = "slow"
    fake_services.delay = 2.0
    survey = RemoteSurvey("2MASS-K", timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(RemoteError, match="timed out"):
        survey.cutout(POSITION, "30arcsec")
    assert cached_files(private_cache) == []


@pytest.mark.parametrize("mode", ["empty", "nolink"])
def test_empty_answer_is_no_coverage_and_never_cached(fake_services, private_cache, mode):
    fake_services.mode = mode
    survey = RemoteSurvey("SDSS-r", timeout=5, retries=2, backoff=0.01)
    assert survey.cutout(POSITION, "30arcsec").status == "no_coverage"
    assert cached_files(private_cache) == []
    fake_services.mode = "good"
    assert survey.cutout(POSITION, "30arcsec").status == "ok"  # asked again, not answered from a cache


def test_batch_with_a_failing_position_exits_3_and_keeps_the_rest(fake_services, hippo_cli, tmp_path,
                                                                   private_cache):
    fake_services.fail_below_dec = 0.0
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("name,ra,dec\nA,150.1,2.2\nSOUTH,150.2,-5.0\nB,210.3,54.1\nC,10.0,40.0\n")
    out = tmp_path / "out"
    result = hippo_cli("cutout", "--catalogue", catalogue, "--survey", "FIRST", "--survey", "WISE",
                       "--size", "30arcsec", "--retries", "0", "--workers", "3", "-o", out,
                       env={"HIPPO_CACHE_DIR": str(private_cache)})
    assert result.returncode == 3, result.stderr
    index = Table.read(out / "cutouts.csv")
    status = {(r["name"], r["survey"]): r["status"] for r in index}
    assert status[("SOUTH", "FIRST")] == "error" and status[("SOUTH", "WISE-W1")] == "error"
    assert all(status[(name, s)] == "ok" for name in "ABC" for s in ("FIRST", "WISE-W1"))
    assert "error: SOUTH (FIRST): FIRST: server error (HTTP 500)" in result.stderr
    header = fits.getheader(out / "A" / "WISE-W1.fits")
    x, y = WCS(header).world_to_pixel(SkyCoord(150.1 * u.deg, 2.2 * u.deg))
    assert abs(x - (header["NAXIS1"] - 1) / 2) < 1e-6
    assert header["HIPPOSRV"] == "WISE-W1" and header["ORIGFILE"] == "skyview:WISE 3.4"


@pytest.mark.remote_data
def test_real_skyview_first_cutout(tmp_path, monkeypatch):
    monkeypatch.delenv("HIPPO_SKYVIEW_URL", raising=False)
    table = hippo.cutout(ra=228.11333, dec=45.67389, survey=["FIRST"], size="2arcmin", output=tmp_path, quiet=True)
    assert list(table["status"]) == ["ok"]
    header = fits.getheader(table["path"][0])
    x, y = WCS(header).world_to_pixel(POSITION)
    assert abs(x - 33) < 0.5 and abs(y - 33) < 0.5


@pytest.mark.remote_data
def test_real_hips2fits_cutout(monkeypatch):
    monkeypatch.delenv("HIPPO_HIPS2FITS_URL", raising=False)
    cut = get_survey("DSS2-HiPS").cutout(POSITION, "1arcmin")
    assert cut.status == "ok" and cut.data.shape == (61, 61)
    assert_centred_exactly(cut, POSITION)
