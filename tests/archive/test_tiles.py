"""Directories of FITS tiles: footprint index (built once, cached), tile choice, mosaics across tiles."""

import os
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from hippo.archive import TileDirectorySurvey, get_survey
from hippo.archive import local as local_module
from hippo.errors import UsageError
from hippo.io import read_image


def sky_wcs(crval, shape, scale_arcsec=1.8):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return wcs


def split_into_tiles(directory, crval=(150.0, 2.0), side=600, tile=330, dtype=np.float32):
    """A 600x600 sky split into four 330x330 tiles on the same pixel grid, overlapping by 60 pixels
    (``tile=300``: abutting, no pixel in two tiles)."""
    wcs = sky_wcs(crval, (side, side))
    data = np.random.default_rng(7).normal(size=(side, side)).astype(dtype)
    directory.mkdir(parents=True, exist_ok=True)
    for i, y0 in enumerate((0, side - tile)):
        for j, x0 in enumerate((0, side - tile)):
            header = wcs.to_header()
            header["CRPIX1"] -= x0
            header["CRPIX2"] -= y0
            header["BUNIT"] = "JY/BEAM"
            suffix = ".fits.gz" if (i, j) == (1, 1) else ".fits"
            fits.PrimaryHDU(data[y0:y0 + tile, x0:x0 + tile], header).writeto(directory / f"tile_{i}{j}{suffix}")
    return wcs, data


def test_cutout_inside_one_tile_is_that_tiles_pixels(tmp_path):
    wcs, data = split_into_tiles(tmp_path / "tiles")
    survey = get_survey(tmp_path / "tiles")
    assert isinstance(survey, TileDirectorySurvey) and len(survey.index.entries) == 4
    coord = wcs.pixel_to_world(100.2, 480.7)
    cut = survey.cutout(coord, "1arcmin")  # 60/1.8 -> 35 px
    assert cut.status == "ok" and cut.data.shape == (35, 35)
    np.testing.assert_array_equal(cut.data, data[481 - 17:481 + 18, 100 - 17:100 + 18])


def test_cutout_spanning_tiles_is_mosaicked_on_the_survey_grid(tmp_path):
    wcs, data = split_into_tiles(tmp_path / "tiles")
    survey = get_survey(tmp_path / "tiles")
    # the tiles overlap in columns/rows 270..329: a 2' box (67 px) at 299.6 fits in none of them
    coord = wcs.pixel_to_world(299.6, 299.6)
    cut = survey.cutout(coord, "2arcmin")
    assert cut.status == "ok" and cut.data.shape == (67, 67)
    assert cut.header["NCOMBINE"] == 4
    x, y = cut.wcs.world_to_pixel(coord)
    assert abs(x - 33) <= 0.5 and abs(y - 33) <= 0.5
    np.testing.assert_allclose(cut.data, data[300 - 33:300 + 34, 300 - 33:300 + 34], atol=1e-5)


def test_a_mosaic_of_float64_tiles_on_their_own_grid_stays_float64(tmp_path):
    wcs, data = split_into_tiles(tmp_path / "tiles", dtype=np.float64)
    coord = wcs.pixel_to_world(299.6, 299.6)
    native = get_survey(tmp_path / "tiles").cutout(coord, "2arcmin")
    assert native.header["NCOMBINE"] == 4 and native.data.dtype == np.float64
    np.testing.assert_allclose(native.data, data[300 - 33:300 + 34, 300 - 33:300 + 34], atol=1e-9)  # float32 is 1e-7
    resampled = get_survey(tmp_path / "tiles").cutout(coord, "2arcmin", pixel_scale=1.0)
    assert resampled.data.dtype == np.float32  # as a resampled cutout of one file


def test_edge_of_the_tiled_survey_is_partial(tmp_path):
    wcs, data = split_into_tiles(tmp_path / "tiles")
    survey = get_survey(tmp_path / "tiles")
    cut = survey.cutout(wcs.pixel_to_world(5.0, 300.0), "1arcmin")
    assert cut.status == "partial"
    assert np.isnan(cut.data[:, :12]).all() and np.isfinite(cut.data[:, 12:]).all()
    assert survey.cutout(SkyCoord(10 * u.deg, 10 * u.deg), "1arcmin").status == "no_coverage"


