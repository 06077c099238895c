"""Where things land on the figure: contours, beams, regions, markers, scale bar and compass, checked
in sky coordinates through the artists matplotlib actually draws."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from matplotlib.path import Path as MplPath

from hippo.overlays import draw
from hippo.overlays.figure import kpc_per_arcsec, sky_directions
from tests.overlays.conftest import BEAM_FWHM_ARCSEC, SOURCE_DEC, SOURCE_RA

SOURCE = SkyCoord(SOURCE_RA * u.deg, SOURCE_DEC * u.deg)


def contour_lines(contour_set, level_index):
    """The polylines of one level, in background pixels (WCSAxes maps the contour image's vertices
    through both WCSs onto the axes' data frame in one go)."""
    path = contour_set.get_paths()[level_index]
    return [line for line in path.to_polygons(closed_only=False) if len(line) > 2]


def in_contour_pixels(panel, line):
    """Background-pixel vertices taken back to the contour image's own pixels."""
    sky = panel.background.wcs.pixel_to_world(line[:, 0], line[:, 1])
    return np.column_stack(panel.contour_sets[0][0].image.wcs.world_to_pixel(sky))


def test_contours_sit_at_the_sky_radius_of_the_injected_gaussian(radio_image, optical_image):
    drawing = draw(optical_image, contours=[radio_image])
    panel = drawing.panels[0]
    layer, positive, negative = panel.contour_sets[0]
    # the level nearest half the 10 mJy peak: radius sigma * sqrt(2 ln(peak / level)), 10" for 5 mJy
    index = int(np.argmin([abs(level - 5e-3) for level in layer.levels]))
    level = layer.levels[index]
    sigma_arcsec = BEAM_FWHM_ARCSEC / 2.3548
    expected_radius = sigma_arcsec * math.sqrt(2 * math.log(1e-2 / level))
    (ring,) = contour_lines(positive, index)
    sky = panel.background.wcs.pixel_to_world(ring[:, 0], ring[:, 1])
    radii = SOURCE.separation(sky).arcsec
    assert np.mean(radii) == pytest.approx(expected_radius, abs=0.4)  # a tenth of a 4" radio pixel
    assert np.abs(radii - expected_radius).max() < 1.5
    # the ring is centred on the source to a fraction of an arcsec (least-squares circle)
    east, north = (offset.to_value(u.arcsec) for offset in SOURCE.spherical_offsets_to(sky))
    design = np.column_stack([east, north, np.ones_like(east)])
    d, e, _ = np.linalg.lstsq(design, -(east ** 2 + north ** 2), rcond=None)[0]
    assert np.hypot(-d / 2, -e / 2) < 0.3
    # and the lowest contour encloses the source's position in the background's pixels
    source_pixel = panel.background.wcs.world_to_pixel(SOURCE)
    assert any(MplPath(line).contains_point(source_pixel) for line in contour_lines(positive, 0))


def test_contours_are_traced_on_the_contour_images_own_pixel_grid_at_their_level(radio_image, optical_image):
    """Marching squares on the radio image itself (no resampling): mapped back through the 35-degree
    rotated optical WCS, every vertex lies on a grid line of the 4" radio pixels, where the radio
    data interpolated along that line equals the contour's level."""
    panel = draw(optical_image, contours=[radio_image]).panels[0]
    layer, positive, _ = panel.contour_sets[0]
    data = np.asarray(panel.contour_sets[0][0].image.data, dtype=float)
    checked = 0
    for index, level in enumerate(layer.levels):
        for line in contour_lines(positive, index):
            vertices = in_contour_pixels(panel, line)
            for x, y in vertices:
                if abs(x - round(x)) < 1e-5:      # on a column: interpolate along y
                    i, f = int(np.floor(y)), y - np.floor(y)
                    value = (1 - f) * data[i, round(x)] + f * data[i + 1, round(x)]
                else:                              # otherwise it must be on a row
                    assert abs(y - round(y)) < 1e-5
                    i, f = int(np.floor(x)), x - np.floor(x)
                    value = (1 - f) * data[round(y), i] + f * data[round(y), i + 1]
                assert value == pytest.approx(level, rel=1e-4, abs=1e-9)
                checked += 1
    assert checked > 200
    assert panel.contour_wcs[0].proj_plane_pixel_scales()[0].to_value(u.arcsec) == pytest.approx(4.0)


def test_negative_contour_is_dashed_at_minus_the_first_level_and_the_caption_lists_the_levels(
        radio_image, optical_image):
    drawing = draw(optical_image, contours=[radio_image], levels=3)
    layer, positive, negative = drawing.panels[0].contour_sets[0]
    assert layer.noise_rms == pytest.approx(1e-4, rel=0.05)
    assert layer.levels[0] == pytest.approx(3 * layer.noise_rms)
    assert list(negative.levels) == pytest.approx([-3 * layer.noise_rms])
    linestyle = negative.get_linestyle()[0]
    assert linestyle[1] is not None and len(linestyle[1]) >= 2  # a dash pattern
    assert positive.get_linestyle()[0][1] is None                # solid
    # the caption gives every value in mJy/beam, the beam and the noise
    values = ", ".join(f"{level * 1e3:.3g}" for level in layer.levels)
    assert f"levels {-layer.levels[0] * 1e3:.3g} (dashed), {values} mJy/beam" in drawing.caption
    assert f"\u03c3 = {layer.noise_rms * 1e3:.3g} mJy/beam" in drawing.caption
    assert "beam 20\u2033\u00d712\u2033, PA 30\u00b0" in drawing.caption


def test_explicit_levels_and_steps_of_two(radio_image, optical_image):
    layer = draw(optical_image, contours=[radio_image], levels=[1e-3, 4e-3]).layers[0]
    assert layer.levels == [1e-3, 4e-3] and layer.negative == -1e-3
    layer = draw(optical_image, contours=[radio_image], level_step="2").layers[0]
    assert np.allclose(np.array(layer.levels[1:]) / np.array(layer.levels[:-1]), 2.0)
    assert layer.levels[-1] <= 1.1e-2 < 2 * layer.levels[-1]  # up to the peak (10 mJy plus noise)


def beam_axes_in_pixels(patch):
    """Length and direction (pixel vector) of the longest and shortest diameters of a beam polygon."""
    vertices = patch.get_xy()[:-1]
    centre = vertices.mean(axis=0)
    offsets = vertices - centre
    lengths = 2 * np.hypot(offsets[:, 0], offsets[:, 1])
    return lengths.max(), lengths.min(), offsets[np.argmax(lengths)]


def test_beam_ellipse_has_the_header_size_and_position_angle_on_a_rotated_background(radio_image, optical_image):
    panel = draw(optical_image, contours=[radio_image]).panels[0]
    (layer, patch), = panel.beam_patches
    major, minor, direction = beam_axes_in_pixels(patch)
    assert major == pytest.approx(20.0 / 1.0, rel=0.01)  # BMAJ 20" on 1"/px
    assert minor == pytest.approx(12.0 / 1.0, rel=0.01)
    centre = patch.get_xy()[:-1].mean(axis=0)
    north, east = (sky_directions(panel.background, centre)[k] for k in ("north", "east"))
    angle = math.degrees(math.atan2(direction @ east, direction @ north)) % 180
    assert angle == pytest.approx(30.0, abs=1.0)  # BPA, east of north
    # the beam sits inside the lower-left quarter of the field
    ny, nx = panel.background.shape
    assert (centre < np.array([nx, ny]) / 4).all()


def test_beam_in_pixels_of_the_background_is_bmaj_over_its_pixel_scale(radio_image):
    """Contours of the radio image on itself: the beam is BMAJ / 4" = 5 pixels long."""
    panel = draw(radio_image, contours=[radio_image]).panels[0]
    major, minor, _ = beam_axes_in_pixels(panel.beam_patches[0][1])
    assert (major, minor) == pytest.approx((5.0, 3.0), rel=0.01)


def test_ds9_and_crtf_circles_land_where_their_coordinates_say(tmp_path, radio_image, optical_image):
    ds9 = tmp_path / "regions.reg"
    ds9.write_text("# Region file format: DS9 version 4.1\nicrs\ncircle(150.0,2.0,10\") # color=green\n"
                   "image\ncircle(100,120,5)\nfk5\npoint(150.0,2.0)\n")
    crtf = tmp_path / "regions.crtf"
    crtf.write_text("#CRTFv0 CASA Region Text Format version 0\nglobal coord=ICRS\n"
                    "circle [[10:00:00.0, +02.00.00.0], 10arcsec]\n")
    background = draw(optical_image, contours=[radio_image], regions=ds9).panels[0]
    expected = np.array(background.background.wcs.world_to_pixel(SOURCE), dtype=float)
    (_, sky_circle), (_, image_circle), (_, fk5_point) = background.region_artists
    assert np.allclose(sky_circle.center, expected, atol=1e-3)
    assert sky_circle.radius == pytest.approx(10.0, rel=1e-3)  # 10" on 1"/px
    assert sky_circle.get_edgecolor()[:3] == pytest.approx((0.0, 1.0, 0.0)) and not sky_circle.get_fill()  # DS9 green
    assert np.allclose(image_circle.center, (99.0, 119.0))  # DS9 image coordinates start at 1
    # FK5 J2000 is not ICRS: the frame tie moves the point by about 20 mas, correctly
    offset = np.hypot(*(np.array([fk5_point.get_xdata()[0], fk5_point.get_ydata()[0]]) - expected))
    assert 0.005 < offset < 0.05
    (_, crtf_circle), = draw(optical_image, regions=crtf).panels[0].region_artists
    assert np.allclose(crtf_circle.center, expected, atol=1e-3)


def test_catalogue_markers_at_their_positions_and_only_those_in_view(tmp_path, optical_image):
    catalogue = tmp_path / "candidates.csv"
    catalogue.write_text("id,ra,dec\nW1,150.0,2.0\nW2,150.01,2.02\nfar,151.0,3.0\n")
    panel = draw(optical_image, catalogue=catalogue).panels[0]
    expected = np.array([panel.background.wcs.world_to_pixel_values(150.0, 2.0),
                         panel.background.wcs.world_to_pixel_values(150.01, 2.02)])
    assert np.allclose(panel.marker_pixels, expected, atol=1e-6)
    labels = [text.get_text() for text in panel.axes.texts]
    assert "W1" in labels and "W2" in labels and "far" not in labels


def test_scale_bar_is_a_round_number_of_arcsec_and_kpc_at_the_redshift(optical_image):
    from astropy.cosmology import Planck18

    panel = draw(optical_image, redshift=0.1).panels[0]
    assert panel.scalebar_arcsec == 60  # about a quarter of the 301" field
    lengths = [abs(np.diff(line.get_xdata())[0]) for line in panel.axes.lines if len(line.get_xdata()) == 2]
    assert any(abs(length - 60.0) < 1e-6 for length in lengths)  # pixels, at 1"/px
    kpc = (Planck18.angular_diameter_distance(0.1) * (1 * u.arcsec).to_value(u.rad)).to_value(u.kpc)
    assert kpc_per_arcsec(0.1) == pytest.approx(kpc, rel=1e-6)
    labels = [text.get_text() for text in panel.axes.texts]
    assert f"1\u2032 = {60 * kpc:.0f} kpc" in labels


def galactic_car_background(tmp_path, npix=120):
    """A CAR image in galactic coordinates at b = 60 deg with its reference pixel at b = 0 (as a cutout of
    an all-sky CAR map keeps it): 2"/px at CRPIX, but 2" cos(60 deg) = 1" of sky per pixel along x here."""
    from astropy.io import fits

    header = fits.Header({"CTYPE1": "GLON-CAR", "CTYPE2": "GLAT-CAR", "CRVAL1": 100.0, "CRVAL2": 0.0,
                          "CDELT1": -2 / 3600, "CDELT2": 2 / 3600, "CRPIX1": (npix + 1) / 2,
                          "CRPIX2": (npix + 1) / 2 - 60 * 1800})
    path = tmp_path / "car60.fits"
    fits.PrimaryHDU(np.random.default_rng(10).normal(size=(npix, npix)).astype(np.float32), header).writeto(path)
    return path, SkyCoord(l=100 * u.deg, b=60 * u.deg, frame="galactic").icrs


def scalebar_on_sky_arcsec(panel):
    (line, *_) = [line for line in panel.axes.lines if len(line.get_xdata()) == 2]
    ends = panel.background.wcs.pixel_to_world(line.get_xdata(), line.get_ydata())
    return ends[0].separation(ends[1]).arcsec


def test_scale_bar_and_field_size_hold_on_the_sky_where_the_pixel_scale_is_not_the_reference_one(tmp_path):
    background, centre = galactic_car_background(tmp_path)
    panel = draw(background).panels[0]
    assert panel.scalebar_arcsec == 30  # a quarter of the 120" of sky across, not of 240"
    assert scalebar_on_sky_arcsec(panel) == pytest.approx(30.0, rel=0.01)
    panel = draw(background, ra=centre.ra.deg, dec=centre.dec.deg, size="2arcmin").panels[0]
    wcs = panel.background.wcs
    (x0, x1), (y0, y1) = panel.axes.get_xlim(), panel.axes.get_ylim()
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    assert wcs.pixel_to_world(x0, ym).separation(wcs.pixel_to_world(x1, ym)).arcsec == pytest.approx(120.0, rel=0.01)
    assert wcs.pixel_to_world(xm, y0).separation(wcs.pixel_to_world(xm, y1)).arcsec == pytest.approx(120.0, rel=0.01)
    assert scalebar_on_sky_arcsec(panel) == pytest.approx(panel.scalebar_arcsec, rel=0.01)


def test_compass_is_drawn_only_when_north_is_not_up(radio_image, optical_image):
    assert draw(radio_image).panels[0].compass is None
    compass = draw(optical_image).panels[0].compass
    north = np.array(compass["north"])
    assert math.degrees(math.atan2(-north[0], north[1])) == pytest.approx(35.0, abs=0.2)


def test_field_of_view_by_centre_and_size(radio_image, optical_image):
    panel = draw(optical_image, contours=[radio_image], ra=150.0, dec=2.0, size="1arcmin").panels[0]
    x, y = panel.background.wcs.world_to_pixel(SOURCE)
    assert panel.axes.get_xlim() == pytest.approx((x - 30, x + 30))
    assert panel.axes.get_ylim() == pytest.approx((y - 30, y + 30))
    # the radio image was cut (never resampled) to what lies under the field
    assert panel.contour_wcs[0].pixel_shape[0] < 101


def test_multi_panel_figure_shows_the_same_contours_on_each_survey(radio_image, optical_image):
    drawing = draw([optical_image, radio_image], contours=[radio_image])
    assert len(drawing.panels) == 2
    assert [p.contour_sets[0][1].levels.tolist() for p in drawing.panels] == [drawing.layers[0].levels] * 2


def test_rgb_panel_from_three_bands_on_different_grids(tmp_path, radio_image, optical_image):
    from tests.overlays.conftest import make_wcs, write_image, gaussian_at

    other = make_wcs(SOURCE_RA, SOURCE_DEC, 151, 2.0)
    green = write_image(tmp_path / "green.fits", 10 + gaussian_at(other, (151, 151), SOURCE_RA, SOURCE_DEC, 4, 50)
                        + np.random.default_rng(7).normal(0, 1, (151, 151)), other)
    panel = draw(rgb=[optical_image, green, optical_image], contours=[radio_image]).panels[0]
    image = np.asarray(panel.axes.get_images()[0].get_array())
    assert image.shape == (301, 301, 3)  # on the red band's grid
    x, y = (int(round(float(v))) for v in panel.background.wcs.world_to_pixel(SOURCE))
    assert image[y, x].min() > 100 and np.median(image[:50, :50]) < 40
    assert panel.contour_sets  # contours on the colour panel too


def test_contour_image_that_does_not_overlap_is_said_in_the_caption(tmp_path, optical_image):
    from tests.overlays.conftest import make_wcs, write_image

    far = write_image(tmp_path / "far.fits", np.random.default_rng(8).normal(0, 1, (50, 50)),
                      make_wcs(200.0, -30.0, 50, 4.0))
    drawing = draw(optical_image, contours=[far])
    assert drawing.panels[0].contour_sets == []
    assert "no overlap" in drawing.caption


def test_a_noiseless_model_image_is_contoured_down_from_its_peak(tmp_path, optical_image):
    from tests.overlays.conftest import gaussian_at, make_wcs, write_image

    wcs = make_wcs(SOURCE_RA, SOURCE_DEC, 64, 4.0)
    model = write_image(tmp_path / "model.fits", gaussian_at(wcs, (64, 64), SOURCE_RA, SOURCE_DEC, 20, 2.0), wcs)
    from hippo.io import read_image

    peak = float(read_image(model).data.max())  # the pixel nearest the 2.0 centre
    layer = draw(optical_image, contours=[model]).layers[0]
    assert layer.levels == pytest.approx([peak / math.sqrt(2) ** n for n in range(8, 0, -1)], rel=1e-6)
    assert math.isnan(layer.noise_rms)


def test_noise_given_as_a_number_or_as_a_local_rms_map(radio_image, optical_image):
    layer = draw(optical_image, contours=[radio_image], noise=2e-4).layers[0]
    assert layer.noise_rms == 2e-4 and layer.levels[0] == pytest.approx(6e-4)
    drawing = draw(optical_image, contours=[radio_image], noise="local", levels=4)
    layer = drawing.layers[0]
    assert layer.local_noise and layer.levels[:3] == pytest.approx([4, 4 * math.sqrt(2), 8])
    # contours of signal-to-noise: the 10 mJy source over 0.1 mJy noise reaches about 100 sigma
    assert 64 <= layer.levels[-1] <= 128
    assert "signal-to-noise from a local rms map" in drawing.caption


def test_zero_filled_blank_area_does_not_collapse_the_noise_estimate(tmp_path):
    """A survey edge padded with exact zeros (as SkyView does) over 60 % of the image: the levels are
    still 3 sigma of the data part, not a noiseless model's levels down from the peak."""
    from tests.overlays.conftest import gaussian_at, make_wcs, write_image

    wcs = make_wcs(SOURCE_RA, SOURCE_DEC, 200, 4.0)
    data = np.random.default_rng(11).normal(0.0, 1e-4, (200, 200))
    data += gaussian_at(wcs, (200, 200), SOURCE_RA - 0.05, SOURCE_DEC, BEAM_FWHM_ARCSEC, 1e-2)
    data[:, :120] = 0.0
    edge = write_image(tmp_path / "edge.fits", data, wcs, BUNIT="JY/BEAM", BMAJ=20.0 / 3600, BMIN=20.0 / 3600)
    drawing = draw(edge, contours=[edge])
    layer = drawing.layers[0]
    assert layer.noise_rms == pytest.approx(1e-4, rel=0.03)
    assert layer.levels[0] == pytest.approx(3e-4, rel=0.03) and layer.negative == pytest.approx(-3e-4, rel=0.03)
    assert "3σ × √2ⁿ" in drawing.caption


def test_images_already_read_draw_the_same_figure_and_are_recorded_by_their_files(tmp_path, radio_image,
                                                                                 optical_image):
    from PIL import Image as PngImage

    from hippo.io import read_image
    from hippo.overlays import overlay
    from hippo.store import Store

    from_paths = draw(optical_image, contours=[radio_image]).panels[0].contour_sets[0][0]
    from_images = draw(read_image(optical_image), contours=[read_image(radio_image)]).panels[0].contour_sets[0][0]
    assert from_images.levels == from_paths.levels and from_images.noise_rms == from_paths.noise_rms
    output = overlay(read_image(optical_image), contours=[read_image(radio_image)], output=tmp_path / "o.png",
                     store=tmp_path / "hippo.db", source="S1")
    with PngImage.open(output) as picture:
        description = picture.text["Description"]
    assert f"image={optical_image}" in description and f"contours=['{radio_image}']" in description
    with Store.open(tmp_path / "hippo.db") as store:
        row = store.connection.execute("SELECT image, contours FROM overlays").fetchone()
    assert tuple(row) == (str(optical_image), str(radio_image))


def test_the_beam_sits_inside_the_field_where_the_pixel_scale_is_not_the_reference_one(tmp_path):
    from astropy.io import fits

    background, _ = galactic_car_background(tmp_path)  # 1" of sky per pixel along x there, 2" along y
    with fits.open(background, mode="update") as hdul:  # its own contours, with a 16" round beam
        hdul[0].header.update(BMAJ=16 / 3600, BMIN=16 / 3600, BPA=0.0, BUNIT="JY/BEAM")
    panel = draw(background, contours=[background]).panels[0]
    (layer, patch), = panel.beam_patches
    vertices = patch.get_xy()[:-1]
    assert vertices[:, 0].min() > 0 and vertices[:, 1].min() > 0  # inside the lower-left corner, not cut off
    width, height = np.ptp(vertices, axis=0)
    assert (width, height) == pytest.approx((16.0, 8.0), rel=0.05)  # 16" of sky: 16 pixels along x, 8 along y
