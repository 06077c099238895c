"""Cutout geometry: the position at the centre pixel, odd sizes, RA wrap, poles, SIP, edges, resampling."""

import mmap
import tracemalloc

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from hippo.cutouts import cut_image
from hippo.cutouts.geometry import odd_pixels
from hippo.errors import UsageError
from hippo.io import Image, read_image


def make_image(crval=(150.0, 2.0), shape=(600, 800), scale_arcsec=1.5, projection="SIN", crpix=None, seed=0,
               bunit="JY/BEAM"):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [f"RA---{projection}", f"DEC--{projection}"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = list(crpix or ((shape[1] + 1) / 2, (shape[0] + 1) / 2))
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    wcs.pixel_shape = (shape[1], shape[0])
    data = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    header = wcs.to_header()
    header["BUNIT"] = bunit
    return Image(data=data, wcs=wcs, header=header, path="synthetic")


def centre_offset(cutout, coord):
    """(dx, dy) of ``coord`` from the cutout's geometric centre, in pixels."""
    x, y = cutout.wcs.world_to_pixel(coord)
    return float(x) - (cutout.data.shape[1] - 1) / 2, float(y) - (cutout.data.shape[0] - 1) / 2


def test_odd_sizes_cover_the_request():
    assert odd_pixels(120, 1.8) == 67
    assert odd_pixels(9.0, 1.8) == 5  # exactly 5 pixels: not rounded up to 7
    assert odd_pixels(9.01, 1.8) == 7
    assert odd_pixels(0.1, 1.8) == 1


def test_native_cut_puts_the_position_in_the_central_pixel_and_keeps_pixel_values():
    image = make_image()
    rng = np.random.default_rng(5)
    for _ in range(50):
        x, y = rng.uniform(100, 700), rng.uniform(100, 500)
        coord = image.wcs.pixel_to_world(x, y)
        cut = cut_image(image, coord, "1arcmin")
        assert cut.status == "ok"
        assert cut.data.shape == (41, 41)  # 60"/1.5" = 40 -> 41
        dx, dy = centre_offset(cut, coord)
        assert abs(dx) <= 0.5 + 1e-9 and abs(dy) <= 0.5 + 1e-9
        cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        np.testing.assert_array_equal(cut.data, image.data[cy - 20:cy + 21, cx - 20:cx + 21])


def test_native_cut_agrees_with_astropy_cutout2d_on_the_pixels():
    image = make_image(shape=(300, 300))
    coord = image.wcs.pixel_to_world(140.2, 161.7)
    ours = cut_image(image, coord, 41 * 1.5)
    theirs = Cutout2D(image.data, coord, (41, 41), wcs=image.wcs, mode="partial")
    np.testing.assert_array_equal(ours.data, theirs.data)
    # and our WCS maps every pixel to the same sky position as theirs
    ys, xs = np.mgrid[0:41:5, 0:41:5]
    a = ours.wcs.pixel_to_world(xs, ys)
    b = theirs.wcs.pixel_to_world(xs, ys)
    assert np.max(a.separation(b).to_value(u.arcsec)) < 1e-6


def test_position_as_degrees_and_image_without_wcs():
    from hippo.errors import InputError

    image = make_image()
    coord = image.wcs.pixel_to_world(300.0, 200.0)
    by_degrees = cut_image(image, (coord.ra.deg, coord.dec.deg), "20arcsec")
    np.testing.assert_array_equal(by_degrees.data, cut_image(image, coord, "20arcsec").data)
    image.wcs = None
    with pytest.raises(InputError, match="no celestial WCS"):
        cut_image(image, coord, "20arcsec")


def test_resampled_cut_is_centred_exactly():
    image = make_image()
    coord = image.wcs.pixel_to_world(321.37, 222.81)
    cut = cut_image(image, coord, "1arcmin", pixel_scale="1arcsec")
    assert cut.data.shape == (61, 61)
    dx, dy = centre_offset(cut, coord)
    assert abs(dx) < 1e-6 and abs(dy) < 1e-6
    assert cut.status == "ok"


@pytest.mark.parametrize("ra", [359.995, 0.0, 0.005])
def test_ra_wrap_at_zero(ra):
    image = make_image(crval=(0.0, 10.0), shape=(400, 400))
    coord = SkyCoord(ra * u.deg, 10.01 * u.deg)
    for pixel_scale in (None, 1.0):
        cut = cut_image(image, coord, "45arcsec", pixel_scale=pixel_scale)
        assert cut.status == "ok"
        dx, dy = centre_offset(cut, coord)
        limit = 0.5 + 1e-9 if pixel_scale is None else 1e-6
        assert abs(dx) <= limit and abs(dy) <= limit
    # the cut straddling RA=0 is continuous: its RA span is tiny, not ~360 deg
    corners = cut.wcs.pixel_to_world([0, cut.data.shape[1] - 1], [0, 0])
    assert corners[0].separation(corners[1]).to_value(u.arcsec) < 60


@pytest.mark.parametrize("dec", [89.99, 89.999, -89.995])
def test_positions_near_the_poles(dec):
    pole = 90.0 if dec > 0 else -90.0
    image = make_image(crval=(0.0, pole), shape=(500, 500), projection="TAN")
    for ra in (0.0, 90.0, 200.0, 359.0):
        coord = SkyCoord(ra * u.deg, dec * u.deg)
        for pixel_scale in (None, 2.0):
            cut = cut_image(image, coord, "30arcsec", pixel_scale=pixel_scale)
            assert cut.status == "ok", (ra, dec, cut.message)
            dx, dy = centre_offset(cut, coord)
            limit = 0.5 + 1e-9 if pixel_scale is None else 1e-6
            assert abs(dx) <= limit and abs(dy) <= limit


def sip_image():
    header = fits.Header()
    header.update({"NAXIS": 2, "NAXIS1": 500, "NAXIS2": 400, "CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP",
                   "CRVAL1": 210.0, "CRVAL2": 54.0, "CRPIX1": 250.5, "CRPIX2": 200.5,
                   "CD1_1": -2.8e-4, "CD1_2": 1.0e-6, "CD2_1": 1.0e-6, "CD2_2": 2.8e-4,
                   "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 4e-5, "A_0_2": -2e-5, "A_1_1": 3e-5,
                   "B_2_0": -1e-5, "B_0_2": 5e-5, "B_1_1": 2e-5})
    wcs = WCS(header)
    data = np.random.default_rng(3).normal(size=(400, 500)).astype(np.float32)
    return Image(data=data, wcs=wcs, header=header, path="sip")


def test_sip_distortion_moves_with_the_cutout():
    image = sip_image()
    assert image.wcs.sip is not None
    coord = image.wcs.pixel_to_world(40.3, 350.8)  # near a corner, where distortion is largest
    cut = cut_image(image, coord, "30arcsec")
    dx, dy = centre_offset(cut, coord)
    assert abs(dx) <= 0.5 and abs(dy) <= 0.5
    # every cutout pixel maps to the same sky position as the original pixel it came from
    x0 = int(np.floor(40.3 + 0.5)) - cut.data.shape[1] // 2
    y0 = int(np.floor(350.8 + 0.5)) - cut.data.shape[0] // 2
    ys, xs = np.mgrid[0:cut.data.shape[0], 0:cut.data.shape[1]]
    ours = cut.wcs.pixel_to_world(xs.ravel(), ys.ravel())
    original = image.wcs.pixel_to_world(xs.ravel() + x0, ys.ravel() + y0)
    assert np.max(ours.separation(original).to_value(u.arcsec)) < 1e-6
    # and the written header keeps the distortion
    assert cut.header["CTYPE1"] == "RA---TAN-SIP" and "A_2_0" in cut.header


def test_edge_of_the_image_is_partial_with_nan_padding_and_outside_is_no_coverage():
    image = make_image(shape=(200, 200))
    coord = image.wcs.pixel_to_world(2.0, 100.0)  # 21-px cut (30"/1.5"), 8 columns hang over the edge
    cut = cut_image(image, coord, "30arcsec")
    assert cut.status == "partial"
    assert cut.data.shape == (21, 21)
    assert np.isnan(cut.data).sum() == 21 * 8
    assert np.isnan(cut.data[:, :8]).all() and np.isfinite(cut.data[:, 8:]).all()
    far = image.wcs.pixel_to_world(-100.0, 100.0)
    assert cut_image(image, far, "30arcsec").status == "no_coverage"


def test_blank_survey_area_is_no_coverage_and_survey_edge_partial():
    image = make_image(shape=(200, 200))
    image.data[:, :100] = np.nan  # the mosaic's blank area beyond the survey edge
    assert cut_image(image, image.wcs.pixel_to_world(40.0, 100.0), "30arcsec").status == "no_coverage"
    assert cut_image(image, image.wcs.pixel_to_world(100.0, 100.0), "30arcsec").status == "partial"


def test_flux_conserving_resampling_keeps_total_flux_of_a_per_pixel_image():
    image = make_image(shape=(200, 200), scale_arcsec=1.0, bunit="Jy/pixel")
    image.data[:] = 0.0
    image.data[95:106, 95:106] = 1.0  # 121 Jy in an 11x11 box
    coord = image.wcs.pixel_to_world(100.0, 100.0)
    exact = cut_image(image, coord, "60arcsec", pixel_scale="2.5arcsec", resampling="exact")
    assert np.nansum(exact.data) == pytest.approx(121.0, rel=1e-3)
    # interpolation (for display) samples values and does not conserve the sum
    interpolated = cut_image(image, coord, "60arcsec", pixel_scale="2.5arcsec")
    assert abs(np.nansum(interpolated.data) - 121.0) > 50


def test_flux_conserving_resampling_keeps_surface_brightness_of_jy_per_beam():
    image = make_image(shape=(200, 200), scale_arcsec=1.0)
    image.data[:] = 0.25
    cut = cut_image(image, image.wcs.pixel_to_world(100.0, 100.0), "60arcsec", pixel_scale=3.0,
                    resampling="exact")
    np.testing.assert_allclose(cut.data, 0.25, rtol=1e-5)


def test_memory_mapped_mosaic_is_not_read_whole(tmp_path):
    # a 64 MB sparse mosaic on disk; the cutout must touch only its own rows
    side = 4096
    header = make_image(shape=(8, 8)).wcs.to_header()
    header["CRPIX1"] = header["CRPIX2"] = side / 2
    hdu = fits.PrimaryHDU(header=header)
    hdu.header.update({"BITPIX": -32, "NAXIS": 2, "NAXIS1": side, "NAXIS2": side})
    path = tmp_path / "mosaic.fits"
    with open(path, "wb") as stream:
        stream.write(hdu.header.tostring().encode())
        stream.seek(side * side * 4 - 1, 1)
        stream.write(b"\0")
    image = read_image(path)
    base = image.data
    while isinstance(base, np.ndarray) and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, (np.memmap, mmap.mmap))  # astropy maps the file, it does not read it
    tracemalloc.start()
    cut = cut_image(image, image.wcs.pixel_to_world(1000.0, 3000.0), "2arcmin")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert cut.status == "ok" and cut.data.shape == (81, 81)
    assert peak < 4 << 20  # far below the 64 MB image


