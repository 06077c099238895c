"""Destinations that cannot be written (a file where a folder should be, a read-only folder) are
refused before any work with one line naming them: backup, demo and batch classify, as classify,
xmatch, overlay and cutout already were."""

import os

import pytest


@pytest.fixture
def places(tmp_path):
    """``src`` to back up, ``afile`` (a file) and ``ro`` (a read-only folder)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("keep me")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "ro").mkdir(mode=0o555)
    yield tmp_path
    (tmp_path / "ro").chmod(0o755)


def one_error(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("destination,reason", [
    ("afile", "is a file, not a folder"),
    ("ro/x", "cannot write here (Permission denied)"),
    ("ro", "cannot write here (Permission denied)"),  # the lock's temporary file not named
])
def test_backup_to_an_unwritable_destination_names_it(hippo_as_user, places, destination, reason):
    result = hippo_as_user("backup", places / "src", places / destination)
    assert result.returncode == 2
    assert one_error(result) == f"error: {places / destination}: {reason}"
    assert os.listdir(places / "ro") == [] and (places / "afile").read_text() == "not a folder"


def test_backup_dry_run_into_a_file_is_refused_too(hippo_cli, places):
    result = hippo_cli("backup", "--dry-run", places / "src", places / "afile")
    assert result.returncode == 2 and one_error(result) == f"error: {places / 'afile'}: is a file, not a folder"


def test_demo_into_a_read_only_folder_names_it(hippo_as_user, places):
    result = hippo_as_user("demo", "-o", places / "ro" / "demo")
    assert result.returncode == 2
    assert one_error(result) == f"error: {places / 'ro' / 'demo'}: cannot write here (Permission denied)"
    assert os.listdir(places / "ro") == []


@pytest.mark.parametrize("output", ["ro/l.csv", "ro/new/l.csv", "afile/l.csv"])
def test_batch_classify_into_a_read_only_folder_is_refused_before_any_shard(hippo_as_user, places, shared_data, output):
    image = next((shared_data / "first_mirabest").glob("*.fits.fz"))
    result = hippo_as_user("batch", "classify", image, "-o", output, "--dask", "local", "--workers", "1", cwd=places)
    assert result.returncode == 2
    why = "afile is a file, not a folder" if output.startswith("afile") else "Permission denied"
    assert one_error(result) == f"error: {output}: cannot write here ({why})"
    assert os.listdir(places / "ro") == [] and sorted(os.listdir(places)) == ["afile", "ro", "src"]