def test_index_is_built_once_and_refreshed_only_for_changed_tiles(tmp_path, monkeypatch):
    split_into_tiles(tmp_path / "tiles")
    assert len(get_survey(tmp_path / "tiles").index.entries) == 4
    calls = []
    real_entry = local_module._index_entry

    def counting_entry(path, relative, stat):
        calls.append(relative)
        return real_entry(path, relative, stat)

    monkeypatch.setattr(local_module, "_index_entry", counting_entry)
    assert len(get_survey(tmp_path / "tiles").index.entries) == 4
    assert calls == []  # answered from the cached index, no tile opened
    shutil.copy(tmp_path / "tiles" / "tile_00.fits", tmp_path / "tiles" / "extra.fits")
    os.utime(tmp_path / "tiles" / "tile_01.fits", ns=(1, 1))
    assert len(get_survey(tmp_path / "tiles").index.entries) == 5
    assert sorted(calls) == ["extra.fits", "tile_01.fits"]


def test_finding_the_tile_does_not_open_other_tiles(tmp_path, monkeypatch):
    wcs, _ = split_into_tiles(tmp_path / "tiles")
    survey = get_survey(tmp_path / "tiles")
    survey.index  # built
    opened = []
    real_read = local_module.read_image
    monkeypatch.setattr(local_module, "read_image", lambda path: opened.append(path.name) or real_read(path))
    survey.cutout(wcs.pixel_to_world(100.0, 100.0), "30arcsec")
    assert opened == ["tile_00.fits"]


def test_tiles_either_side_of_ra_zero(tmp_path):
    directory = tmp_path / "wrap"
    directory.mkdir()
    for name, ra in (("east", 0.03), ("west", 359.97)):  # 0.075 deg wide: they overlap at RA 0
        header = sky_wcs((ra, 0.0), (150, 150)).to_header()
        fits.PrimaryHDU(np.full((150, 150), 1.0 if name == "east" else 2.0, np.float32), header).writeto(
            directory / f"{name}.fits")
    survey = get_survey(directory)
    assert survey.cutout(SkyCoord(359.96 * u.deg, 0 * u.deg), "20arcsec").data[5, 5] == 2.0
    assert survey.cutout(SkyCoord(0.04 * u.deg, 0 * u.deg), "20arcsec").data[5, 5] == 1.0
    straddling = survey.cutout(SkyCoord(0.0 * u.deg, 0 * u.deg), "1arcmin")
    assert straddling.status == "ok" and straddling.header["NCOMBINE"] == 2
    # (to 1e-5: next to a tile's edge ring, where the other tile takes over, a trace of the edge's
    # interpolated weight remains)
    assert set(np.unique(np.round(straddling.data, 4))) <= {1.0, 1.5, 2.0}


def test_real_first_tiles_found_by_position(shared_data, tmp_path):
    # 30 real FIRST images (compressed, SkyView headers) as one tiled survey
    index = Table.read(shared_data / "first_mirabest" / "index.csv")[:30]
    directory = tmp_path / "first"
    directory.mkdir()
    for row in index:
        (directory / row["file"]).symlink_to(shared_data / "first_mirabest" / row["file"])
    survey = get_survey(directory)
    assert len(survey.index.entries) == 30 and survey.is_radio
    for row in index[:10]:
        coord = SkyCoord(row["host_ra"] * u.deg, row["host_dec"] * u.deg)
        cut = survey.cutout(coord, "2arcmin")
        assert cut.status == "ok" and cut.data.shape == (67, 67)
        x, y = cut.wcs.world_to_pixel(coord)
        assert abs(x - 33) <= 0.5 and abs(y - 33) <= 0.5
        image = read_image(shared_data / "first_mirabest" / row["file"])
        tx, ty = image.wcs.world_to_pixel(coord)
        cx, cy = int(np.floor(tx + 0.5)), int(np.floor(ty + 0.5))
        np.testing.assert_array_equal(cut.data, image.data[cy - 33:cy + 34, cx - 33:cx + 34])