def test_real_first_image_cut_near_its_centre(shared_data):
    path = shared_data / "first_mirabest" / "100_010.451-009.284_0.0529_0080.60.fits.fz"
    image = read_image(path)
    coord = image.wcs.pixel_to_world(150.2, 149.8)  # in pixel (150, 150), near the reference point
    cut = cut_image(image, coord, "2arcmin")
    assert cut.status == "ok" and cut.data.shape == (67, 67)
    dx, dy = centre_offset(cut, coord)
    assert abs(dx) <= 0.5 + 1e-9 and abs(dy) <= 0.5 + 1e-9
    np.testing.assert_array_equal(cut.data, image.data[117:184, 117:184])
    assert cut.header["BUNIT"].strip().upper() == "JY/BEAM"


def test_written_cutout_is_standard_fits_with_provenance(tmp_path):
    from hippo.cutouts import write_cutout
    from hippo.cutouts.cut import render_card

    image = make_image(shape=(100, 100))
    image.header["TELESCOP"] = "VLA"
    cut = cut_image(image, image.wcs.pixel_to_world(50.0, 50.0), "15arcsec")
    values = [("OBJECT", "J1234+5678 'x'", "name"), ("HIPPORA", 1e-05, "tiny"), ("HIPPODEC", -89.123456789012345, ""),
              ("NSRC", 12, "count"), ("FLAG", False, ""), ("HISTORY", "hippo cutout size=15", None)]
    path = write_cutout(cut, tmp_path / "c.fits", values + [render_card("CUTSTAT", "ok", "status")])
    with fits.open(path) as hdul:
        hdul.verify("exception")  # every card is legal FITS
        header = hdul[0].header
        np.testing.assert_array_equal(hdul[0].data, cut.data)
    assert header["OBJECT"] == "J1234+5678 'x'" and header["HIPPORA"] == 1e-05 and header["NSRC"] == 12
    assert header["HIPPODEC"] == -89.123456789012345 and header["FLAG"] is False and header["CUTSTAT"] == "ok"
    assert header["TELESCOP"] == "VLA" and "hippo cutout size=15" in str(header["HISTORY"])
    assert WCS(header).pixel_to_world(3, 3).separation(cut.wcs.pixel_to_world(3, 3)).arcsec < 1e-9


