"""SQLite databases in a backed-up tree: snapshots that create nothing beside the database, work in a
read-only folder, and keep what a damaged or empty database holds (local destination)."""

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from test_backup_robustness import error_lines

from hippo.transfer import backup, restore, verify


def make_store(path, rows=300):
    """A WAL database, closed cleanly (no -wal or -shm left), as every closed HIPPO store is."""
    database = sqlite3.connect(path)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("CREATE TABLE sources (name TEXT)")
    database.executemany("INSERT INTO sources VALUES (?)", [(f"J{i:06d}",) for i in range(rows)])
    database.commit()
    database.close()
    assert sorted(os.listdir(path.parent)) == [path.name]
    return path


def rows(path):
    database = sqlite3.connect(path)
    try:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return database.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
    finally:
        database.close()


def test_backup_creates_no_files_beside_the_databases_it_reads(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db")
    shutil.copyfile(src / "hippo.db", src / "damaged.db")
    with open(src / "damaged.db", "r+b") as stream:
        stream.truncate(3000)
    before = sorted(os.listdir(src))
    backup(src, tmp_path / "dest", quiet=True)
    assert verify(src, tmp_path / "dest")["ok"]
    assert sorted(os.listdir(src)) == before  # no hippo.db-wal, hippo.db-shm, damaged.db-shm ...


def test_a_healthy_store_in_a_read_only_folder_is_backed_up(tmp_path, hippo_as_user):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db")
    src.chmod(0o555)
    try:
        result = hippo_as_user("backup", src, tmp_path / "dest")
        checked = hippo_as_user("verify", src, tmp_path / "dest")
    finally:
        src.chmod(0o755)
    assert result.returncode == 0 and error_lines(result.stderr) == [], result.stderr
    assert checked.returncode == 0, checked.stderr
    assert sorted(os.listdir(src)) == ["hippo.db"]
    restore(tmp_path / "dest", tmp_path / "out", quiet=True)
    assert rows(tmp_path / "out/hippo.db") == 300


def test_a_store_open_in_another_process_is_read_with_its_wal_in_a_read_only_folder(tmp_path, hippo_as_user):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); d.execute('PRAGMA wal_autocheckpoint=0'); "
        "d.executemany('INSERT INTO sources VALUES (?)', [('new',)] * 50); d.commit(); "
        "print('ready', flush=True); sys.stdin.read()"), str(src / "hippo.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        assert (src / "hippo.db-wal").stat().st_size > 0  # the 50 new rows are only there
        src.chmod(0o555)
        try:
            result = hippo_as_user("backup", src, tmp_path / "dest")
        finally:
            src.chmod(0o755)
    finally:
        writer.stdin.close()
        writer.wait()
    assert result.returncode == 0 and error_lines(result.stderr) == [], result.stderr
    restore(tmp_path / "dest", tmp_path / "out", quiet=True)
    assert rows(tmp_path / "out/hippo.db") == 350


def test_a_wal_left_by_a_killed_writer_is_in_the_snapshot_and_the_source_is_untouched(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db")
    killed = subprocess.run([sys.executable, "-c", (
        "import os, sqlite3, sys; d = sqlite3.connect(sys.argv[1]); d.execute('PRAGMA wal_autocheckpoint=0'); "
        "d.executemany('INSERT INTO sources VALUES (?)', [('new',)] * 50); d.commit(); os._exit(9)"),
        str(src / "hippo.db")])
    assert killed.returncode == 9
    (src / "hippo.db-shm").unlink()  # what mode=ro would have to create again
    before = {name: (src / name).read_bytes() for name in os.listdir(src)}
    backup(src, tmp_path / "dest", quiet=True)
    assert {name: (src / name).read_bytes() for name in os.listdir(src)} == before
    restore(tmp_path / "dest", tmp_path / "out", quiet=True)
    assert rows(tmp_path / "out/hippo.db") == 350


def test_a_damaged_database_is_kept_as_its_raw_bytes_with_a_warning(tmp_path, hippo_cli):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "trunc.db", rows=3000)
    with open(src / "trunc.db", "r+b") as stream:
        stream.truncate(30000)
    result = hippo_cli("backup", src, tmp_path / "dest")
    assert result.returncode == 3, result.stderr  # partial: not a consistent snapshot
    assert ("warning: trunc.db: an SQLite database that cannot be read (database disk image is malformed); "
            "backed up as its raw bytes") in result.stderr.splitlines()
    checked = hippo_cli("verify", src, tmp_path / "dest", "--deep")
    assert checked.returncode == 0, checked.stderr
    assert hippo_cli("restore", tmp_path / "dest", tmp_path / "out").returncode == 0
    assert (tmp_path / "out/trunc.db").read_bytes() == (src / "trunc.db").read_bytes()


def test_an_empty_db_file_is_backed_up_as_zero_bytes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "zero.db").write_bytes(b"")
    result = backup(src, tmp_path / "dest", quiet=True)
    assert result["failures"] == [] and result["unreadable_sqlite"] == []
    assert verify(src, tmp_path / "dest")["ok"]
    restore(tmp_path / "dest", tmp_path / "out", quiet=True)
    assert (tmp_path / "out/zero.db").read_bytes() == b""
    assert sorted(os.listdir(src)) == ["zero.db"]


