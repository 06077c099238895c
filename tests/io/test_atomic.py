"""Atomic writes: outputs get the mode of any new file, also when many threads write at once; a full
disk names the output, and leaves nothing behind."""

import contextlib
import errno
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from hippo.errors import InputError
from hippo.io import atomic_path, atomic_write_bytes


def test_parallel_atomic_writes_all_get_the_umask_mode(tmp_path):
    previous = os.umask(0o002)
    try:
        paths = [tmp_path / f"out{i}.bin" for i in range(400)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda path: atomic_write_bytes(path, b"x"), paths))
    finally:
        os.umask(previous)
    modes = {oct(path.stat().st_mode & 0o777) for path in paths}
    assert modes == {oct(0o664)}


def test_a_full_disk_while_writing_names_the_output_and_leaves_nothing(tmp_path):
    output = tmp_path / "x.fits"
    with pytest.raises(InputError) as raised:
        with atomic_path(output) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(raised.value) == f"{output}: no space left on device"
    assert os.listdir(tmp_path) == []


def test_a_full_disk_reported_without_its_errno_is_still_a_full_disk(tmp_path):
    """astropy raises a message of its own from the OSError that has the errno."""
    with pytest.raises(InputError, match="x.fits: no space left on device$"):
        with atomic_path(tmp_path / "x.fits"):
            try:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError:
                raise OSError("Not enough space on disk: requested 3192, available 0.")
    assert os.listdir(tmp_path) == []


def test_other_errors_in_the_block_are_the_callers_and_pass_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError):  # e.g. an input the block reads
        with atomic_path(tmp_path / "x.csv"):
            open(tmp_path / "missing.csv")
    assert os.listdir(tmp_path) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 512 KiB file system filled up, with the folder a run may write into (mounting needs root)."""
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", tiny], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs to fill (needs root)")
    try:
        with open(tiny / "filler", "wb") as filler:
            with contextlib.suppress(OSError):
                filler.write(b"\0" * (1 << 20))
        yield tiny
    finally:
        subprocess.run(["umount", tiny], check=True)


def _one_error(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_outputs_on_a_full_disk_are_named_and_nothing_is_left(full_disk, shared_data, hippo_cli, tmp_path):
    image = shared_data / "first_mirabest" / "100_010.451-009.284_0.0529_0080.60.fits.fz"
    catalogue = tmp_path / "radio.csv"
    catalogue.write_text("id,ra,dec\n" + "".join(f"r{i},{10 + i * 1e-3},-9.28\n" for i in range(50)))
    for command in (("classify", image, "-o", full_disk / "cl.fits"),
                    ("overlay", "--image", image, "-o", full_disk / "o.png"),
                    ("xmatch", catalogue, catalogue, "-o", full_disk / "x.parquet")):
        result = hippo_cli(*command)
        assert result.returncode == 2, result.stderr
        assert _one_error(result) == f"error: {command[-1]}: no space left on device"
        assert os.listdir(full_disk) == ["filler"]


def test_demo_on_a_full_disk_says_so_and_removes_its_half_built_folder(full_disk, hippo_cli):
    (full_disk / "filler").write_bytes(b"\0" * (200 << 10))  # room for the store, not for the images
    (full_disk / "mine").mkdir()  # a folder of the user's: kept, emptied of what the demo wrote
    for output in (full_disk / "new" / "demo", full_disk / "mine"):
        result = hippo_cli("demo", "-q", "-o", output)
        assert result.returncode == 2, result.stderr
        assert _one_error(result) == f"error: {output}: no space left on device"
    assert sorted(os.listdir(full_disk)) == ["filler", "mine"] and os.listdir(full_disk / "mine") == []