def test_a_truncated_tile_fails_its_rows_and_the_batch_goes_on(tmp_path):
    import hippo

    wcs, _ = split_into_tiles(tmp_path / "tiles")
    broken = tmp_path / "tiles" / "tile_00.fits"
    broken.write_bytes(broken.read_bytes()[:2880 * 3])  # header intact, data cut short
    inside_broken = wcs.pixel_to_world(60.0, 60.0)
    elsewhere = wcs.pixel_to_world([500.0, 60.0], [500.0, 500.0])
    table = hippo.cutout(ra=[inside_broken.ra.deg, *elsewhere.ra.deg], dec=[inside_broken.dec.deg,
                         *elsewhere.dec.deg], name=["BROKEN", "B", "C"], survey=[tmp_path / "tiles"],
                         size="30arcsec", output=tmp_path / "out", quiet=True)
    assert list(table["status"]) == ["error", "ok", "ok"]
    assert "truncated" in table["message"][0] and table.meta["failed"] == 1


def test_real_four_axis_first_images_as_a_tile_directory(shared_data, tmp_path):
    # FIRST's own 4-axis headers (SIN, FREQ and STOKES axes of length 1), three nested fields
    directory = tmp_path / "first4"
    directory.mkdir()
    for path in (shared_data / "first_wise").glob("FIRSTJ*.fits"):
        (directory / path.name).symlink_to(path)
    survey = get_survey(directory)
    assert len(survey.index.entries) == 3 and survey.is_radio
    coord = SkyCoord(228.11333 * u.deg, 45.67389 * u.deg)
    cut = survey.cutout(coord, "5arcmin")
    assert cut.status == "ok" and cut.data.shape == (167, 167)
    x, y = cut.wcs.world_to_pixel(coord)
    assert abs(x - 83) <= 0.5 and abs(y - 83) <= 0.5
    largest = read_image(shared_data / "first_wise" / "FIRSTJ151227.2+454026_11.fits")
    tx, ty = largest.wcs.world_to_pixel(coord)
    cx, cy = int(np.floor(tx + 0.5)), int(np.floor(ty + 0.5))
    np.testing.assert_array_equal(cut.data, largest.data[cy - 83:cy + 84, cx - 83:cx + 84])
    assert cut.header["BMAJ"] == pytest.approx(0.0015)


def tiles_with_a_truncated_one(tmp_path):
    """The tile directory of ``split_into_tiles`` with tile_00's data cut short (header intact)."""
    wcs, data = split_into_tiles(tmp_path / "tiles")
    broken = tmp_path / "tiles" / "tile_00.fits"
    broken.write_bytes(broken.read_bytes()[:2880 * 3])
    return wcs, data, broken


def test_cutouts_hand_back_a_bad_tiles_positions_as_errors_in_order(tmp_path):
    wcs, data, broken = tiles_with_a_truncated_one(tmp_path)
    survey = get_survey(tmp_path / "tiles")
    xs, ys = [500, 60, 500, 80, 60], [500, 60, 60, 70, 500]  # good, bad, good, bad, good tiles
    cuts = list(survey.cutouts(wcs.pixel_to_world(xs, ys), "30arcsec"))
    assert [cut.status for cut in cuts] == ["ok", "error", "ok", "error", "ok"]
    for cut in (cuts[1], cuts[3]):
        assert cut.message.startswith(f"{broken}: ") and "truncated" in cut.message
        assert cut.origin == str(broken) and cut.data.shape == (0, 0) and cut.wcs is None
    for cut, x, y in zip(cuts, xs, ys):  # the good ones are the right pixels, in input order
        if cut.status == "ok":
            np.testing.assert_array_equal(cut.data, data[y - 8:y + 9, x - 8:x + 9])
    with pytest.raises(UsageError, match="--size"):  # usage errors still raise
        list(survey.cutouts(wcs.pixel_to_world(xs, ys), "wide"))


def test_cutouts_of_an_unreadable_image_are_errors_naming_it(tmp_path):
    wcs, _, broken = tiles_with_a_truncated_one(tmp_path)
    coords = wcs.pixel_to_world([60, 80], [60, 70])
    for pixel_scale in (None, "2arcsec"):  # native pixels and resampled
        cuts = list(get_survey(broken).cutouts(coords, "30arcsec", pixel_scale))
        assert [cut.status for cut in cuts] == ["error", "error"]
        assert all(cut.message.startswith(f"{broken}: ") and "truncated" in cut.message for cut in cuts)