def test_tpv_distortion_is_kept_in_the_written_header(tmp_path):
    from hippo.cutouts import write_cutout

    header = fits.Header({"NAXIS": 2, "NAXIS1": 300, "NAXIS2": 300, "CTYPE1": "RA---TPV", "CTYPE2": "DEC--TPV",
                          "CRVAL1": 35.0, "CRVAL2": -4.5, "CRPIX1": 150.0, "CRPIX2": 150.0,
                          "CD1_1": -7.3e-5, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 7.3e-5,
                          "PV1_0": 0.0, "PV1_1": 1.0, "PV1_4": 2e-3, "PV1_7": 5e-3,
                          "PV2_0": 0.0, "PV2_1": 1.0, "PV2_5": -3e-3, "PV2_9": 4e-3})
    wcs = WCS(header)
    image = Image(data=np.random.default_rng(4).normal(size=(300, 300)).astype(np.float32), wcs=wcs,
                  header=header, path="tpv")
    coord = wcs.pixel_to_world(260.4, 30.6)
    cut = cut_image(image, coord, "10arcsec")
    written = WCS(fits.getheader(write_cutout(cut, tmp_path / "tpv.fits")))
    x0 = int(np.floor(260.4 + 0.5)) - cut.data.shape[1] // 2
    y0 = int(np.floor(30.6 + 0.5)) - cut.data.shape[0] // 2
    ys, xs = np.mgrid[0:cut.data.shape[0], 0:cut.data.shape[1]]
    ours = written.pixel_to_world(xs.ravel(), ys.ravel())
    original = wcs.pixel_to_world(xs.ravel() + x0, ys.ravel() + y0)
    assert np.max(ours.separation(original).to_value(u.arcsec)) < 1e-6


