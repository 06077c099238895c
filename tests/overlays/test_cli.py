"""``hippo overlay`` as a user runs it, on the real FIRST/WISE/NVSS/LoTSS images in ../shared/data."""

import os

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from matplotlib.path import Path as MplPath

from hippo.overlays import draw, overlay
from hippo.overlays.beams import beam_of
from hippo.io import read_image

from tests.overlays.conftest import make_wcs, write_image

W1 = "first_wise/2279p454_ac51-w1-int-3_ra228.11333333333332_dec45.67388888888889_asec480.000.fits"
FIRST_8 = "first_wise/FIRSTJ151227.2+454026_8.fits"


def png_size_and_text(path):
    from PIL import Image

    with Image.open(path) as picture:
        return picture.size, dict(picture.text)


def test_the_one_line_command_makes_a_png_with_its_provenance(shared_data, hippo_cli, tmp_path):
    output = tmp_path / "x.png"
    result = hippo_cli("overlay", "--image", shared_data / W1, "--contours", shared_data / FIRST_8, "-o", output)
    assert result.returncode == 0, result.stderr
    (width, height), text = png_size_and_text(output)
    assert 600 < width < 1200 and 600 < height < 1300  # 150 dpi, one panel and its caption
    assert text["Software"].startswith("HIPPO ")
    assert "FIRSTJ151227.2+454026_8.fits" in text["Description"]
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary left behind
    umask = os.umask(0o022)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any new file, not mkstemp's 0600


def test_pdf_output_keeps_contours_as_vector_paths(shared_data, tmp_path):
    path = overlay(shared_data / W1, contours=[shared_data / FIRST_8], output=tmp_path / "x.pdf", redshift=0.2)
    content = path.read_bytes()
    assert content.startswith(b"%PDF") and b"HIPPO" in content
    assert content.count(b"/Subtype /Image") == 1  # the W1 background is the only raster


def test_first_contours_on_wise_enclose_the_radio_peak_where_first_puts_it(shared_data):
    radio = read_image(shared_data / FIRST_8)
    drawing = draw(shared_data / W1, contours=[shared_data / FIRST_8])
    panel = drawing.panels[0]
    layer, positive, _ = panel.contour_sets[0]
    assert 1.2e-4 < layer.noise_rms < 2.2e-4  # FIRST: about 0.15 mJy/beam
    assert (layer.beam.major_arcsec, layer.beam.origin) == (pytest.approx(5.4), "header")
    peak_y, peak_x = np.unravel_index(np.nanargmax(radio.data), radio.shape)
    peak = radio.wcs.pixel_to_world(peak_x, peak_y)
    peak_on_w1 = panel.background.wcs.world_to_pixel(peak)
    top = positive.get_paths()[-1].to_polygons(closed_only=False)
    assert any(MplPath(line).contains_point(peak_on_w1) for line in top if len(line) > 2)
    # the top contour lies within a FIRST beam of the brightest pixel
    vertices = np.vstack([line for line in top if len(line) > 2])
    sky = panel.background.wcs.pixel_to_world(vertices[:, 0], vertices[:, 1])
    assert peak.separation(sky).arcsec.min() < 5.4


def test_nvss_on_first_uses_the_nominal_nvss_beam_and_draws_it_45_arcsec_wide(shared_data):
    first, nvss = (shared_data / f"first_nvss_pairs/{s}_1408+0050_II.fits.fz" for s in ("FIRST", "NVSS"))
    assert beam_of(read_image(nvss)).origin == "NVSS"
    assert beam_of(read_image(first)).major_arcsec == 5.4
    drawing = draw(first, contours=[nvss])
    (layer, patch), = drawing.panels[0].beam_patches
    vertices = patch.get_xy()[:-1]
    width = 2 * np.hypot(*(vertices - vertices.mean(axis=0)).T).max()
    assert width == pytest.approx(45.0 / 1.8, rel=0.01)  # NVSS beam in FIRST's 1.8" pixels
    assert "beam 45\u2033 (NVSS nominal)" in drawing.caption


def test_lotss_with_its_pybdsf_source_list_marks_the_catalogued_sources(shared_data, tmp_path):
    from astropy.table import Table

    mosaic = shared_data / "lotss_dr1/P205+55-mosaic.fits"
    sources = Table.read(shared_data / "lotss_dr1/catalog_shimwell_reduced.srl.fits")
    image = read_image(mosaic)
    centre = image.wcs.pixel_to_world(199, 199)
    near = SkyCoord(sources["RA"], sources["DEC"], unit="deg").separation(centre) < 3 * u.arcmin
    catalogue = tmp_path / "lotss.csv"
    sources[near][["Source_Name", "RA", "DEC"]].write(catalogue)
    panel = draw(mosaic, contours=[mosaic], catalogue=catalogue, size="6arcmin").panels[0]
    assert len(panel.marker_pixels) >= near.sum() * 0.9  # the 6' square holds the 3' circle
    assert panel.beam_patches[0][0].beam.origin == "header"  # BMAJ 6" in the mosaic's header


def test_store_records_the_run_and_an_overlays_row(tmp_path, radio_image, optical_image):
    from hippo.store import Store

    store_path = tmp_path / "hippo.db"
    path = overlay(optical_image, contours=[radio_image], output=tmp_path / "J1000+0200.png", store=store_path,
                   source="J100000+020000")
    with Store.open(store_path) as store:
        rows = store.table("overlays")
        runs = store.table("runs")
    assert [(r["source"], r["path"], r["contours"]) for r in rows] == [("J100000+020000", str(path),
                                                                       str(radio_image))]
    assert runs[0]["command"] == "overlay"


