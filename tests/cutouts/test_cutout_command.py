"""``hippo cutout`` and ``hippo.cutout`` on real survey files: index, statuses, re-runs, store, errors."""

import shutil

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import hippo
from hippo.errors import InputError, UsageError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPPO_CACHE_DIR", str(tmp_path / "cache"))


def lotss(shared_data):
    return shared_data / "lotss_dr1" / "P205+55-mosaic.fits"


def test_cli_single_position_writes_a_centred_cutout_with_provenance(shared_data, hippo_cli, tmp_path):
    out = tmp_path / "out"
    result = hippo_cli("cutout", "--ra", "13:40:12.0", "--dec", "+54:54:00", "--survey", lotss(shared_data),
                       "--size", "1arcmin", "-o", out)
    assert result.returncode == 0, result.stderr
    index = Table.read(out / "cutouts.csv")
    assert list(index.colnames[:6]) == ["name", "survey", "ra", "dec", "path", "status"]
    assert list(index["name"]) == ["J134012.00+545400.0"] and list(index["status"]) == ["ok"]
    path = out / "J134012.00+545400.0" / "P205+55-mosaic.fits"
    with fits.open(path) as hdul:
        header, data = hdul[0].header, hdul[0].data
        assert data.shape == (41, 41)  # 60" / 1.5" -> 41 pixels
        assert header["HIPPOVER"] == hippo.__version__ and header["CUTSTAT"] == "ok"
        assert header["BUNIT"].strip().upper() == "JY/BEAM" and "BMAJ" in header
        position = SkyCoord("13:40:12.0 +54:54:00", unit=("hourangle", "deg"))
        x, y = WCS(header).world_to_pixel(position)
        assert abs(x - 20) <= 0.5 and abs(y - 20) <= 0.5
    # pixel values are the survey's own, bit for bit (float64 stays float64)
    with fits.open(lotss(shared_data)) as hdul:
        mosaic = hdul[0].data
        mx, my = WCS(hdul[0].header).world_to_pixel(position)
        cx, cy = int(np.floor(mx + 0.5)), int(np.floor(my + 0.5))
        np.testing.assert_array_equal(data, mosaic[cy - 20:cy + 21, cx - 20:cx + 21])


def test_catalogue_batch_reports_a_bad_row_and_goes_on(shared_data, hippo_cli, tmp_path):
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("name,ra,dec\nA,205.05,54.90\nB,abc,54.9\nC,205.10,54.95\nFAR,10.0,-30.0\n")
    out = tmp_path / "out"
    result = hippo_cli("cutout", "--catalogue", catalogue, "--survey", lotss(shared_data), "--size", "30arcsec",
                       "-o", out, "--quiet")
    assert result.returncode == 3
    assert "error: B" in result.stderr and "row 2" in result.stderr and "Traceback" not in result.stderr
    index = Table.read(out / "cutouts.csv")
    status = dict(zip(index["name"], index["status"]))
    assert status == {"A": "ok", "C": "ok", "FAR": "no_coverage", "B": "error"}
    assert not (out / "FAR").exists()
    edge = hippo.cutout(ra=205.05, dec=54.98, name="EDGE", survey=[lotss(shared_data)], size="1arcmin",
                        output=out, quiet=True)
    assert list(edge["status"]) == ["partial"] and "pixels without data" in edge["message"][0]


def test_rerun_skips_finished_cutouts_and_overwrite_redoes_them(shared_data, tmp_path):
    out = tmp_path / "out"
    first = hippo.cutout(ra=[205.05, 205.1], dec=[54.9, 54.95], name=["A", "B"], survey=[lotss(shared_data)],
                         size="30arcsec", output=out, quiet=True)
    path = out / "A" / "P205+55-mosaic.fits"
    stamp = path.stat().st_mtime_ns
    again = hippo.cutout(ra=[205.05, 205.1], dec=[54.9, 54.95], name=["A", "B"], survey=[lotss(shared_data)],
                         size="30arcsec", output=out, quiet=True)
    assert path.stat().st_mtime_ns == stamp
    assert list(again["status"]) == list(first["status"]) == ["ok", "ok"]
    assert list(again["message"]) == ["kept from an earlier run"] * 2
    # a different size is not "finished": it is cut again
    hippo.cutout(ra=205.05, dec=54.9, name="A", survey=[lotss(shared_data)], size="45arcsec", output=out, quiet=True)
    assert fits.getheader(path)["NAXIS1"] == 31
    # and the index still lists B from the earlier run
    index = Table.read(out / "cutouts.csv")
    assert sorted(index["name"]) == ["A", "B"]
    kept = index[index["name"] == "B"][0]
    assert kept["ra"] == 205.1 and kept["dec"] == 54.95 and kept["status"] == "ok"


