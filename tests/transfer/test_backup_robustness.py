"""Backups that must not lose data when the destination loses objects, a manifest is damaged, a clock
is behind, a directory cannot be listed, a file cannot be read or has a date a zip cannot hold."""

import contextlib
import gzip
import os
import time
import zipfile

import pytest
from test_transfer import make_tree, snapshot

from hippo.transfer import backup, list_backups, open_backend, restore, verify
from hippo.transfer.manifest import DAMAGED, DATA, MANIFESTS

SMALL = 64 << 10  # files below this go into zips in these tests (keeps trees tiny)
LARGE = 5 << 20   # above the command line's 4 MiB: sent as an object of its own


@contextlib.contextmanager
def closed_to_us(path, then):
    """``path`` with mode 000 inside the block (no one but root may read or list it), ``then`` after."""
    path.chmod(0)
    try:
        yield
    finally:
        path.chmod(then)

def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_objects_lost_at_the_destination_are_sent_again(tmp_path, dest):
    src = make_tree(tmp_path / "src", n_small=12, large_bytes=SMALL + 1000)
    backup(src, dest, small_file_limit=SMALL, quiet=True)
    backend = open_backend(dest)
    for info in list(backend.list(DATA)):  # a lifecycle rule or a mistaken delete
        backend.remove(info.key)
    assert not verify(src, dest)["ok"]

    again = backup(src, dest, small_file_limit=SMALL, quiet=True)
    assert again["send_files"] == 14 and again["failures"] == []
    assert verify(src, dest, deep=True)["ok"]
    result = restore(dest, tmp_path / "out", quiet=True)
    assert result["failures"] == [] and snapshot(tmp_path / "out") == snapshot(src)
    assert backup(src, dest, small_file_limit=SMALL, quiet=True)["send_files"] == 0  # healed for good


def test_an_s3_object_replaced_by_other_bytes_has_its_files_sent_again(tmp_path, s3_dest, seaweed):
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=10)
    backup(src, s3_dest, quiet=True)
    (key,) = [o.key for o in open_backend(s3_dest).list(DATA)]
    bucket, _, prefix = s3_dest[5:].partition("/")
    client = seaweed.client()
    body = bytearray(client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read())
    body[-200] ^= 0xFF  # same size, another ETag
    client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=bytes(body))

    assert backup(src, s3_dest, quiet=True)["send_files"] == 8
    assert verify(src, s3_dest, deep=True)["ok"]
    restore(s3_dest, tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)


def test_objects_deep_verify_finds_corrupt_are_sent_again_by_the_next_backup(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=SMALL + 1000)
    store = tmp_path / "store"
    first = backup(src, store, small_file_limit=SMALL, quiet=True)["manifest"]
    (zip_path,) = store.glob("data/zip/*/*.zip")
    (blob_path,) = store.glob("data/blob/*")
    with zipfile.ZipFile(zip_path) as archive:
        member = archive.getinfo("cutouts/s1/f004.fits")
    for path, offset in ((zip_path, member.header_offset + 30 + len(member.filename) + 5), (blob_path, 1000)):
        rotten = bytearray(path.read_bytes())
        rotten[offset] ^= 0xFF  # bit rot at rest: same size, and a local disk keeps no ETag
        path.write_bytes(bytes(rotten))
    assert hippo_cli("verify", src, store).returncode == 0  # only reading the bytes shows it

    deep = hippo_cli("verify", src, store, "--deep")
    assert deep.returncode == 1
    in_zip, in_blob = sorted(error_lines(deep.stderr))
    assert in_zip.startswith(f"error: cutouts/s1/f004.fits: stored copy in {zip_path.relative_to(store).as_posix()} "
                             "is corrupt (")  # the zip's own CRC-32 sees it first
    assert in_blob == (f"error: models/weights.pt: stored copy {blob_path.relative_to(store).as_posix()} is corrupt "
                       "(sha256 differs); the next backup sends it again")
    assert in_zip.endswith("; the next backup sends it again")

    again = backup(src, store, small_file_limit=SMALL, quiet=True)
    assert again["send_files"] == 7 + 1  # the zip's files and the large file
    assert list(open_backend(store).list(DAMAGED)) == []  # acted on
    assert hippo_cli("verify", src, store, "--deep").returncode == 0
    restore(store, tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)
    assert backup(src, store, small_file_limit=SMALL, quiet=True)["send_files"] == 0
    # The zip was written again under its own name (same members), so the older backup's small files are whole again.
    old = restore(store, tmp_path / "old", manifest=first, include=["cutouts"], quiet=True)
    assert old["failures"] == [] and old["files"] == 6


def test_mtimes_a_zip_cannot_hold_are_backed_up_and_restored_exactly(tmp_path, dest):
    src = tmp_path / "src"
    src.mkdir()
    mtimes = {"from_2108.txt": 4_354_819_200_123_456_789, "from_2200.txt": 7_258_118_400_000_000_001,
              "from_1979.txt": 315_000_000_000_000_000, "from_1960.txt": -315_619_200_000_000_000,
              "today.txt": time.time_ns()}
    for name, mtime_ns in mtimes.items():
        (src / name).write_text(name)
        os.utime(src / name, ns=(mtime_ns, mtime_ns))
    result = backup(src, dest, quiet=True)
    assert result["failures"] == [] and result["send_files"] == 5
    restore(dest, tmp_path / "out", quiet=True)
    assert {name: (tmp_path / "out" / name).stat().st_mtime_ns for name in mtimes} == mtimes
    assert snapshot(tmp_path / "out") == snapshot(src)


