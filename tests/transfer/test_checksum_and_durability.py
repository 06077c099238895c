"""backup --checksum (content judged by SHA-256, as rclone's), fsync of everything a local
destination writes, and databases backed up as raw bytes: exit 3, named again by restore and verify."""

import os
import sqlite3

import pytest

from hippo.transfer import backup, open_backend, restore, verify
from hippo.transfer.manifest import BackupState

MTIME = 1_600_000_000_123_456_789


def make_source(root):
    root.mkdir()
    (root / "notes.txt").write_bytes(b"first version\n")
    (root / "other.txt").write_bytes(b"never changes\n")
    (root / "big.bin").write_bytes(b"\x01" * (5 << 20))  # above the 4 MiB limit: an object of its own
    for name in ("notes.txt", "other.txt", "big.bin"):
        os.utime(root / name, ns=(MTIME, MTIME))
    return root


def rewrite_keeping_size_and_mtime(path, data):
    assert len(data) == path.stat().st_size
    info = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # as `touch -d` or an mtime-keeping tool


def summary(result):
    return next(line for line in result.stderr.splitlines() if " files, " in line)


def test_checksum_sends_what_size_and_mtime_miss_and_verify_deep_agrees(tmp_path, dest, hippo_cli):
    src = make_source(tmp_path / "src")
    first = hippo_cli("backup", src, dest)
    assert first.returncode == 0, first.stderr
    rewrite_keeping_size_and_mtime(src / "notes.txt", b"FIRST version\n")
    rewrite_keeping_size_and_mtime(src / "big.bin", b"\x02" * (5 << 20))

    # Plain backup trusts size and mtime, as rclone does without --checksum: the edits are missed...
    plain = hippo_cli("backup", src, dest)
    assert plain.returncode == 0 and "sent 0 files" in summary(plain), plain.stderr
    # ...and verify, which reads every file, says so.
    missed = hippo_cli("verify", src, dest)
    assert missed.returncode == 1
    assert {"error: notes.txt: content differs from the backup (sha256)",
            "error: big.bin: content differs from the backup (sha256)"} <= set(missed.stderr.splitlines())

    sent = hippo_cli("backup", src, dest, "--checksum")
    assert sent.returncode == 0, sent.stderr
    assert "sent 2 files" in summary(sent) and "1 zips and 1 large objects" in summary(sent)
    checked = hippo_cli("verify", src, dest, "--deep")
    assert checked.returncode == 0, checked.stderr
    # The large file keeps its path, size and mtime, so its object's name: the old object (held by
    # the first backup) is not taken for it, nor overwritten.
    restore(dest, tmp_path / "out", quiet=True)
    for name in ("notes.txt", "big.bin", "other.txt"):
        assert (tmp_path / "out" / name).read_bytes() == (src / name).read_bytes()
        assert (tmp_path / "out" / name).stat().st_mtime_ns == MTIME
    oldest = BackupState(open_backend(dest), manifest=sorted(o.key for o in open_backend(dest).list("manifests/"))[0])
    restore(dest, tmp_path / "old", manifest=oldest.header["run_id"], quiet=True)
    assert (tmp_path / "old/big.bin").read_bytes() == b"\x01" * (5 << 20)
    assert (tmp_path / "old/notes.txt").read_bytes() == b"first version\n"


def test_checksum_does_not_resend_a_file_whose_mtime_alone_changed(tmp_path):
    src = make_source(tmp_path / "src")
    store = tmp_path / "store"
    backup(src, store, quiet=True)
    os.utime(src / "notes.txt", ns=(MTIME + 10**9, MTIME + 10**9))
    os.utime(src / "big.bin", ns=(MTIME + 10**9, MTIME + 10**9))
    result = backup(src, store, checksum=True, quiet=True)
    assert (result["send_files"], result["objects_sent"], result["failures"]) == (0, 0, [])
    entries = BackupState(open_backend(store)).entries
    assert entries["notes.txt"]["mtime_ns"] == entries["big.bin"]["mtime_ns"] == MTIME + 10**9
    assert verify(src, store, size_only=True)["ok"]  # the manifest holds the new mtimes
    again = backup(src, store, checksum=True, quiet=True)
    assert again["send_files"] == 0 and again["manifest"] == result["manifest"]  # nothing changed: no new one


def test_checksum_dry_run_counts_the_rewritten_file(tmp_path):
    src = make_source(tmp_path / "src")
    backup(src, tmp_path / "store", quiet=True)
    rewrite_keeping_size_and_mtime(src / "notes.txt", b"FIRST version\n")
    assert backup(src, tmp_path / "store", dry_run=True, quiet=True)["send_files"] == 0
    assert backup(src, tmp_path / "store", dry_run=True, checksum=True, quiet=True)["send_files"] == 1