def test_store_records_sources_cutouts_and_the_run(shared_data, tmp_path):
    from hippo.store import Store

    db = tmp_path / "hippo.db"
    hippo.cutout(ra=[205.05, 10.0], dec=[54.9, -30.0], name=["A", "FAR"], survey=[lotss(shared_data)],
                 size="30arcsec", output=tmp_path / "out", store=db, quiet=True)
    with Store.open(db) as store:
        cutouts = store.table("cutouts")
        assert sorted(zip(cutouts["source"], cutouts["status"])) == [("A", "ok"), ("FAR", "no_coverage")]
        assert np.allclose(sorted(cutouts["size_arcsec"]), [30.0, 30.0])
        # a cutout with no file has no path (NULL), as the inspection page expects
        assert store.count("cutouts") == 2
        assert store.query("SELECT COUNT(*) AS n FROM cutouts WHERE path IS NOT NULL")["n"][0] == 1
        runs = store.table("runs")
        assert list(runs["command"]) == ["cutout"] and list(runs["exit_status"]) == [0]
        assert store.cone(205.05, 54.9, 1 / 3600)["source"][0] == "A"


def test_store_paths_are_absolute_and_names_that_share_a_folder_keep_their_own(shared_data, tmp_path,
                                                                                 monkeypatch):
    """A relative -o stored relative paths, which hippo inspect (run elsewhere) could not find; and
    sources a, a, a_2 were cut into folders a, a_2, a_2: the third overwrote the second."""
    from hippo.store import Store

    monkeypatch.chdir(tmp_path)
    index = hippo.cutout(ra=[205.05, 205.06, 205.07], dec=[54.9, 54.9, 54.9], name=["a", "a", "a_2"],
                         survey=[lotss(shared_data)], size="30arcsec", output="out", store="hippo.db", quiet=True)
    assert [row["path"].split("/")[1] for row in index] == ["a", "a_3", "a_2"]
    with Store.open(tmp_path / "hippo.db") as store:
        paths = sorted(store.table("cutouts")["path"])
    assert paths == sorted(str(tmp_path / "out" / folder / "P205+55-mosaic.fits") for folder in ("a", "a_3", "a_2"))


def test_resampled_surveys_share_one_grid(shared_data, tmp_path):
    pair = shared_data / "first_nvss_pairs"
    index = Table.read(pair / "index.csv")
    row = index[0]
    first = pair / ("FIRST_" + row["name"] + ".fz")
    nvss = pair / ("NVSS_" + row["name"] + ".fz")
    table = hippo.cutout(ra=row["ra"], dec=row["dec"], survey=[first, nvss], size="2arcmin",
                         reproject_to=str(first), output=tmp_path / "out", quiet=True)
    assert list(table["status"]) == ["ok", "ok"]
    headers = [fits.getheader(p) for p in table["path"]]
    wcs_a, wcs_b = WCS(headers[0]), WCS(headers[1])
    assert headers[0]["NAXIS1"] == headers[1]["NAXIS1"] == 67  # FIRST's 1.8" grid for both
    assert headers[1]["HIPPOPXS"] == pytest.approx(1.8) and headers[1]["HIPPORES"] == "interp"
    corner_a, corner_b = wcs_a.pixel_to_world(0, 0), wcs_b.pixel_to_world(0, 0)
    assert corner_a.separation(corner_b).arcsec < 1e-6
    x, y = wcs_a.world_to_pixel(SkyCoord(row["ra"], row["dec"], unit="deg"))
    assert abs(x - 33) < 1e-6 and abs(y - 33) < 1e-6