def test_a_directory_that_cannot_be_listed_keeps_its_files_in_the_latest_backup(tmp_path, dest, hippo_as_user):
    src = tmp_path / "src"
    (src / "results/deeper").mkdir(parents=True)
    for i in range(3):
        (src / f"results/r{i}.fits").write_text(f"result {i}")
    (src / "results/deeper/d.fits").write_text("deeper")
    (src / "top.txt").write_text("top")
    backup(src, dest, quiet=True)
    (src / "top.txt").write_text("top, edited")
    before = snapshot(src)
    with closed_to_us(src / "results", then=0o755):  # for this run only (EIO, a stale NFS handle behave the same)
        result = hippo_as_user("backup", src, dest)
    assert result.returncode == 3
    assert error_lines(result.stderr) == ["error: results: Permission denied"]
    assert restore(dest, tmp_path / "out", quiet=True)["failures"] == []
    (tmp_path / "out/results").chmod(0o755)  # restored as that run saw it: mode 000
    restored = snapshot(tmp_path / "out")
    assert (tmp_path / "out/top.txt").read_text() == "top, edited"
    assert {k: v for k, v in restored.items() if k != "results"} == {k: v for k, v in before.items() if k != "results"}


def _damage(dest, key, how):
    backend = open_backend(dest)
    data = backend.get(key)
    backend.put(key, data[:len(data) // 2] if how == "truncated" else b"not a manifest at all")


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_damaged_latest_manifest_is_named_and_backup_builds_on_the_one_before(tmp_path, dest, hippo_cli, how):
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=10)
    first = backup(src, dest, quiet=True)["manifest"]
    (src / "notes.txt").write_text("second run")
    damaged = backup(src, dest, quiet=True)["manifest"]
    _damage(dest, damaged, how)

    checked = hippo_cli("verify", src, dest)
    assert checked.returncode == 1
    line, *others = error_lines(checked.stderr)
    assert others == ["error: notes.txt: not in the backup"]  # as the backup before it holds the tree
    assert line.startswith(f"error: {damaged}: damaged manifest (")
    assert line.endswith(f"; checked against {first} instead (the next backup writes a new manifest)")
    chosen = hippo_cli("restore", dest, tmp_path / "nowhere", "--manifest", damaged.removeprefix(MANIFESTS))
    assert chosen.returncode == 2 and chosen.stderr.startswith(f"error: {damaged}: damaged manifest (")

    # The tree as the first backup holds it: nothing to send, yet a new manifest is due, or the
    # damaged one would stay the latest.
    (src / "notes.txt").unlink()
    third = hippo_cli("backup", src, dest)
    assert third.returncode == 0, third.stderr
    warnings = [line for line in third.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {damaged}: damaged manifest (")
    assert warnings[0].endswith(f"; this backup builds on {first}")
    assert hippo_cli("verify", src, dest).returncode == 0
    restore(dest, tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)


def test_with_every_manifest_damaged_backup_sends_the_whole_tree_again(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=10)
    store = tmp_path / "store"
    only = backup(src, store, quiet=True)["manifest"]
    (store / only).write_bytes(gzip.compress(b"[1, 2, 3]\n"))  # gzip and JSON, but no manifest
    result = hippo_cli("backup", src, store)
    assert result.returncode == 0
    assert result.stderr.startswith(f"warning: {only}: damaged manifest (not a backup manifest); this backup "
                                    "builds on no earlier backup (every file is sent)\n")
    assert "sent 8 files" in result.stderr
    restore(store, tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)


def test_a_backup_written_by_a_clock_that_is_behind_is_still_the_latest(tmp_path, dest, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "paper.tex").write_text("draft 1")
    first = backup(src, dest, quiet=True)["manifest"]
    (src / "paper.tex").write_text("final version")
    (src / "new_results.csv").write_text("1,2,3")
    real_clock = time.time_ns
    with monkeypatch.context() as behind:
        behind.setattr(time, "time_ns", lambda: real_clock() - 2 * 3600 * 10**9)  # another host, 2 h behind
        second = backup(src, dest, quiet=True)["manifest"]

    assert [b["manifest"] for b in list_backups(dest)] == [first, second]
    restore(dest, tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)
    assert verify(src, dest)["ok"]
    assert backup(src, dest, quiet=True)["manifest"] == second  # nothing changed since: it builds on it


def test_an_unreadable_large_file_is_listed_and_keeps_its_last_copy(tmp_path, dest, hippo_as_user):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"ok{i:02d}.txt").write_text(f"ok {i}")
    (src / "cube.fits").write_bytes(os.urandom(LARGE))
    (src / "mosaic.fits").write_bytes(os.urandom(LARGE))
    first_cube = (src / "cube.fits").read_bytes()
    backup(src, dest, quiet=True)

    (src / "cube.fits").write_bytes(os.urandom(LARGE))  # rewritten by another user, who then closed it to us
    (src / "mosaic.fits").write_bytes(os.urandom(LARGE))
    (src / "new.txt").write_text("new")
    with closed_to_us(src / "cube.fits", then=0o644):
        result = hippo_as_user("backup", src, dest)
    assert result.returncode == 3
    assert error_lines(result.stderr) == ["error: cube.fits: Permission denied"]
    # What was sent, not what was planned: the unreadable file is in no object.
    assert "; sent 2 files (5242883 bytes) in 1 zips and 1 large objects;" in result.stderr

    restore(dest, tmp_path / "out", quiet=True)
    assert (tmp_path / "out/cube.fits").read_bytes() == first_cube
    assert (tmp_path / "out/mosaic.fits").read_bytes() == (src / "mosaic.fits").read_bytes()
    assert (tmp_path / "out/new.txt").read_text() == "new" and len(os.listdir(tmp_path / "out")) == 23