def test_flux_conserving_resampling_keeps_total_dn_of_the_real_wise_image(shared_data):
    from reproject import reproject_exact

    wise = read_image(next((shared_data / "first_wise").glob("*w1-int*.fits")))
    assert wise.header["BUNIT"].strip() == "DN"  # counts per 1.375" pixel, not a surface brightness
    cut = cut_image(wise, SkyCoord(228.11333, 45.67389, unit="deg"), "2arcmin", pixel_scale=1.0,
                    resampling="exact")
    # the original's DN over the same footprint: each original pixel weighted by the part the cutout covers
    _, covered = reproject_exact((np.ones(cut.data.shape), cut.wcs), wise.wcs, shape_out=wise.data.shape)
    original_dn = np.nansum(np.asarray(wise.data, float) * covered)
    assert np.nansum(cut.data) == pytest.approx(original_dn, rel=0.01)


@pytest.mark.parametrize("bunit, per_pixel", [("DN", True), ("counts", True), ("ADU", True), ("electrons/s", True),
                                              ("nanomaggy", True), ("Jy/pixel", True), ("JY/BEAM", False),
                                              ("MJy/sr", False), ("mag/arcsec2", False)])
def test_exact_resampling_sums_per_pixel_units_and_averages_surface_brightness(bunit, per_pixel):
    image = make_image(shape=(200, 200), scale_arcsec=1.0, bunit=bunit)
    image.data[:] = 1.0
    cut = cut_image(image, image.wcs.pixel_to_world(100.0, 100.0), "60arcsec", pixel_scale=2.0,
                    resampling="exact")
    # a 2" pixel holds four 1" pixels: four times the count, or the same surface brightness
    np.testing.assert_allclose(cut.data, 4.0 if per_pixel else 1.0, rtol=1e-4)