def test_cli_cutout_across_a_bad_tile_writes_the_good_ones_and_reports_the_bad_rows(tmp_path, hippo_cli):
    wcs, _, broken = tiles_with_a_truncated_one(tmp_path)
    coords = wcs.pixel_to_world([500, 60, 500, 80, 60], [500, 60, 60, 70, 500])
    names = ["A", "BAD1", "B", "BAD2", "C"]
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("name,ra,dec\n" + "".join(f"{name},{coord.ra.deg:.8f},{coord.dec.deg:.8f}\n"
                                                    for name, coord in zip(names, coords)))
    out = tmp_path / "out"
    result = hippo_cli("cutout", "--catalogue", catalogue, "--survey", tmp_path / "tiles", "--size", "30arcsec",
                       "-o", out)
    assert result.returncode == 3, result.stderr
    index = Table.read(out / "cutouts.csv")
    assert list(index["name"]) == names
    assert list(index["status"]) == ["ok", "error", "ok", "error", "ok"]
    assert all((out / name / "tiles.fits").exists() for name in ("A", "B", "C"))
    assert not (out / "BAD1").exists() and not (out / "BAD2").exists()
    for name in ("BAD1", "BAD2"):
        assert f"error: {name} (tiles): {broken}: image data cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


def split_wise_into_tiles(shared_data, tmp_path, tile=190):
    """The real WISE W1 image (350x350) as four tiles overlapping in the middle (``tile=175``: abutting):
    (its path, the image, the tile directory)."""
    wise_path = next((shared_data / "first_wise").glob("*w1-int*.fits"))
    wise = read_image(wise_path)
    directory = tmp_path / "wise_tiles"
    directory.mkdir()
    side = wise.data.shape[0]
    for y0 in (0, side - tile):
        for x0 in (0, side - tile):
            header = fits.getheader(wise_path)
            header["CRPIX1"] -= x0
            header["CRPIX2"] -= y0
            fits.PrimaryHDU(np.asarray(wise.data[y0:y0 + tile, x0:x0 + tile]), header).writeto(
                directory / f"w1_{y0}_{x0}.fits")
    return wise_path, wise, directory


def test_exact_mosaic_across_tiles_conserves_the_total_dn_of_a_real_image(shared_data, tmp_path):
    from reproject import reproject_exact

    wise_path, wise, directory = split_wise_into_tiles(shared_data, tmp_path)
    assert wise.header["BUNIT"].strip() == "DN"  # counts per 1.375" pixel
    survey = get_survey(directory)
    coord = wise.wcs.pixel_to_world(175.0, 175.0)  # where the four tiles meet: a mosaic of all four
    cut = survey.cutout(coord, "3arcmin", pixel_scale=2.0, resampling="exact")
    assert cut.status == "ok" and cut.header["NCOMBINE"] == 4
    # the original's DN over the same footprint: each original pixel weighted by the part the cutout covers
    _, covered = reproject_exact((np.ones(cut.data.shape), cut.wcs), wise.wcs, shape_out=wise.data.shape)
    original_dn = np.nansum(np.asarray(wise.data, float) * covered)
    assert np.sum(cut.data) == pytest.approx(original_dn, rel=0.01)
    single = get_survey(wise_path).cutout(coord, "3arcmin", pixel_scale=2.0, resampling="exact")
    assert np.sum(cut.data) == pytest.approx(np.sum(single.data), rel=0.01)


def restate_with_a_cd_matrix(path):
    """Write a WISE tile's CDELT scale as the equal CD matrix, as other software would: the same
    pixels, but not visibly the same grid, so its cutouts are mosaicked tile by tile."""
    with fits.open(path, mode="update") as hdus:
        header = hdus[0].header
        header["CD1_1"], header["CD2_2"] = header.pop("CDELT1"), header.pop("CDELT2")
        header["CD1_2"] = header["CD2_1"] = 0.0
        del header["CROTA2"]