@pytest.mark.parametrize("large", [False, True])
def test_a_database_that_changes_while_it_is_read_as_it_is_is_left_for_the_next_run(tmp_path, monkeypatch, large):
    import importlib

    backup_module = importlib.import_module("hippo.transfer.backup")
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db")
    copy = backup_module._backup_to

    def and_a_writer_checkpoints(source, target):  # a process opened, wrote and closed meanwhile
        result = copy(source, target)
        if "immutable" in source:
            os.utime(src / "hippo.db")
        return result

    monkeypatch.setattr(backup_module, "_backup_to", and_a_writer_checkpoints)
    result = backup(src, tmp_path / "dest", quiet=True, small_file_limit=1 if large else 4 << 20)
    assert result["failures"] == [("hippo.db", "changed while being read; left for the next run")]


def truncate(path):
    with open(path, "r+b") as stream:
        stream.truncate(30000)


def garble_header(path):  # an impossible page size (3 bytes): SQLite will not open it at all
    with open(path, "r+b") as stream:
        stream.seek(16)
        stream.write(b"\x03\x00")


@pytest.mark.parametrize("damage, reason", [(truncate, "database disk image is malformed"),
                                            (garble_header, "file is not a database")])
def test_a_database_damaged_after_a_good_backup_keeps_that_good_copy(tmp_path, hippo_cli, damage, reason):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db", rows=3000)
    (src / "notes.txt").write_text("notes")
    first = hippo_cli("backup", src, tmp_path / "dest")
    assert first.returncode == 0, first.stderr
    damage(src / "hippo.db")
    damaged = (src / "hippo.db").read_bytes()
    (src / "notes.txt").write_text("notes, edited")  # the rest of the tree is still backed up

    expected = (f"error: hippo.db: an SQLite database that cannot be read ({reason}); "
                "the previous backup's copy is kept")
    for _ in range(2):  # and again on the next run, for as long as it stays damaged
        result = hippo_cli("backup", src, tmp_path / "dest")
        assert result.returncode == 3, result.stderr
        assert error_lines(result.stderr) == [expected], result.stderr
        assert "raw bytes" not in result.stderr and "Traceback" not in result.stderr

    restored = hippo_cli("restore", tmp_path / "dest", tmp_path / "out")
    assert restored.returncode == 0 and "warning:" not in restored.stderr, restored.stderr
    assert rows(tmp_path / "out/hippo.db") == 3000  # the last good copy, not the damaged bytes
    assert (tmp_path / "out/notes.txt").read_text() == "notes, edited"
    assert (src / "hippo.db").read_bytes() == damaged  # the source is left as it was


@pytest.mark.parametrize("large", [False, True])
def test_the_api_keeps_the_good_copy_of_a_database_damaged_since_small_or_large(tmp_path, large):
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "hippo.db", rows=3000)
    limit = 1 if large else 4 << 20
    first = backup(src, tmp_path / "dest", quiet=True, small_file_limit=limit)
    assert first["failures"] == [] and first["unreadable_sqlite"] == []
    truncate(src / "hippo.db")
    result = backup(src, tmp_path / "dest", quiet=True, small_file_limit=limit)
    assert result["failures"] == [("hippo.db", "an SQLite database that cannot be read (database disk image is "
                                   "malformed); the previous backup's copy is kept")]
    assert result["unreadable_sqlite"] == [] and result["manifest"] == first["manifest"]
    done = restore(tmp_path / "dest", tmp_path / "out", quiet=True)
    assert done["unreadable_sqlite"] == []
    assert rows(tmp_path / "out/hippo.db") == 3000


def test_a_database_first_backed_up_as_raw_bytes_is_sent_as_raw_bytes_again(tmp_path, hippo_cli):
    """With no good copy to keep (the earlier one is raw bytes too), raw bytes are better than nothing."""
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "trunc.db", rows=3000)
    truncate(src / "trunc.db")
    assert backup(src, tmp_path / "dest", quiet=True)["unreadable_sqlite"] != []
    with open(src / "trunc.db", "r+b") as stream:  # damaged differently since
        stream.truncate(20000)
    result = hippo_cli("backup", src, tmp_path / "dest")
    assert result.returncode == 3, result.stderr
    assert error_lines(result.stderr) == [], result.stderr
    assert ("warning: trunc.db: an SQLite database that cannot be read (database disk image is malformed); "
            "backed up as its raw bytes") in result.stderr.splitlines()
    assert hippo_cli("restore", tmp_path / "dest", tmp_path / "out").returncode == 0
    assert (tmp_path / "out/trunc.db").read_bytes() == (src / "trunc.db").read_bytes()