@pytest.mark.parametrize("latitude", [55.0, 60.0, 65.0])
def test_exact_resampling_counts_the_sky_area_of_the_pixels_where_the_cutout_is(latitude):
    # a galactic CAR counts map with its reference on the equator: at latitude b a 0.05 deg pixel
    # covers 0.0025 cos(b) deg^2 of sky, so a 0.1 deg cutout pixel holds 4 / cos(b) of them
    header = fits.Header({"CTYPE1": "GLON-CAR", "CTYPE2": "GLAT-CAR", "CRVAL1": 100.0, "CRVAL2": 0.0,
                          "CDELT1": -0.05, "CDELT2": 0.05, "CRPIX1": 100.5, "CRPIX2": 0.5 - 50 / 0.05,
                          "BUNIT": "counts"})
    image = Image(data=np.ones((400, 200), np.float32), wcs=WCS(header), header=header, path="counts.fits")
    position = SkyCoord(l=100 * u.deg, b=latitude * u.deg, frame="galactic")
    cut = cut_image(image, position, "1deg", pixel_scale="0.1deg", resampling="exact")
    assert np.nanmedian(cut.data) == pytest.approx(4.0 / np.cos(np.radians(latitude)), rel=1e-4)


def test_a_cutout_larger_than_the_limit_is_refused_naming_the_option():
    image = make_image()
    coord = image.wcs.pixel_to_world(100.0, 100.0)
    with pytest.raises(UsageError, match=r"--pixel-scale 0.0001: .* 1200000 x 1200000 pixels"):
        cut_image(image, coord, "2arcmin", pixel_scale=1e-4)
    with pytest.raises(UsageError, match=r"--size 36000arcsec: .* 24000 x 24000 pixels"):
        cut_image(image, coord, "10deg")


def test_a_surveys_zero_point_and_beam_cards_survive_but_compression_and_sip_cards_do_not():
    image = make_image()
    image.header.update(ZP=25.3, ZEROPT=30.0, B_MAJ=0.0012, ZCMPTYPE="RICE_1", ZTILE1=800, A_ORDER=2, A_2_0=1e-6)
    cut = cut_image(image, image.wcs.pixel_to_world(400.0, 300.0), "30arcsec")
    assert (cut.header["ZP"], cut.header["ZEROPT"], cut.header["B_MAJ"]) == (25.3, 30.0, 0.0012)
    assert not {"ZCMPTYPE", "ZTILE1", "A_ORDER", "A_2_0"} & set(cut.header)


def test_a_cutout_over_the_pole_of_an_all_sky_car_image_reads_every_longitude():
    # dec 80..90 of a CAR map; a resampled cutout around the pole needs pixels from the whole width
    header = fits.Header({"CTYPE1": "RA---CAR", "CTYPE2": "DEC--CAR", "CRVAL1": 180.0, "CRVAL2": 0.0,
                          "CDELT1": -0.1, "CDELT2": 0.1, "CRPIX1": 1800.5, "CRPIX2": 0.5 - 800 + 0.5})
    wcs = WCS(header)
    yy, xx = np.mgrid[0:100, 0:3600]
    ra, dec = wcs.wcs_pix2world(xx, yy, 0)
    data = (np.cos(np.radians(ra)) * (90 - dec)).astype(np.float32)  # smooth, continuous over the pole
    image = Image(data=data, wcs=wcs, header=header, path="car_pole.fits")
    cut = cut_image(image, SkyCoord(10 * u.deg, 89.0 * u.deg), "3deg", pixel_scale="360arcsec")
    from reproject import reproject_interp

    expected, _ = reproject_interp((data.astype(float), wcs), cut.wcs, shape_out=cut.data.shape, order="bilinear")
    np.testing.assert_array_equal(np.isnan(cut.data), np.isnan(expected))
    np.testing.assert_allclose(cut.data, expected, atol=1e-5, equal_nan=True)