def test_every_file_a_local_backup_writes_is_synced_before_its_rename_and_its_folder_after(tmp_path, monkeypatch):
    src = make_source(tmp_path / "src")
    store = tmp_path / "store"
    synced, real_fsync = [], os.fsync

    def fsync(descriptor):  # the real fsync, recording what it was given
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        return real_fsync(descriptor)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc/self/fd to name a descriptor's file")
    monkeypatch.setattr(os, "fsync", fsync)
    backup(src, store, small_file_limit=64 << 10, quiet=True)
    written = [path for path in store.rglob("*") if path.is_file()]
    assert {path.parent.name for path in written} >= {"manifests", "blob"} and len(written) >= 3
    for path in written:
        # the temporary file it was renamed from (.NAME.XXXXXXXX.part), then its folder
        assert any(os.path.dirname(s) == str(path.parent) and os.path.basename(s).startswith(f".{path.name}.")
                   for s in synced), path
        assert str(path.parent) in synced, path
    # folders made for objects are recorded in their parents
    assert {str(store), str(store / "data"), str(store / "data/zip")} <= set(synced)


def make_damaged_database(path):
    database = sqlite3.connect(path)
    database.execute("CREATE TABLE t (x)")
    database.executemany("INSERT INTO t VALUES (?)", [(f"row {i:06d}",) for i in range(3000)])
    database.commit()
    database.close()
    with open(path, "r+b") as stream:
        stream.truncate(30000)


def test_a_database_kept_as_raw_bytes_makes_backup_partial_and_restore_and_verify_say_so(tmp_path, dest, hippo_cli):
    src = tmp_path / "src"
    src.mkdir()
    make_damaged_database(src / "trunc.db")
    (src / "fine.txt").write_text("fine")
    result = hippo_cli("backup", src, dest)
    assert result.returncode == 3, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: trunc.db: an SQLite database that cannot be read (database disk image is "
                        "malformed); backed up as its raw bytes"]
    assert "Traceback" not in result.stderr

    checked = hippo_cli("verify", src, dest, "--deep")
    assert checked.returncode == 0, checked.stderr
    mentions = [line for line in checked.stderr.splitlines() if "trunc.db" in line]
    assert mentions == ["warning: trunc.db: the backup holds the raw bytes of a database SQLite could not read "
                        "when it was backed up (database disk image is malformed)"]

    restored = hippo_cli("restore", dest, tmp_path / "out")
    assert restored.returncode == 0, restored.stderr
    assert [line for line in restored.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: trunc.db: restored from raw bytes of a database SQLite could not read when it was backed up"]
    assert (tmp_path / "out/trunc.db").read_bytes() == (src / "trunc.db").read_bytes()
    # not restored (left out by --include): not warned of
    subset = hippo_cli("restore", dest, tmp_path / "subset", "--include", "fine.txt")
    assert subset.returncode == 0 and "warning:" not in subset.stderr


def test_the_api_lists_databases_restored_from_raw_bytes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_damaged_database(src / "trunc.db")
    assert [path for path, _ in backup(src, tmp_path / "store", quiet=True)["unreadable_sqlite"]] == ["trunc.db"]
    assert restore(tmp_path / "store", tmp_path / "out", quiet=True)["unreadable_sqlite"] == ["trunc.db"]
    assert verify(src, tmp_path / "store")["unreadable_sqlite"] == ["trunc.db"]


def test_a_database_damaged_after_a_good_backup_is_a_failure_and_keeps_the_good_copy(tmp_path, dest):
    src = tmp_path / "src"
    src.mkdir()
    database = sqlite3.connect(src / "store.db")
    database.execute("CREATE TABLE t (x)")
    database.executemany("INSERT INTO t VALUES (?)", [(f"row {i:06d}",) for i in range(3000)])
    database.commit()
    database.close()
    good = backup(src, dest, quiet=True)
    assert good["failures"] == [] and good["unreadable_sqlite"] == []
    with open(src / "store.db", "r+b") as stream:
        stream.truncate(30000)
    result = backup(src, dest, quiet=True)
    assert result["failures"] == [("store.db", "an SQLite database that cannot be read (database disk image is "
                                   "malformed); the previous backup's copy is kept")]
    assert result["unreadable_sqlite"] == [] and result["objects_sent"] == 0
    assert verify(src, dest)["unreadable_sqlite"] == []  # the backup holds no raw bytes
    assert restore(dest, tmp_path / "out", quiet=True)["unreadable_sqlite"] == []
    restored = sqlite3.connect(tmp_path / "out/store.db")
    assert restored.execute("SELECT COUNT(*) FROM t").fetchone() == (3000,)
    restored.close()