@pytest.mark.parametrize("grid", ["shared", "restated"])
def test_interpolated_mosaic_of_overlapping_tiles_has_no_seams(shared_data, tmp_path, grid):
    # Four overlapping tiles of the real WISE image: bilinear interpolation across the tiles'
    # edges must give what interpolating the whole image gives (a tile's edge pixels have no
    # neighbour beyond them; the tile that holds the point inside must supply it), whether the
    # tiles are put back together on their shared grid or, stated differently, mosaicked.
    wise_path, wise, directory = split_wise_into_tiles(shared_data, tmp_path)
    if grid == "restated":
        for path in directory.glob("w1_*_0.fits"):
            restate_with_a_cd_matrix(path)
    coord = wise.wcs.pixel_to_world(175.0, 175.0)
    cut = get_survey(directory).cutout(coord, "3arcmin", pixel_scale=1.0)
    single = get_survey(wise_path).cutout(coord, "3arcmin", pixel_scale=1.0)
    assert cut.header["NCOMBINE"] == 4
    np.testing.assert_allclose(cut.data, single.data, rtol=1e-5)


RESAMPLING_MODES = {"native": {}, "interp": {"pixel_scale": 1.0},
                    "exact": {"pixel_scale": 2.0, "resampling": "exact"}}


def assert_same_as_whole_image_across_the_seam(cut, whole, whole_wcs, seam, mode):
    """``cut`` (across abutting tiles) equals ``whole`` (of the un-split image), first on the
    pixels within one image pixel of the tiles' boundaries, where a tile alone has no neighbour
    to interpolate with: between image pixels ``seam - 1`` and ``seam`` in x and in y."""
    rtol = 0 if mode == "native" else 1e-6  # native pixels are copied; resampled ones are float32
    assert cut.status == "ok" and cut.header["NCOMBINE"] == 4 and cut.data.shape == whole.data.shape
    ys, xs = np.indices(cut.data.shape)
    image_x, image_y = whole_wcs.world_to_pixel(cut.wcs.pixel_to_world(xs, ys))
    at_seam = (np.abs(image_x - (seam - 0.5)) < 1) | (np.abs(image_y - (seam - 0.5)) < 1)
    assert at_seam.sum() >= 2 * cut.data.shape[0]
    np.testing.assert_allclose(cut.data[at_seam], whole.data[at_seam], rtol=rtol)
    np.testing.assert_allclose(cut.data, whole.data, rtol=rtol)


@pytest.mark.parametrize("mode", RESAMPLING_MODES)
def test_abutting_tiles_cut_as_the_whole_image_across_their_edges(tmp_path, mode):
    # Four tiles that share no pixel: each alone stops at its last pixel centre, half a pixel
    # short of the next tile's first; put back on their common grid, nothing is lost between them.
    wcs, data = split_into_tiles(tmp_path / "tiles", tile=300)
    header = wcs.to_header()
    header["BUNIT"] = "JY/BEAM"
    fits.PrimaryHDU(data, header).writeto(tmp_path / "whole.fits")
    coord = wcs.pixel_to_world(299.6, 299.3)  # where the four tiles meet, between pixels 299 and 300
    cut = get_survey(tmp_path / "tiles").cutout(coord, "1arcmin", **RESAMPLING_MODES[mode])
    whole = get_survey(tmp_path / "whole.fits").cutout(coord, "1arcmin", **RESAMPLING_MODES[mode])
    assert_same_as_whole_image_across_the_seam(cut, whole, wcs, seam=300, mode=mode)


@pytest.mark.parametrize("mode", RESAMPLING_MODES)
def test_abutting_tiles_of_a_real_image_cut_as_the_whole_image(shared_data, tmp_path, mode):
    # The real WISE W1 image (SIN, CROTA2, DN: exact resampling rescales per-pixel units) in
    # four abutting 175x175 tiles
    wise_path, wise, directory = split_wise_into_tiles(shared_data, tmp_path, tile=175)
    coord = wise.wcs.pixel_to_world(174.8, 175.4)
    cut = get_survey(directory).cutout(coord, "90arcsec", **RESAMPLING_MODES[mode])
    whole = get_survey(wise_path).cutout(coord, "90arcsec", **RESAMPLING_MODES[mode])
    assert_same_as_whole_image_across_the_seam(cut, whole, wise.wcs, seam=175, mode=mode)