def test_bad_usage_is_one_line_and_exit_2(hippo_cli, tmp_path):
    result = hippo_cli("cutout", "--ra", "10", "--dec", "10", "--survey", "NOT_A_SURVEY", "-o", tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error:") and "hippo surveys" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = hippo_cli("cutout", "--ra", "10", "--dec", "95", "--survey", "FIRST", "-o", tmp_path)
    assert result.returncode == 2 and "Dec" in result.stderr
    with pytest.raises(UsageError):
        hippo.cutout(ra=10, dec=10, survey=[], output=tmp_path)
    with pytest.raises(InputError):
        hippo.cutout(ra=10, dec=10, survey=[tmp_path / "missing.fits"], output=tmp_path)


def test_an_unknown_reproject_to_survey_names_that_option(shared_data, hippo_cli, tmp_path):
    result = hippo_cli("cutout", "--ra", "205.05", "--dec", "54.9", "--survey", lotss(shared_data),
                       "--reproject-to", "NOSUCH", "-o", tmp_path / "out")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: --reproject-to 'NOSUCH'") and "--survey" not in result.stderr


def test_surveys_lists_remote_and_local(shared_data, hippo_cli):
    result = hippo_cli("surveys", lotss(shared_data))
    assert result.returncode == 0
    assert "FIRST" in result.stdout and "NVSS" in result.stdout and "WISE-W1" in result.stdout
    assert "P205+55-mosaic" in result.stdout and "1.500" in result.stdout
    table = hippo.surveys()
    first = table[table["name"] == "FIRST"][0]
    assert first["pixel_scale_arcsec"] == 1.8 and first["radio"]


def test_overlay_puts_radio_contours_on_the_first_non_radio_survey(shared_data, tmp_path, monkeypatch):
    pytest.importorskip("hippo.overlays")
    import hippo.overlays

    calls = []
    real_overlay = hippo.overlays.overlay

    def recording_overlay(image, contours=(), output=None, **kwargs):
        calls.append((image, list(contours)))
        return real_overlay(image, contours=contours, output=output, **kwargs)

    monkeypatch.setattr(hippo.overlays, "overlay", recording_overlay)
    wise_dir = shared_data / "first_wise"
    wise = next(wise_dir.glob("*w1-int*.fits"))
    first = wise_dir / "FIRSTJ151227.2+454026_8.fits"
    table = hippo.cutout(ra=228.11333, dec=45.67389, name="J1512", survey=[first, wise], size="3arcmin",
                         overlay=True, output=tmp_path, quiet=True)
    assert list(table["status"]) == ["ok", "ok"]
    image, contours = calls[0]
    assert str(image).endswith("J1512/" + wise.name.split(".fits")[0] + ".fits")  # WISE (DN) is the image
    assert [str(c).endswith("FIRSTJ151227.2+454026_8.fits") for c in contours] == [True]
    png = tmp_path / "J1512" / "overlay.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_overlay_with_a_store_records_the_overlay_row(shared_data, hippo_cli, tmp_path):
    pytest.importorskip("hippo.overlays")
    from hippo.store import Store

    wise_dir = shared_data / "first_wise"
    wise = next(wise_dir.glob("*w1-int*.fits"))
    first = wise_dir / "FIRSTJ151227.2+454026_3.fits"
    db, out = tmp_path / "hippo.db", tmp_path / "out"
    result = hippo_cli("cutout", "--ra", "228.11333", "--dec", "45.67389", "--name", "J1512", "--survey", first,
                       "--survey", wise, "--size", "1.5arcmin", "--overlay", "--store", db, "-o", out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert (out / "J1512" / "overlay.png").is_file()
    with Store.open(db) as store:
        overlays = store.table("overlays")
        runs = store.table("runs")
    assert len(overlays) == 1 and overlays["source"][0] == "J1512"
    assert overlays["path"][0] == str(out / "J1512" / "overlay.png")
    assert "w1-int" in overlays["image"][0] and overlays["contours"][0].endswith("FIRSTJ151227.2+454026_3.fits")
    assert overlays["run_id"][0] == runs["id"][0]


def first_as_four_axis_image(first, path):
    """The FIRST cutout with NAXIS=4 (RA, Dec, FREQ, STOKES), as AIPS writes FIRST images."""
    with fits.open(first) as hdul:
        header, data = hdul[0].header.copy(), hdul[0].data
    header["NAXIS"] = 4
    fits.PrimaryHDU(data[np.newaxis, np.newaxis], header=header).writeto(path)
    assert fits.getheader(path)["NAXIS"] == 4 and fits.getheader(path)["NAXIS3"] == 1
    return path


@pytest.mark.parametrize("axes", ["2 data axes", "4 data axes"])
@pytest.mark.parametrize("pixel_scale", [None, 2.0])
def test_first_cutout_keeps_frequency_one_date_obs_and_the_copyright_history(shared_data, tmp_path, axes,
                                                                              pixel_scale):
    first = shared_data / "first_wise" / "FIRSTJ151227.2+454026_3.fits"
    if axes == "4 data axes":
        first = first_as_four_axis_image(first, tmp_path / "first4.fits")
    table = hippo.cutout(ra=228.11333, dec=45.67389, name="J1512", survey=[first], size="1arcmin",
                         pixel_scale=pixel_scale, output=tmp_path / "out", quiet=True)
    assert list(table["status"]) == ["ok"]
    with fits.open(table["path"][0]) as hdul:
        hdul.verify("exception")
        header = hdul[0].header
    keywords = [card.keyword for card in header.cards]
    assert header["NAXIS"] == 2 and WCS(header).naxis == 2
    assert keywords.count("DATE-OBS") == 1 and header["DATE-OBS"] == "19970318"
    assert header["FREQ"] == pytest.approx(1.4351e9)  # the FIRST band centre, from CRVAL3 of the FREQ axis
    history = "\n".join(header["HISTORY"])
    assert "The FIRST VLA Survey: Copyright 1997 University of California" in history
    assert "Permission is granted for publication and reproduction" in history
    assert "hippo cutout" in history  # HIPPO's own provenance as well
    assert "Astronomy" in "\n".join(header["COMMENT"])


def test_real_lotss_batch_from_the_pybdsf_source_list(shared_data, tmp_path):
    catalogue = Table.read(shared_data / "lotss_dr1" / "catalog_shimwell_reduced.srl.fits")
    near = SkyCoord(catalogue["RA"], catalogue["DEC"], unit="deg").separation(
        SkyCoord(205.054, 54.898, unit="deg")).deg < 0.06
    subset = catalogue[near]
    assert len(subset) == 9  # the sources inside the 10' mosaic cutout
    subset.write(tmp_path / "sources.fits")
    index = hippo.cutout(catalogue=tmp_path / "sources.fits", survey=[shared_data / "lotss_dr1"], size="30arcsec",
                         output=tmp_path / "out", quiet=True)
    assert len(index) == len(subset) and index.meta["failed"] == 0
    assert set(index["status"]) <= {"ok", "partial"} and list(index["name"]) == list(subset["Source_Name"])
    for row in index:
        header = fits.getheader(row["path"])
        x, y = WCS(header).world_to_pixel(SkyCoord(row["ra"], row["dec"], unit="deg"))
        assert abs(x - 10) <= 0.5 and abs(y - 10) <= 0.5 and header["NAXIS1"] == 21


def test_rerun_cuts_again_when_the_position_resampling_or_survey_file_changed(shared_data, hippo_cli, tmp_path):
    out = tmp_path / "out"
    name = "J134013.20+545352.8"
    path = out / name / "P205+55-mosaic.fits"
    hippo_cli("cutout", "--ra", "205.055", "--dec", "54.898", "--survey", lotss(shared_data), "--size", "20arcsec",
              "-o", out, "--quiet")
    # the same name at a position 5 pixels away: the old file must not be passed off as the new one
    moved = hippo.cutout(ra=205.05, dec=54.9, name=name, survey=[lotss(shared_data)], size="20arcsec", output=out,
                         quiet=True)
    assert moved["message"][0] != "kept from an earlier run"
    header = fits.getheader(path)
    assert (header["HIPPORA"], header["HIPPODEC"]) == (205.05, 54.9)
    x, y = WCS(header).world_to_pixel(SkyCoord(205.05, 54.9, unit="deg"))
    assert abs(x - 7) <= 0.5 and abs(y - 7) <= 0.5  # 15 x 15 pixels, centred on the new position

    def resampled(survey, resampling):
        return hippo.cutout(ra=205.05, dec=54.9, name="R", survey=[survey], size="20arcsec", pixel_scale=1.5,
                            resampling=resampling, output=out, quiet=True)

    resampled(lotss(shared_data), "interp")
    assert resampled(lotss(shared_data), "exact")["message"][0] != "kept from an earlier run"
    assert fits.getheader(out / "R" / "P205+55-mosaic.fits")["HIPPORES"] == "exact"
    assert resampled(lotss(shared_data), "exact")["message"][0] == "kept from an earlier run"
    # another survey file with the same name (so the same output file): its pixels, not the old ones
    other = tmp_path / "other" / "P205+55-mosaic.fits"
    other.parent.mkdir()
    with fits.open(lotss(shared_data)) as hdul:
        hdul[0].data = hdul[0].data * 2.0
        hdul.writeto(other)
    before = fits.getdata(out / "R" / "P205+55-mosaic.fits")
    assert resampled(other, "exact")["message"][0] != "kept from an earlier run"
    after = fits.getdata(out / "R" / "P205+55-mosaic.fits")
    np.testing.assert_allclose(after, 2.0 * before, rtol=1e-6)
    assert str(other.resolve()) in fits.getheader(out / "R" / "P205+55-mosaic.fits")["HIPPOSRC"]


@pytest.mark.parametrize("size, pixel_scale, message", [
    ("10deg", None, "--size 10deg on P205+55-mosaic: the cutout would be 24000 x 24000 pixels"),
    ("2arcmin", "1e-4", "--size 2arcmin with --pixel-scale 1e-4: the cutout would be 1200000 x 1200000 pixels")])
def test_an_oversized_cutout_is_refused_before_anything_is_written(shared_data, hippo_cli, tmp_path, size,
                                                                   pixel_scale, message):
    out = tmp_path / "out"
    scale = ["--pixel-scale", pixel_scale] if pixel_scale else []
    result = hippo_cli("cutout", "--ra", "205.05", "--dec", "54.9", "--survey", lotss(shared_data), "--size", size,
                       *scale, "-o", out)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: {message}") and lines[0].endswith("the limit is 16384 x 16384")
    assert not out.exists()


def test_every_cutout_failing_exits_2_and_some_failing_exits_3(shared_data, hippo_cli, tmp_path):
    blank = tmp_path / "blank.fits"
    with fits.open(lotss(shared_data)) as hdul:
        hdul[0].data = np.full_like(hdul[0].data, np.nan)
        hdul.writeto(blank)
    result = hippo_cli("cutout", "--ra", "205.05", "--dec", "54.9", "--survey", blank, "-o", tmp_path / "a")
    assert result.returncode == 2 and "every pixel is NaN" in result.stderr
    result = hippo_cli("cutout", "--ra", "205.05", "--dec", "54.9", "--survey", blank, "--survey", lotss(shared_data),
                       "-o", tmp_path / "b")
    assert result.returncode == 3


@pytest.mark.parametrize("output, reason", [("afile", "exists and is not a directory"),
                                            ("afile/sub", "cannot create the directory (Not a directory)")])
def test_an_unusable_output_path_is_one_line_and_exit_2(shared_data, hippo_cli, tmp_path, output, reason):
    (tmp_path / "afile").write_text("keep me")
    result = hippo_cli("cutout", "--ra", "205.05", "--dec", "54.9", "--survey", lotss(shared_data),
                       "-o", output, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [f"error: -o {output}: {reason}"]
    assert {p.name for p in tmp_path.iterdir()} <= {"afile", "cache"}  # nothing half-written
    assert (tmp_path / "afile").read_text() == "keep me"


def test_a_blank_catalogue_id_falls_back_to_the_iau_name(shared_data, tmp_path):
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("id,ra,dec\nA,205.05,54.9\n,205.06,54.91\n  ,205.04,54.89\n")
    index = hippo.cutout(catalogue=catalogue, survey=[lotss(shared_data)], size="20arcsec", output=tmp_path / "out",
                         quiet=True)
    assert list(index["name"]) == ["A", "J134014.40+545436.0", "J134009.60+545324.0"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == sorted(index["name"])


def test_a_rerun_that_finds_no_coverage_leaves_no_old_file_behind(shared_data, tmp_path):
    """The same survey file name, now another field: the index says no file, so there must be none
    (classify reads the folder)."""
    survey = tmp_path / "mosaic.fits"
    shutil.copyfile(shared_data / "lotss_dr1" / "P205+55-mosaic.fits", survey)
    first = hippo.cutout(ra=205.055, dec=54.898, name="S1", survey=[survey], size="20arcsec", output=tmp_path / "out",
                         quiet=True)
    assert first["status"][0] == "ok" and (tmp_path / "out" / "S1" / "mosaic.fits").exists()
    shutil.copyfile(shared_data / "lotss_dr1" / "P218+55-mosaic.fits", survey)
    again = hippo.cutout(ra=205.055, dec=54.898, name="S1", survey=[survey], size="20arcsec", output=tmp_path / "out",
                         quiet=True)
    assert again["status"][0] == "no_coverage" and not (tmp_path / "out" / "S1" / "mosaic.fits").exists()


def test_a_name_unfit_for_a_folder_keeps_its_own_name_in_object(shared_data, tmp_path):
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("name,ra,dec\n3C 123/a,205.05,54.90\nTWIN,205.10,54.95\nTWIN,205.12,54.93\n")
    table = hippo.cutout(catalogue=catalogue, survey=lotss(shared_data), size="30arcsec", output=tmp_path / "out",
                         quiet=True)
    assert list(table["name"]) == ["3C_123_a", "TWIN", "TWIN_2"]  # folder names, as the index keys them
    objects = [fits.getheader(tmp_path / "out" / name / "P205+55-mosaic.fits")["OBJECT"] for name in table["name"]]
    assert objects == ["3C 123/a", "TWIN", "TWIN_2"]  # a duplicate keeps the name that tells it apart
    classified = hippo.classify([tmp_path / "out" / "3C_123_a"], quiet=True)
    assert list(classified["source"]) == ["3C 123/a"]


def test_long_paths_are_kept_whole_in_the_cutout_header(shared_data, tmp_path):
    """ORIGFILE kept the last 68 characters of a long path and HISTORY cards were cut at 80, so a
    cutout could not say which file its pixels came from."""
    deep = tmp_path / ("a_folder_name_long_enough_to_push_the_path_past_one_card" * 2)
    deep.mkdir()
    survey = deep / "P205+55-mosaic.fits"
    survey.symlink_to(lotss(shared_data))
    index = hippo.cutout(ra=205.05, dec=54.9, name="A", survey=[survey], size="30arcsec", output=tmp_path / "out",
                         quiet=True)
    header = fits.getheader(index["path"][0])
    assert header["ORIGFILE"] == str(survey)

    from hippo.cutouts.cut import render_card

    history = fits.Header.fromstring(render_card("HISTORY", f"hippo cutout reproject_to={survey}"))
    assert "".join(history["HISTORY"]) == f"hippo cutout reproject_to={survey}"


def small_survey(path, ra=150.0, dec=2.0, npix=120, data=None, **cards):
    """A 120 x 120 TAN image at 2"/px around (ra, dec): noise, or ``data``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(npix + 1) / 2, (npix + 1) / 2]
    wcs.wcs.cdelt = [-2.0 / 3600, 2.0 / 3600]
    header = wcs.to_header()
    header.update(cards)
    if data is None:
        data = np.random.default_rng(3).normal(size=(npix, npix))
    fits.PrimaryHDU(np.asarray(data, np.float32), header).writeto(path)
    return path


def test_a_failed_recut_moves_the_earlier_cutout_aside_and_its_row_says_so(hippo_cli, tmp_path):
    """A failed re-cut neither loses the earlier cutout (perhaps of other settings) nor leaves it
    under the product's name, where classify would take it for this run's."""
    from hippo.io.fitsfiles import find_fits_files, is_fits_name

    survey = small_survey(tmp_path / "survey.fits")
    whole = survey.read_bytes()
    out = tmp_path / "out"
    position = ["--ra", "150.0", "--dec", "2.0", "--name", "S"]
    assert hippo_cli("cutout", *position, "--size", "30arcsec", "--survey", survey, "-o", out).returncode == 0
    cutout = out / "S" / "survey.fits"
    previous = out / "S" / "survey.fits.previous"
    before = cutout.read_bytes()
    survey.write_bytes(whole[:2880 * 3])  # the survey file, replaced by a truncated copy
    result = hippo_cli("cutout", *position, "--size", "1arcmin", "--survey", survey, "-o", out)  # other settings
    assert result.returncode == 2
    assert f"error: S (survey): {survey}: image data cannot be read" in result.stderr
    assert result.stderr.splitlines()[0].endswith(f"; the earlier cutout was moved to {previous}")
    assert not cutout.exists() and previous.read_bytes() == before
    (row,) = Table.read(out / "cutouts.csv")
    assert row["status"] == "error" and (np.ma.is_masked(row["path"]) or row["path"] == "")
    assert row["message"].endswith(f"; the earlier cutout was moved to {previous}")
    assert not is_fits_name(previous) and find_fits_files(out)[0] == []  # classify and batch skip it
    for overwrite in ([], ["--overwrite"]):  # nothing there now: nothing to move, .previous untouched
        result = hippo_cli("cutout", *position, "--size", "1arcmin", "--survey", survey, "-o", out, *overwrite)
        assert result.returncode == 2 and "earlier cutout" not in result.stderr
        assert not cutout.exists() and previous.read_bytes() == before
    survey.write_bytes(whole)
    assert hippo_cli("cutout", *position, "--size", "1arcmin", "--survey", survey, "-o", out).returncode == 0
    assert previous.read_bytes() == before  # a good cut leaves .previous to the user
    second = cutout.read_bytes()
    assert fits.getheader(cutout)["HIPPOSIZ"] == 60.0
    survey.write_bytes(whole[:2880 * 3])
    assert hippo_cli("cutout", *position, "--size", "30arcsec", "--survey", survey, "-o", out).returncode == 2
    assert not cutout.exists() and previous.read_bytes() == second  # the older .previous is replaced


def test_a_full_disk_names_the_cutout_and_leaves_no_empty_folder(tmp_path, monkeypatch):
    import errno

    from hippo.cutouts import cut

    survey = small_survey(tmp_path / "survey.fits")

    class FullDisk:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cut, "open", FullDisk, raising=False)
    out = tmp_path / "out"
    table = hippo.cutout(ra=[150.0, 150.01], dec=[2.0, 2.0], name=["A", "B"], survey=[survey], size="30arcsec",
                         output=out, quiet=True)
    assert list(table["status"]) == ["error", "error"]
    assert list(table["message"]) == [f"{out / name / 'survey.fits'}: no space left on device" for name in "AB"]
    assert [p.name for p in out.iterdir()] == ["cutouts.csv"]  # no empty A/ or B/, no temporary file


def test_an_overlay_that_cannot_be_drawn_exits_3_and_is_in_the_index(hippo_cli, tmp_path):
    pytest.importorskip("hippo.overlays")
    optical = small_survey(tmp_path / "optical.fits")
    blank = np.zeros((120, 120))
    blank[:, :20] = np.nan  # blank, and NaN-padded at the edge
    radio = small_survey(tmp_path / "radio.fits", data=blank, BUNIT="JY/BEAM")
    out = tmp_path / "out"
    result = hippo_cli("cutout", "--ra", "150.0", "--dec", "2.0", "--name", "S", "--survey", optical, "--survey",
                       radio, "--size", "1arcmin", "--overlay", "-o", out, "--quiet")
    assert result.returncode == 3
    reason = f"overlay not written: {out / 'S' / 'radio.fits'}: cannot draw contours: the noise estimate is 0.0"
    assert result.stderr.startswith(f"error: S: {reason}") and result.stderr.count("\n") == 1  # no numpy warnings
    index = Table.read(out / "cutouts.csv")
    assert list(index["status"]) == ["ok", "ok"] and all(reason in message for message in index["message"])
    assert not (out / "S" / "overlay.png").exists()


def test_a_bad_catalogue_row_is_one_line_whatever_the_number_of_surveys(hippo_cli, tmp_path):
    surveys = [small_survey(tmp_path / "one.fits"), small_survey(tmp_path / "two.fits")]
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("name,ra,dec\nA,150.0,2.0\nB,abc,2.0\n")
    result = hippo_cli("cutout", "--catalogue", catalogue, "--survey", surveys[0], "--survey", surveys[1],
                       "--size", "30arcsec", "-o", tmp_path / "out", "--quiet")
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: B: row 2: ")
    index = Table.read(tmp_path / "out" / "cutouts.csv")
    assert sorted(index[index["name"] == "B"]["survey"]) == ["one", "two"]  # a row for each survey


def test_surveys_exits_3_when_some_paths_cannot_be_used_and_2_when_none_can(hippo_cli, tmp_path):
    good = small_survey(tmp_path / "good.fits")
    broken = tmp_path / "broken.fits"
    broken.write_bytes(good.read_bytes()[:1000])
    result = hippo_cli("surveys", good, broken)
    assert result.returncode == 3 and f"unusable: {broken}: " in result.stdout
    assert hippo_cli("surveys", broken, tmp_path / "missing.fits").returncode == 2
    result = hippo_cli("surveys", good, broken, "-o", tmp_path / "surveys.csv")
    assert result.returncode == 3 and result.stderr.startswith(f"error: {broken}: ")
    assert result.stderr.count("\n") == 1
    assert hippo_cli("surveys", good).returncode == 0
