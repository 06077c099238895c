"""What users type: negative angles with units, stray words, and input paths that are links or FIFOs."""

import os

import pytest

from hippo.cli import build_parser
from hippo.io.fitsfiles import find_fits_files

FIRST = "first_mirabest/100_010.451-009.284_0.0529_0080.60.fits.fz"


@pytest.mark.parametrize("value", ["-5arcmin", "-1deg", "-3.2e1arcsec", "-00:30:00", "-9d17m02s", "-.5deg", "-7"])
def test_a_negative_value_with_a_unit_is_a_value_not_an_option(value):
    args = build_parser().parse_args(["store", "cone", "--ra", "10", "--dec", value, "--radius", value])
    assert args.dec == value and args.radius == value


def test_a_negative_size_is_refused_for_what_it_is(hippo_cli, tmp_path):
    result = hippo_cli("cutout", "--ra", "228.1", "--dec", "45.6", "--size", "-5arcmin", "--survey", "x.fits",
                       "-o", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: --size: must be a positive finite angle, got '-5arcmin'\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, prog", [
    (("cutout", "--ra", "228.1", "--dec", "45.6", "--size", "4.5", "arcmin", "--survey", "x.fits"), "hippo cutout"),
    (("store", "cone", "--ra", "10", "--dec", "0", "--radius", "1", "deg"), "hippo store cone"),
])
def test_a_stray_word_is_reported_by_the_subcommand_that_did_not_expect_it(hippo_cli, tmp_path, command, prog):
    result = hippo_cli(*command, cwd=tmp_path)
    word = command[-1] if command[0] == "store" else "arcmin"
    assert result.returncode == 2
    assert result.stderr == f"error: {prog}: unrecognized arguments: {word} (see '{prog} --help')\n"


@pytest.fixture
def odd_entries(tmp_path):
    """A folder with a link loop, a dangling link and a FIFO, all named *.fits, and one FITS file."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "loop_a.fits").symlink_to("loop_b.fits")
    (folder / "loop_b.fits").symlink_to("loop_a.fits")
    (folder / "gone.fits").symlink_to(tmp_path / "nowhere.fits")
    os.mkfifo(folder / "pipe.fits")
    (folder / "notes.txt").symlink_to("notes.txt")  # not FITS by name: not an input
    return folder


def test_links_and_fifos_in_a_folder_are_named_with_the_real_reason(odd_entries):
    (odd_entries / "real.fits").write_bytes(b"")
    files, missing = find_fits_files(odd_entries)
    assert files == [odd_entries / "real.fits"]
    assert missing == [
        (str(odd_entries / "gone.fits"), f"dangling symbolic link (its target {odd_entries.parent / 'nowhere.fits'} "
                                         "does not exist)"),
        (str(odd_entries / "loop_a.fits"), "symbolic link loop (too many levels of symbolic links)"),
        (str(odd_entries / "loop_b.fits"), "symbolic link loop (too many levels of symbolic links)"),
        (str(odd_entries / "pipe.fits"), "not a regular file (a FIFO)")]
    named = find_fits_files([odd_entries / "loop_a.fits", odd_entries / "pipe.fits", odd_entries / "absent.fits"])
    assert named == ([], [(str(odd_entries / "loop_a.fits"), "symbolic link loop (too many levels of symbolic links)"),
                          (str(odd_entries / "pipe.fits"), "not a regular file (a FIFO)"),
                          (str(odd_entries / "absent.fits"), "no such file or directory")])


def test_classify_reports_each_odd_entry_and_classifies_the_rest(shared_data, hippo_cli, odd_entries, tmp_path):
    (odd_entries / "first.fits.fz").symlink_to(shared_data / FIRST)
    result = hippo_cli("classify", odd_entries, "-q", "-o", tmp_path / "labels.csv", "--threads", "1")
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {odd_entries / 'gone.fits'}: dangling symbolic link (its target {tmp_path / 'nowhere.fits'} "
        "does not exist)",
        f"error: {odd_entries / 'loop_a.fits'}: symbolic link loop (too many levels of symbolic links)",
        f"error: {odd_entries / 'loop_b.fits'}: symbolic link loop (too many levels of symbolic links)",
        f"error: {odd_entries / 'pipe.fits'}: not a regular file (a FIFO)"]
    assert len((tmp_path / "labels.csv").read_text().splitlines()) == 1 + 5  # one row per input, errors too