def test_native_cutout_beside_a_missing_tile_keeps_every_pixel_of_the_others(tmp_path):
    # Put back together, the tiles leave NaN where one is missing: a native cutout copies the
    # others' pixels as they are, none lost to its NaN neighbour
    wcs, data = split_into_tiles(tmp_path / "tiles", tile=300)
    (tmp_path / "tiles" / "tile_11.fits.gz").unlink()  # the quadrant x, y >= 300
    cut = get_survey(tmp_path / "tiles").cutout(wcs.pixel_to_world(299.6, 299.3), "1arcmin")
    assert cut.status == "partial" and cut.header["NCOMBINE"] == 3
    expected = data[299 - 17:299 + 18, 300 - 17:300 + 18].copy()
    expected[18:, 17:] = np.nan
    np.testing.assert_array_equal(cut.data, expected)


# -- tiles that cannot be used: listed with their reason, never silently "no coverage" ---------

def test_unusable_tiles_fail_the_positions_no_usable_tile_holds_and_are_listed(tmp_path):
    wcs, data = split_into_tiles(tmp_path / "tiles")
    tiles = tmp_path / "tiles"
    whole = (tiles / "tile_00.fits").read_bytes()
    (tiles / "empty.fits").write_bytes(b"")
    (tiles / "cut_header.fits").write_bytes(whole[:1000])
    (tiles / "garbage.fits").write_bytes(b"\x00\xff" * 1440)
    fits.BinTableHDU(Table({"ra": [1.0]})).writeto(tiles / "catalogue.fits")  # no image: not a tile at all
    survey = get_survey(tiles)
    assert len(survey.index.entries) == 4
    assert [bad["file"] for bad in survey.index.unusable] == ["cut_header.fits", "empty.fits", "garbage.fits"]
    assert all(bad["reason"] for bad in survey.index.unusable)
    inside, far = wcs.pixel_to_world(100, 480), SkyCoord([10] * u.deg, [10] * u.deg)
    good = survey.cutout(inside, "30arcsec")  # a usable tile holds it: it wins
    assert good.status == "ok"
    np.testing.assert_array_equal(good.data, data[480 - 8:480 + 9, 100 - 8:100 + 9])
    (bad,) = survey.cutouts(far, "30arcsec")  # an unusable tile may hold it: not "no_coverage"
    assert bad.status == "error" and bad.origin == str(tiles / "cut_header.fits")
    assert bad.message.startswith(f"{tiles / 'cut_header.fits'}: ")
    assert bad.message.endswith(f"this tile cannot be used and no usable tile holds the position (2 more unusable: "
                                f"see 'hippo surveys {tiles}')")
    coverage = survey.describe()["coverage"]
    assert coverage.startswith("4 tiles, ") and "; 3 unusable: " in coverage
    assert all(f"{tiles / name}: " in coverage for name in ("cut_header.fits", "empty.fits", "garbage.fits"))


def test_images_without_a_celestial_wcs_are_not_tiles_and_fail_no_position(tmp_path, hippo_cli):
    """A PSF or a weight map without WCS beside the tiles was read and is no sky image: it is
    skipped (and named by ``hippo surveys``), so off the tiles is no_coverage, not error."""
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    tile_wcs = sky_wcs((150.0, 2.0), (101, 101))
    fits.PrimaryHDU(np.ones((101, 101), np.float32), tile_wcs.to_header()).writeto(tiles / "t1.fits")
    fits.PrimaryHDU(np.ones((21, 21), np.float32)).writeto(tiles / "psf.fits")  # no WCS at all
    linear = WCS(naxis=2)
    linear.wcs.ctype = ["LINEAR", "LINEAR"]
    fits.PrimaryHDU(np.ones((50, 50), np.float32), linear.to_header()).writeto(tiles / "weight.fits.gz")
    fits.BinTableHDU(Table({"ra": [1.0]})).writeto(tiles / "catalogue.fits")
    survey = get_survey(tiles)
    assert len(survey.index.entries) == 1 and survey.index.unusable == []
    assert [entry["file"] for entry in survey.index.not_tiles] == ["psf.fits", "weight.fits.gz"]
    far = SkyCoord([10.0, 150.0] * u.deg, [-30.0, 2.5] * u.deg)
    assert [cut.status for cut in survey.cutouts(far, "1arcmin")] == ["no_coverage", "no_coverage"]
    assert survey.cutout(tile_wcs.pixel_to_world(50, 50), "30arcsec").status == "ok"
    described = survey.describe()
    assert described["problems"] == []
    assert described["coverage"].endswith("; not a tile: no celestial WCS: psf.fits, weight.fits.gz")
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text("name,ra,dec\nin,150.0,2.0\nfar,10.0,-30.0\n")
    result = hippo_cli("cutout", "--catalogue", catalogue, "--survey", tiles, "--size", "1arcmin",
                       "-o", tmp_path / "out", "--quiet")
    assert result.returncode == 0, result.stderr
    assert list(Table.read(tmp_path / "out" / "cutouts.csv")["status"]) == ["ok", "no_coverage"]
    listed = hippo_cli("surveys", tiles)
    assert listed.returncode == 0 and "not a tile: no celestial WCS: psf.fits" in listed.stdout