@pytest.mark.parametrize("arguments, message", [
    (["--image", "missing.fits", "-o", "x.png"], "missing.fits: no such file"),
    (["--image", "{optical}", "--regions", "{bad_regions}", "-o", "x.png"], "not a DS9 or CRTF region file"),
    (["--image", "{optical}", "--contours", "{radio}", "--noise", "0", "-o", "x.png"], "--noise: the rms must be"),
    (["--image", "{optical}", "--contours", "{radio}", "--noise=-1e-3", "-o", "x.png"], "--noise: the rms must be"),
    (["--image", "{optical}", "--contours", "{radio}", "--noise", "nan", "-o", "x.png"], "--noise: the rms must be"),
])
def test_bad_input_is_one_error_line_exit_2_and_no_output(hippo_cli, tmp_path, radio_image, optical_image,
                                                          arguments, message):
    bad_regions = tmp_path / "bad.reg"
    bad_regions.write_text("this is not a region file ((((\n")
    arguments = [a.format(optical=optical_image, radio=radio_image, bad_regions=bad_regions) for a in arguments]
    result = hippo_cli("overlay", *arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "x.png").exists() and not list(tmp_path.glob(".x.png*"))


@pytest.mark.parametrize("ra, dec", [("10", "10"),      # beyond the W1 image's TAN projection: no pixel at all
                                     ("229", "45")])    # on the projection, but the field misses the image
def test_centre_off_the_image_is_one_error_line_naming_position_and_image(shared_data, hippo_cli, tmp_path,
                                                                          ra, dec):
    result = hippo_cli("overlay", "--image", shared_data / W1, "--contours", shared_data / FIRST_8,
                       "--ra", ra, "--dec", dec, "-o", "o.png", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --ra/--dec")
    assert f"RA {float(ra):.5f}, Dec {float(dec):+.5f}" in result.stderr and W1 in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arguments, message", [
    ({"output": "x.jpg"}, "must be .png or .pdf"),
    ({"level_step": "1"}, "--level-step"),
    ({"levels": "three"}, "--levels"),
    ({"stretch": "histeq"}, "--stretch"),
    ({"ra": 150}, "both --ra and --dec"),
    ({"size": "-2arcmin"}, "--size"),
    ({"redshift": "-1"}, "--redshift"),
    ({"rgb": ["{optical}", "{optical}"]}, "exactly three"),
])
def test_bad_parameters_are_refused_with_the_option_named(tmp_path, radio_image, optical_image, arguments, message):
    from hippo.errors import UsageError

    arguments = {key: ([v.format(optical=optical_image) for v in value] if isinstance(value, list) else value)
                 for key, value in arguments.items()}
    arguments.setdefault("output", tmp_path / "x.png")
    with pytest.raises(UsageError, match=message.replace("-", "\\-")):
        overlay(optical_image, contours=[radio_image], **arguments)
    assert not list(tmp_path.glob("*x.*"))


def test_a_tiny_noise_that_switches_to_peak_levels_is_said_in_the_caption_and_the_log(hippo_cli, tmp_path,
                                                                                       radio_image, optical_image):
    # 1e-12 Jy/beam is below 1e-7 of the 10 mJy peak: the levels step down from the peak instead
    drawing = draw(optical_image, contours=[radio_image], noise=1e-12)
    assert "--noise 1e-12 not used" in drawing.caption and "peak / \u221a2\u207f" in drawing.caption
    result = hippo_cli("overlay", "--image", optical_image, "--contours", radio_image, "--noise", "1e-12",
                       "-o", tmp_path / "x.png")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--noise 1e-12" in warnings[0] and "from the peak" in warnings[0]
    # an rms the image can use is used, without a warning
    drawing = draw(optical_image, contours=[radio_image], noise=1e-4)
    assert "\u03c3 = 0.1 mJy/beam" in drawing.caption and "not used" not in drawing.caption


def test_contours_from_an_image_elsewhere_on_the_sky_are_reported(shared_data, hippo_cli, tmp_path):
    elsewhere = shared_data / "first_nvss_pairs" / "NVSS_1408+0050_II.fits.fz"
    result = hippo_cli("overlay", "--image", shared_data / W1, "--contours", elsewhere, "-o", "o.png", cwd=tmp_path)
    assert result.returncode == 0  # the figure itself is fine: the background is drawn
    assert f"warning: {elsewhere} does not cover the field shown: no contours from it" in result.stderr


def test_a_blank_contour_image_is_one_line_naming_it_without_numpy_warnings(hippo_cli, tmp_path, radio_image,
                                                                           optical_image):
    """A blank (all-zero, NaN-padded as a cutout at a survey edge is) contour image gave numpy's
    "Mean of empty slice" warnings and an error that did not say which image was blank."""
    blank = np.zeros((101, 101))
    blank[:, :30] = np.nan
    blank_path = write_image(tmp_path / "blank.fits", blank, make_wcs(150.0, 2.0, 101, 4.0), BUNIT="JY/BEAM")
    tiny_path = write_image(tmp_path / "tiny.fits", np.ones((3, 3)), make_wcs(150.0, 2.0, 3, 4.0), BUNIT="JY/BEAM")
    for contours, reason in ((blank_path, "the noise estimate is 0.0 (is the image blank?)"),
                             (tiny_path, "the noise cannot be estimated (fewer than 10 usable pixels)")):
        result = hippo_cli("overlay", "--image", optical_image, "--contours", radio_image, "--contours", contours,
                           "-o", tmp_path / "x.png")
        assert result.returncode == 2
        assert result.stderr == f"error: {contours}: cannot draw contours: {reason}\n"
        assert not list(tmp_path.glob("*x.png*"))
