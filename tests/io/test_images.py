"""The image input layer: every FITS flavour users bring, and a clean error for every bad one."""

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from hippo.errors import InputError
from hippo.io import read_image


def _wcs_header(shape=(51, 51), ra=150.0, dec=2.0, scale_arcsec=1.8):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return wcs.to_header()


def _write(path, data, header=None):
    fits.PrimaryHDU(data=data, header=header).writeto(path)
    return path


def test_plain_gzip_and_tile_compressed_give_the_same_pixels(tmp_path):
    # integers: tile compression of floats is lossy (quantised) by design
    data = np.random.default_rng(0).integers(-1000, 1000, size=(51, 51)).astype(np.int32)
    plain = _write(tmp_path / "a.fits", data, _wcs_header())
    with open(plain, "rb") as src, gzip.open(tmp_path / "a.fits.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data=data, header=_wcs_header(), compression_type="GZIP_2")]).writeto(tmp_path / "a.fits.fz")
    images = [read_image(tmp_path / name) for name in ("a.fits", "a.fits.gz", "a.fits.fz")]
    for image in images:
        np.testing.assert_array_equal(image.data, data)
        assert image.wcs.wcs_pix2world([[25, 25]], 0)[0] == pytest.approx([150.0, 2.0])
    assert images[2].hdu_index == 1


def test_scaled_integer_images_are_read_as_their_values(tmp_path):
    # uint16 (BZERO = 32768) and DN images with BSCALE/BLANK: astropy refuses to memory-map them
    counts = np.random.default_rng(1).integers(0, 65535, size=(51, 51)).astype(np.uint16)
    _write(tmp_path / "u16.fits", counts, _wcs_header())
    np.testing.assert_array_equal(read_image(tmp_path / "u16.fits").data, counts)
    values = 100.0 + 0.5 * np.arange(51 * 51).reshape(51, 51)
    hdu = fits.PrimaryHDU(data=values.copy(), header=_wcs_header())
    hdu.scale("int16", bscale=0.5, bzero=100.0)  # stored as int16 with BSCALE/BZERO
    hdu.writeto(tmp_path / "dn.fits")
    assert fits.getheader(tmp_path / "dn.fits")["BITPIX"] == 16
    np.testing.assert_allclose(read_image(tmp_path / "dn.fits").data, values)


def test_first_four_axis_header_is_reduced_to_two_axes(tmp_path):
    header = _wcs_header()
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"] = "FREQ", 1.4e9, 1e6, 1
    header["CTYPE4"], header["CRVAL4"], header["CDELT4"], header["CRPIX4"] = "STOKES", 1, 1, 1
    header["BMAJ"], header["BMIN"], header["BPA"] = 0.0015, 0.0015, 0.0
    data = np.ones((1, 1, 51, 51), np.float32)
    image = read_image(_write(tmp_path / "first.fits", data, header))
    assert image.shape == (51, 51)
    assert image.wcs.naxis == 2
    assert image.header["NAXIS"] == 2 and "CTYPE3" not in image.header
    assert image.beam_deg == (0.0015, 0.0015, 0.0)
    assert image.pixel_scale_arcsec == pytest.approx(1.8)


def test_skyview_tab_characters_in_comment_cards_are_tolerated(tmp_path):
    path = _write(tmp_path / "skyview.fits", np.ones((51, 51), np.float32), _wcs_header())
    raw = bytearray(path.read_bytes())
    card = b"COMMENT  SkyView\tsurvey:\tFIRST".ljust(80)
    end = raw.find(b"END" + b" " * 77)
    raw[end:end + 80] = card  # replace END with the TAB card and write END after it
    raw[end + 80:end + 160] = b"END".ljust(80)
    path.write_bytes(bytes(raw))
    image = read_image(path)
    assert "\t" not in str(image.header)
    assert image.wcs is not None


def test_real_first_mirabest_tile_compressed_image(shared_data):
    path = next((shared_data / "first_mirabest").glob("*.fits.fz"))
    image = read_image(path)
    assert image.shape == (300, 300)
    assert image.pixel_scale_arcsec == pytest.approx(1.8, rel=1e-3)
    # the file name carries the host RA/Dec: the image centre is there (within a pixel)
    ra, dec = (float(v) for v in path.name.split("_")[1].replace("+", " +").replace("-", " -").split())
    centre = image.wcs.pixel_to_world(149.5, 149.5)
    assert abs(centre.ra.deg - ra) * np.cos(np.radians(dec)) * 3600 < 2 * 1.8
    assert abs(centre.dec.deg - dec) * 3600 < 2 * 1.8


@pytest.mark.parametrize("name,content,reason", [
    ("missing.fits", None, "no such file"),
    ("notfits.fits", b"this is a CSV file,really\n1,2\n", "not a FITS file"),
    ("empty.fits", b"", "not a readable FITS file"),
])
def test_unusable_files_name_the_file_and_the_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=reason) as info:
        read_image(path)
    assert name in str(info.value)


def test_truncated_fits_is_reported_not_read_as_garbage(tmp_path):
    path = _write(tmp_path / "cut.fits", np.ones((200, 200), np.float32), _wcs_header((200, 200)))
    path.write_bytes(path.read_bytes()[: 2880 + 40000])
    with pytest.raises(InputError, match="cut.fits: .*(truncated|not a readable)"):
        read_image(path)