def test_a_repaired_tile_is_used_next_time(tmp_path, monkeypatch):
    wcs, data = split_into_tiles(tmp_path / "tiles")
    tile = tmp_path / "tiles" / "tile_00.fits"
    whole = tile.read_bytes()
    tile.write_bytes(whole[:1000])  # the header cut short
    only_in_tile_00 = wcs.pixel_to_world(60, 60)
    cut = get_survey(tmp_path / "tiles").cutout_or_error(only_in_tile_00, "30arcsec")
    assert cut.status == "error" and cut.message.startswith(f"{tile}: ")
    calls = []
    real_entry = local_module._index_entry
    monkeypatch.setattr(local_module, "_index_entry", lambda *args: calls.append(args[1]) or real_entry(*args))
    assert [bad["file"] for bad in get_survey(tmp_path / "tiles").index.unusable] == ["tile_00.fits"]
    assert calls == ["tile_00.fits"]  # a failure is not cached: the bad tile is looked at again
    tile.write_bytes(whole)
    survey = get_survey(tmp_path / "tiles")
    assert survey.index.unusable == [] and len(survey.index.entries) == 4
    cut = survey.cutout(only_in_tile_00, "30arcsec")
    assert cut.status == "ok"
    np.testing.assert_array_equal(cut.data, data[60 - 8:60 + 9, 60 - 8:60 + 9])


def test_a_directory_of_unusable_tiles_fails_its_rows_and_the_other_surveys_are_cut(tmp_path):
    import hippo

    wcs, _ = split_into_tiles(tmp_path / "tiles")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "empty.fits").write_bytes(b"")
    coord = wcs.pixel_to_world(100, 100)
    table = hippo.cutout(ra=coord.ra.deg, dec=coord.dec.deg, name="A", survey=[broken, tmp_path / "tiles"],
                         size="30arcsec", output=tmp_path / "out", quiet=True)
    assert list(table["status"]) == ["error", "ok"]
    assert table["message"][0].startswith(f"{broken}: no usable FITS tile: 1 cannot be used (empty.fits: ")


def test_cli_a_tile_that_cannot_be_read_is_an_error_row_and_is_used_once_readable(tmp_path, hippo_as_user):
    wcs, _ = split_into_tiles(tmp_path / "tiles")
    tiles = tmp_path / "tiles"
    locked = tiles / "locked.fits"
    fits.PrimaryHDU(np.ones((100, 100), np.float32), sky_wcs((151.0, 2.0), (100, 100)).to_header()).writeto(locked)
    inside = wcs.pixel_to_world(100, 100)
    catalogue = tmp_path / "sources.csv"
    catalogue.write_text(f"name,ra,dec\nA,{inside.ra.deg:.8f},{inside.dec.deg:.8f}\nL,151.0,2.0\n")
    out = tmp_path / "out"
    locked.chmod(0)
    try:
        result = hippo_as_user("cutout", "--catalogue", catalogue, "--survey", tiles, "--size", "30arcsec", "-o", out)
        assert result.returncode == 3, result.stderr
        assert f"error: L (tiles): {locked}: " in result.stderr and "Permission denied" in result.stderr
        assert list(Table.read(out / "cutouts.csv")["status"]) == ["ok", "error"]
        listed = hippo_as_user("surveys", tiles)
        assert listed.returncode == 3 and "4 tiles, " in listed.stdout and f"1 unusable: {locked}: " in listed.stdout
    finally:
        locked.chmod(0o644)
    result = hippo_as_user("cutout", "--catalogue", catalogue, "--survey", tiles, "--size", "30arcsec", "-o", out)
    assert result.returncode == 0, result.stderr
    assert list(Table.read(out / "cutouts.csv")["status"]) == ["ok", "ok"]
