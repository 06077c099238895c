"""Bad inputs found by a sweep of every command: each is one line naming the input and why, and
the rest of the work goes on."""

import gzip
import os

import numpy as np
import pytest
from astropy.io import fits

import hippo
from hippo.archive.local import TileDirectorySurvey
from hippo.io import read_image, read_positions

FIRST = "first_mirabest/100_010.451-009.284_0.0529_0080.60.fits.fz"


def test_an_output_path_that_is_a_directory_is_one_line_and_nothing_is_left(shared_data, hippo_cli, tmp_path):
    (tmp_path / "labels.csv").mkdir()
    result = hippo_cli("classify", shared_data / FIRST, "-o", tmp_path / "labels.csv", "--threads", "1")
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'labels.csv'}: is a directory; give a file name for the output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"] and not any((tmp_path / "labels.csv").iterdir())


@pytest.mark.parametrize("command, message", [
    (("overlay", "x.fits", "--dpi", "0", "-o", "x.png"), "argument --dpi: 0 is outside 10..1200"),
    (("backup", "src", "dest", "--retries", "-1"), "argument --retries: -1 is below 0"),
])
def test_numbers_outside_their_range_are_usage_errors(hippo_cli, tmp_path, command, message):
    result = hippo_cli(*command, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(f"error: hippo {command[0]}: {message}")
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_a_catalogue_saved_by_excel_keeps_its_ids(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark: the id column was not found and every
    source got an IAU name instead of its id."""
    catalogue = tmp_path / "sources.csv"
    catalogue.write_bytes(b"\xef\xbb\xbfid,ra,dec\r\n0007,228.1133,45.6739\r\nM87,187.7059,12.3911\r\n")
    assert list(read_positions(catalogue).table["name"]) == ["0007", "M87"]


def test_a_wcs_with_nan_is_an_error_row_not_a_position_at_1e107(shared_data, tmp_path):
    with fits.open(shared_data / FIRST) as hdul:
        data, header = hdul[1].data, hdul[1].header.copy()
    path = tmp_path / "nan_crval.fits"
    fits.writeto(path, data, header)  # astropy will not write NaN in a header: patched as text
    raw = bytearray(path.read_bytes())
    card = raw.index(b"CRVAL1  = ")
    raw[card:card + 80] = b"CRVAL1  =                  NaN".ljust(80)
    path.write_bytes(bytes(raw))
    (row,) = hippo.classify([tmp_path / "nan_crval.fits", shared_data / FIRST], threads=1, quiet=True)[:1]
    assert row["flag"] == "error" and "header card CRVAL1 cannot be read" in row["message"]
    assert np.isnan(row["ra"])


def test_one_unparsable_card_does_not_make_the_image_unreadable(shared_data, tmp_path):
    with fits.open(shared_data / FIRST) as hdul:
        data, header = hdul[1].data, hdul[1].header.copy()
    path = tmp_path / "bad_card.fits"
    fits.writeto(path, data, header)
    raw = bytearray(path.read_bytes())
    card = raw.index(b"BUNIT   = ")
    raw[card:card + 80] = b"DATE    = 2017-06-28 written without quotes".ljust(80)
    path.write_bytes(bytes(raw))
    image = read_image(path)
    assert image.data.shape == (300, 300) and image.wcs.has_celestial


def test_a_dangling_link_among_the_tiles_is_skipped(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("HIPPO_CACHE_DIR", str(tmp_path / "cache"))
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    (tiles / "first.fits.fz").symlink_to(shared_data / FIRST)
    (tiles / "gone.fits").symlink_to(tmp_path / "nowhere.fits")
    (tiles / "loop.fits").symlink_to(tiles / "loop.fits")
    survey = TileDirectorySurvey(tiles)
    assert len(survey.index.entries) == 1
    from astropy.coordinates import SkyCoord

    cut = survey.cutout(SkyCoord(10.4509, -9.28422, unit="deg"), "1arcmin")
    assert cut.status == "ok"


def test_an_input_that_cannot_be_read_is_described_without_a_checksum(tmp_path, monkeypatch):
    from hippo import provenance

    (tmp_path / "locked.fits").write_bytes(b"x" * 2880)

    def refuse(path, chunk_size=0):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(provenance, "sha256_file", refuse)
    (entry,) = provenance.describe_inputs([tmp_path / "locked.fits"])
    assert entry["sha256"] is None and entry["unreadable"] == "Permission denied" and entry["size"] == 2880
    assert os.path.exists(tmp_path / "locked.fits")


def _sky_fits(path, text_cards=(), **cards):
    """A 100 x 100 noise image, SIN at 1.8"/px centred on (228, 45.6), with ``cards`` set, and
    ``text_cards`` ((key, value) pairs) patched in as text where astropy would not write them (NaN)."""
    header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 228.0, "CRVAL2": 45.6,
                          "CRPIX1": 50.5, "CRPIX2": 50.5, "CDELT1": -5e-4, "CDELT2": 5e-4, "CROTA2": 0.0,
                          "BUNIT": "JY/BEAM", **cards})
    noise = np.random.default_rng(7).normal(0.0, 1e-4, size=(100, 100)).astype(np.float32)
    fits.PrimaryHDU(noise, header=header).writeto(path)
    raw = bytearray(path.read_bytes())
    for key, value in text_cards:
        card = raw.index(key.ljust(8).encode() + b"= ")
        raw[card:card + 80] = f"{key:<8}= {value:>20}".ljust(80).encode()
    path.write_bytes(bytes(raw))
    return path


def _commands(image, tmp_path):
    return {"cutout": ("cutout", "--ra", "228.0", "--dec", "45.6", "--survey", image, "-o", tmp_path / "out"),
            "overlay": ("overlay", "--image", image, "-o", tmp_path / "overlay.png"),
            "classify": ("classify", image, "-o", tmp_path / "labels.csv", "--threads", "1")}


@pytest.mark.parametrize("command", ["cutout", "overlay", "classify"])
def test_a_gzip_file_whose_crc_check_fails_is_an_error_not_an_image(hippo_cli, tmp_path, command):
    # astropy never reads gzip's trailer: the pixels of a corrupt stream were used as if they were fine
    plain = _sky_fits(tmp_path / "sky.fits")
    packed = gzip.compress(plain.read_bytes())
    plain.unlink()
    bad = tmp_path / "bad.fits.gz"
    bad.write_bytes(packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:])  # the CRC no longer matches
    result = hippo_cli(*_commands(bad, tmp_path)[command])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.endswith(f"{bad}: compressed data is corrupt (CRC check failed)")
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert written == (["bad.fits.gz", "cutouts.csv"] if command == "cutout" else ["bad.fits.gz"])


@pytest.mark.parametrize("command", ["cutout", "overlay"])
def test_a_singular_cd_matrix_is_refused_as_classify_refuses_it(hippo_cli, tmp_path, command):
    # all four CD entries equal: overlay drew meaningless axes, cutout said no_coverage
    image = _sky_fits(tmp_path / "singular.fits", CD1_1=1e-4, CD1_2=1e-4, CD2_1=1e-4, CD2_2=1e-4)
    result = hippo_cli(*_commands(image, tmp_path)[command])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.endswith(f"{image}: the WCS's pixel matrix (CD or CDELT/PC) is singular: pixels have no size on the sky")
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert written == (["cutouts.csv", "singular.fits"] if command == "cutout" else ["singular.fits"])


def test_classify_says_what_is_wrong_with_each_bad_file_in_one_line_and_goes_on(hippo_cli, tmp_path):
    garbage = tmp_path / "notes.fits"
    garbage.write_text("ra,dec\n228.0,45.6\n")
    huge = _sky_fits(tmp_path / "huge.fits", CDELT1=-90.0, CDELT2=90.0, CRPIX2=-127.0)
    nan_cdelt = _sky_fits(tmp_path / "nan_cdelt.fits", text_cards=[("CDELT1", "NaN")])
    nan_crota = _sky_fits(tmp_path / "nan_crota.fits", text_cards=[("CROTA2", "NaN")])
    good = _sky_fits(tmp_path / "good.fits")
    result = hippo_cli("classify", garbage, huge, nan_cdelt, nan_crota, good, "-o", tmp_path / "labels.csv",
                       "--threads", "1")
    assert result.returncode == 3
    # one line per bad file and nothing else: no numpy RuntimeWarning, no astropy advice
    assert [line for line in result.stderr.splitlines() if not line.startswith("5 images classified")] == [
        f"error: {garbage}: not a FITS file (it does not start with a SIMPLE card)",
        f"error: {huge}: the image does not project onto the sky: its centre pixel has no sky position "
        "(pixels of 90 deg: CDELT or CD far too large?)",
        f"error: {nan_cdelt}: header card CDELT1 cannot be read: the image cannot be placed on the sky",
        f"error: {nan_crota}: header card CROTA2 cannot be read: the image cannot be placed on the sky",
    ]
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert len(rows) == 6 and rows[-1].startswith("good,228.0")