@pytest.mark.parametrize("kept_bytes", [3000, 9000])
def test_tile_compressed_file_cut_short_is_called_truncated_not_imageless(tmp_path, kept_bytes):
    # astropy drops a compressed extension cut short without a word; the message says why it is missing
    path = tmp_path / "cut.fits.fz"
    data = np.random.default_rng(0).normal(size=(200, 200)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data=data, header=_wcs_header((200, 200)))]).writeto(path)
    path.write_bytes(path.read_bytes()[:kept_bytes])
    with pytest.raises(InputError, match=f"cut.fits.fz: .*truncated \\({kept_bytes} bytes"):
        read_image(path)


def test_table_only_fits_has_no_image(tmp_path):
    from astropy.table import Table

    Table({"ra": [1.0], "dec": [2.0]}).write(tmp_path / "cat.fits")
    with pytest.raises(InputError, match="no image HDU"):
        read_image(tmp_path / "cat.fits")


def test_all_nan_image_is_rejected(tmp_path):
    path = _write(tmp_path / "nan.fits", np.full((20, 20), np.nan, np.float32), _wcs_header((20, 20)))
    with pytest.raises(InputError, match="every pixel is NaN"):
        read_image(path)


def test_image_without_wcs_is_rejected_only_where_a_wcs_is_needed(tmp_path):
    path = _write(tmp_path / "nowcs.fits", np.ones((20, 20), np.float32))
    with pytest.raises(InputError, match="no celestial WCS"):
        read_image(path)
    assert read_image(path, require_wcs=False).wcs is None


def test_a_wcs_wcslib_refuses_is_one_line_saying_why(tmp_path):
    header = _wcs_header()
    header["CDELT1"] = 0.0
    path = _write(tmp_path / "cdelt0.fits", np.ones((51, 51), np.float32), header)
    with pytest.raises(InputError) as raised:
        read_image(path)
    message = str(raised.value)
    assert "singular" in message and "ERROR" not in message and "\n" not in message


def test_cube_with_real_third_axis_is_refused(tmp_path):
    path = _write(tmp_path / "cube.fits", np.ones((3, 20, 20), np.float32))
    with pytest.raises(InputError, match="non-degenerate extra axes"):
        read_image(path, require_wcs=False)


@pytest.mark.parametrize("damage, reason", [
    (lambda gz: gz[:-8] + bytes([gz[-8] ^ 0xFF]) + gz[-7:], "compressed data is corrupt (CRC check failed)"),
    (lambda gz: gz[:-4], "compressed data ends early: the file is truncated"),
])
def test_a_gzip_file_that_fails_its_checks_is_refused_not_read(tmp_path, damage, reason):
    # astropy stops reading at the image's end and never reaches gzip's trailer, which holds the checks
    path = _write(tmp_path / "a.fits", np.ones((51, 51), np.float32), _wcs_header())
    (tmp_path / "a.fits.gz").write_bytes(damage(gzip.compress(path.read_bytes())))
    with pytest.raises(InputError) as raised:
        read_image(tmp_path / "a.fits.gz")
    assert str(raised.value) == f"{tmp_path / 'a.fits.gz'}: {reason}"


def test_a_gzip_file_with_bytes_after_its_data_is_read_as_gzip_reads_it(tmp_path):
    # gzip(1): "decompression OK, trailing garbage ignored"; the checks of the data itself passed
    path = _write(tmp_path / "a.fits", np.ones((51, 51), np.float32), _wcs_header())
    (tmp_path / "a.fits.gz").write_bytes(gzip.compress(path.read_bytes()) + b"\n")
    assert read_image(tmp_path / "a.fits.gz").data.shape == (51, 51)


def test_a_singular_cd_matrix_is_refused_not_read_as_an_image_nowhere(tmp_path):
    header = _wcs_header()
    del header["CDELT1"], header["CDELT2"]
    header["CD1_1"] = header["CD1_2"] = header["CD2_1"] = header["CD2_2"] = 1e-4
    path = _write(tmp_path / "singular.fits", np.ones((51, 51), np.float32), header)
    with pytest.raises(InputError, match="singular.fits: the WCS's pixel matrix .* is singular: pixels have no size"):
        read_image(path)


def test_pixels_too_large_to_project_are_refused_with_the_pixel_size(tmp_path):
    header = _wcs_header()
    header["CTYPE1"], header["CTYPE2"] = "RA---SIN", "DEC--SIN"
    header["CDELT1"], header["CDELT2"] = -90.0, 90.0
    header["CRPIX2"] = -127.0  # the centre pixel lands off the sphere
    path = _write(tmp_path / "huge.fits", np.ones((51, 51), np.float32), header)
    with pytest.raises(InputError, match="huge.fits: the image does not project onto the sky: .*pixels of 90 deg"):
        read_image(path)


def test_a_file_that_is_not_fits_says_so_without_astropys_advice(tmp_path):
    (tmp_path / "notes.fits").write_text("ra,dec\n150.0,2.0\n")
    with pytest.raises(InputError) as raised:
        read_image(tmp_path / "notes.fits")
    assert str(raised.value) == f"{tmp_path / 'notes.fits'}: not a FITS file (it does not start with a SIMPLE card)"
