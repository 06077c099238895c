"""Backup, verify and restore against a real SeaweedFS S3 server and a local directory."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile

import pytest

from hippo.errors import InputError, UsageError
from hippo.transfer import backup, open_backend, restore, verify
from hippo.transfer.manifest import JOURNAL

SMALL = 64 << 10  # files below this go into zips in these tests (keeps trees tiny)


def make_tree(root, n_small=30, large_bytes=9 << 20):
    """Small files in nested dirs, one multipart-sized file, links (one dangling), odd modes."""
    rng = __import__("random").Random(7)
    for i in range(n_small):
        path = root / f"cutouts/s{i % 3}/f{i:03d}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 16 << 10)))
        os.utime(path, ns=(1_600_000_000_123_456_789 + i, 1_600_000_000_123_456_789 + i))
    (root / "models").mkdir()
    (root / "models/weights.pt").write_bytes(rng.randbytes(large_bytes))
    (root / "empty").mkdir()
    (root / "script.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "script.sh", 0o750)
    os.symlink("cutouts/s0/f000.fits", root / "latest.fits")
    os.symlink("../nowhere/missing.fits", root / "cutouts/dangling.fits")
    return root


def snapshot(root):
    """Everything restore must reproduce: type, bytes or link target, mtime (ns) and mode."""
    state = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                state[relative] = ("link", os.readlink(path), info.st_mtime_ns)
            elif os.path.isdir(path):
                state[relative] = ("dir", info.st_mode, info.st_mtime_ns)
            else:
                digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
                state[relative] = ("file", digest, info.st_mtime_ns, info.st_mode)
    return state


def data_objects(destination):
    return {o.key: o for o in open_backend(destination).list("data/")}


def test_round_trip_is_byte_identical_with_links_modes_and_mtimes(tmp_path, dest):
    src = make_tree(tmp_path / "src")
    before = snapshot(src)
    summary = backup(src, dest, small_file_limit=SMALL, quiet=True)
    assert summary["send_files"] == 32 and summary["links"] == 2 and summary["failures"] == []
    assert summary["large_files"] == 1 and summary["zips"] == 1
    assert verify(src, dest, deep=True)["ok"]
    restored = restore(dest, tmp_path / "out", quiet=True)
    assert restored["failures"] == []
    assert snapshot(tmp_path / "out") == before


def test_rerun_sends_nothing_and_a_changed_file_is_sent_again(tmp_path, dest):
    src = make_tree(tmp_path / "src", large_bytes=100 << 10)
    backup(src, dest, small_file_limit=SMALL, quiet=True)
    objects = data_objects(dest)
    again = backup(src, dest, small_file_limit=SMALL, quiet=True)
    assert (again["send_files"], again["objects_sent"]) == (0, 0)
    assert data_objects(dest) == objects

    changed = src / "cutouts/s1/f001.fits"
    changed.write_bytes(b"new pixels")
    os.utime(src / "script.sh")  # touched, same bytes: re-hashed, not re-sent
    third = backup(src, dest, small_file_limit=SMALL, quiet=True)
    assert (third["send_files"], third["objects_sent"]) == (1, 1)
    assert verify(src, dest)["ok"]
    restore(dest, tmp_path / "out", include=["cutouts/s1"], quiet=True)
    assert (tmp_path / "out/cutouts/s1/f001.fits").read_bytes() == b"new pixels"
    assert not (tmp_path / "out/models").exists()  # subset restore: only what was asked


def test_verify_lists_missing_and_changed_files_and_exits_1(tmp_path, s3_dest, hippo_cli):
    src = make_tree(tmp_path / "src", large_bytes=10)
    assert hippo_cli("backup", src, s3_dest, "--quiet").returncode == 0
    (src / "cutouts/s0/new.fits").write_bytes(b"x")
    (src / "cutouts/s2/f002.fits").write_bytes(b"changed")
    result = hippo_cli("verify", src, s3_dest)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert sorted(lines) == ["error: cutouts/s0/new.fits: not in the backup",
                             "error: cutouts/s2/f002.fits: content differs from the backup (sha256)"]


def test_dry_run_sends_nothing_and_exclude_skips_matches(tmp_path, s3_dest):
    src = make_tree(tmp_path / "src", large_bytes=10)
    plan = backup(src, s3_dest, dry_run=True, exclude=["s2", "*.sh"], quiet=True)
    assert plan["send_files"] == 20 + 1  # s0 and s1 (20 files) and the model; s2/ and *.sh excluded
    assert data_objects(s3_dest) == {}
    backup(src, s3_dest, exclude=["s2", "*.sh"], quiet=True)
    restore(s3_dest, tmp_path / "out", quiet=True)
    assert not (tmp_path / "out/cutouts/s2").exists() and not (tmp_path / "out/script.sh").exists()
    assert (tmp_path / "out/cutouts/s1/f001.fits").read_bytes() == (src / "cutouts/s1/f001.fits").read_bytes()


def test_deep_verify_catches_a_corrupt_zip_member(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", large_bytes=10)
    dest = tmp_path / "store"
    backup(src, dest, quiet=True)
    zip_path = next(dest.glob("data/zip/*/*.zip"))
    with zipfile.ZipFile(zip_path) as archive:
        member = archive.getinfo("cutouts/s1/f004.fits")
    blob = bytearray(zip_path.read_bytes())
    # Flip one byte of the member's data (after its 30-byte local header and name): bit rot at rest.
    blob[member.header_offset + 30 + len(member.filename) + 5] ^= 0xFF
    zip_path.write_bytes(bytes(blob))
    assert hippo_cli("verify", src, dest).returncode == 0  # same size, no ETag on a local disk
    deep = hippo_cli("verify", src, dest, "--deep")
    assert deep.returncode == 1
    assert "error: cutouts/s1/f004.fits: stored copy" in deep.stderr and "corrupt" in deep.stderr


def test_quick_and_deep_verify_catch_a_replaced_s3_object(tmp_path, s3_dest, seaweed):
    src = make_tree(tmp_path / "src", large_bytes=10)
    backup(src, s3_dest, quiet=True)
    key = next(k for k in data_objects(s3_dest) if k.endswith(".zip"))
    bucket, _, prefix = s3_dest[5:].partition("/")
    client = seaweed.client()
    body = bytearray(client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read())
    body[-200] ^= 0xFF
    client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=bytes(body))
    quick = verify(src, s3_dest)
    assert [reason for _, reason in quick["problems"]][0].startswith("object ETag")
    deep = verify(src, s3_dest, deep=True)
    assert not deep["ok"] and len(deep["problems"]) >= 2


def start_slow_backup(src, dest, env):
    """40 files of 60 KiB under ``src`` and a backup of them in another process, throttled to take
    about two seconds in zips of 3-4 files (time to act on it while it runs)."""
    src.mkdir()
    for i in range(40):
        (src / f"f{i:02d}.bin").write_bytes(os.urandom(60 << 10))
    code = (f"from hippo.transfer import backup; backup({str(src)!r}, {dest!r}, small_file_limit=1 << 20, "
            f"zip_target=200 << 10, workers=1, bwlimit=1.2e6, quiet=True)")
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env})


def test_kill_9_mid_backup_resumes_without_resending_finished_zips(tmp_path, s3_dest, s3_env, seaweed):
    src = tmp_path / "src"
    process = start_slow_backup(src, s3_dest, s3_env)
    backend = open_backend(s3_dest)
    deadline = time.monotonic() + 30
    while len(list(backend.list(JOURNAL))) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    journalled = list(backend.list(JOURNAL))
    assert 3 <= len(journalled) < 12, "the kill should land mid-run"
    # Part of a first backup is no backup: nothing to restore or verify against yet.
    for reader in (lambda: restore(s3_dest, tmp_path / "early", quiet=True), lambda: verify(src, s3_dest)):
        with pytest.raises(InputError, match="no backup found here"):
            reader()
    finished = {o.key: o for o in backend.list("data/")}
    bucket, _, prefix = s3_dest[5:].partition("/")
    client = seaweed.client()  # boto3, the reference client, reads what hippo wrote
    stamps = {k: client.head_object(Bucket=bucket, Key=f"{prefix}/{k}")["LastModified"] for k in finished}
    time.sleep(1.1)  # S3 LastModified has one-second resolution

    resumed = backup(src, s3_dest, small_file_limit=1 << 20, zip_target=200 << 10, quiet=True)
    assert resumed["send_files"] <= 40 - 3 * 3  # each journalled zip holds 3-4 files, none re-read
    for key, stamp in stamps.items():
        assert client.head_object(Bucket=bucket, Key=f"{prefix}/{key}")["LastModified"] == stamp
    assert list(backend.list(JOURNAL)) == []  # folded into the manifest
    assert verify(src, s3_dest, deep=True)["ok"]
    restore(s3_dest, tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)


def test_server_going_away_gives_one_line_error_and_resumable_state(tmp_path, s3_dest, s3_env, seaweed,
                                                                    hippo_cli):
    from conftest import TcpProxy
    src = tmp_path / "src"
    src.mkdir()
    for i in range(10):
        (src / f"f{i:02d}.bin").write_bytes(os.urandom(6 << 20))
    proxy = TcpProxy(seaweed.s3)
    through_proxy = {**s3_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hippo", "backup", src, s3_dest, "--workers", "1", "--bwlimit", "20M",
         "--retries", "1", "--quiet"], env={**os.environ, **through_proxy}, stderr=subprocess.PIPE, text=True)
    backend = open_backend(s3_dest)
    deadline = time.monotonic() + 30
    while len(list(backend.list(JOURNAL))) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    proxy.close()  # the server vanishes mid-upload: connections reset, new ones refused
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.count("\n") == 1 and stderr.startswith(f"error: {s3_dest}/")
    assert "re-run the backup to resume" in stderr
    journalled = len(list(backend.list(JOURNAL)))
    assert 2 <= journalled < 10

    result = hippo_cli("backup", src, s3_dest)
    assert result.returncode == 0, result.stderr
    assert f"sent {10 - journalled} files" in result.stderr  # journalled files are not sent again
    assert hippo_cli("verify", src, s3_dest, "--deep").returncode == 0


def test_wrong_credentials_give_one_line_error_exit_2(tmp_path, s3_dest, hippo_cli):
    src = make_tree(tmp_path / "src", large_bytes=10)
    result = hippo_cli("backup", src, s3_dest, env={"AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: s3://") and result.stderr.count("\n") == 1
    assert "AWS_SECRET_ACCESS_KEY" in result.stderr


def test_live_sqlite_store_is_backed_up_from_a_consistent_snapshot(tmp_path, s3_dest):
    src = tmp_path / "src"
    src.mkdir()
    live = sqlite3.connect(src / "hippo.db")
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE sources (name TEXT)")
    live.executemany("INSERT INTO sources VALUES (?)", [(f"J{i:06d}",) for i in range(500)])
    live.commit()  # rows sit in hippo.db-wal, not yet in hippo.db: a raw copy would lose them
    assert (src / "hippo.db-wal").stat().st_size > 0
    summary = backup(src, s3_dest, quiet=True)
    assert summary["files"] == 1  # the -wal and -shm side files are folded into the snapshot
    assert verify(src, s3_dest)["ok"]
    live.close()
    restore(s3_dest, tmp_path / "out", quiet=True)
    copy = sqlite3.connect(tmp_path / "out/hippo.db")
    assert copy.execute("SELECT count(*) FROM sources").fetchone() == (500,)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_rows_still_in_the_wal_are_sent_by_the_next_incremental_backup(tmp_path, s3_dest):
    src = tmp_path / "src"
    src.mkdir()
    live = sqlite3.connect(src / "hippo.db")
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")  # keep every write in hippo.db-wal
    live.execute("CREATE TABLE sources (name TEXT)")
    live.execute("INSERT INTO sources VALUES ('first')")
    live.commit()
    backup(src, s3_dest, quiet=True)
    main_file = (src / "hippo.db").stat()
    live.execute("INSERT INTO sources VALUES ('second')")
    live.commit()
    assert (src / "hippo.db").stat().st_mtime_ns == main_file.st_mtime_ns  # only the WAL changed
    assert backup(src, s3_dest, quiet=True)["files"] == 1
    assert verify(src, s3_dest)["ok"]
    live.close()
    restore(s3_dest, tmp_path / "out", quiet=True)
    copy = sqlite3.connect(tmp_path / "out/hippo.db")
    assert copy.execute("SELECT name FROM sources ORDER BY rowid").fetchall() == [("first",), ("second",)]


def test_backup_with_store_records_the_run_and_a_backups_row(tmp_path, hippo_cli):
    from hippo.store import Store

    tree = tmp_path / "products"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha")
    (tree / "sub" / "b.txt").write_text("beta")
    db = tmp_path / "hippo.db"
    result = hippo_cli("backup", tree, tmp_path / "vault", "--store", db, "--quiet")
    assert result.returncode == 0, result.stderr
    with Store.open(db) as store:
        (row,) = store.table("backups")
        (run,) = store.table("runs")
    assert row["files"] == 2 and row["destination"] == str(tmp_path / "vault")
    assert run["command"] == "backup" and run["exit_status"] == 0 and row["run_id"] == run["id"]


def test_zip_objects_are_plain_zips_that_unzip_reads(tmp_path):
    import shutil
    if shutil.which("unzip") is None:
        pytest.skip("unzip not installed")
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=10)
    (src / "cutouts/s0/Ångström 3C 273.fits").write_bytes(b"\x00SIMPLE" * 100)
    dest = tmp_path / "store"
    backup(src, dest, quiet=True)
    (zip_path,) = dest.glob("data/zip/*/*.zip")
    tested = subprocess.run(["unzip", "-t", zip_path], capture_output=True, text=True)
    assert tested.returncode == 0 and "No errors detected" in tested.stdout
    subprocess.run(["unzip", "-q", zip_path, "-d", tmp_path / "unzipped"], check=True)
    for name in ["cutouts/s0/Ångström 3C 273.fits", "cutouts/s2/f005.fits", "script.sh", "models/weights.pt"]:
        assert (tmp_path / "unzipped" / name).read_bytes() == (src / name).read_bytes()
    assert os.stat(tmp_path / "unzipped/script.sh").st_mode & 0o777 == 0o750


def test_large_file_goes_up_in_checked_parts_and_comes_back_identical(tmp_path, s3_dest, seaweed, monkeypatch):
    import hippo.transfer.backends as backends
    monkeypatch.setattr(backends, "SINGLE_PUT_LIMIT", 1 << 20)  # multipart above 1 MiB: 20 MiB -> 3 parts
    src = tmp_path / "src"
    src.mkdir()
    blob = os.urandom(20 << 20)
    (src / "mosaic.fits").write_bytes(blob)
    summary = backup(src, s3_dest, quiet=True)
    assert summary["large_files"] == 1 and summary["objects_sent"] == 1
    (key,) = [k for k in data_objects(s3_dest) if k.startswith("data/blob/")]
    parts = [hashlib.md5(blob[i:i + backends.PART_SIZE]).digest() for i in range(0, len(blob), backends.PART_SIZE)]
    bucket, _, prefix = s3_dest[5:].partition("/")
    head = seaweed.client().head_object(Bucket=bucket, Key=f"{prefix}/{key}")  # boto3 reads it back
    assert head["ContentLength"] == 20 << 20 and head["ETag"].strip('"') == backends.multipart_etag(parts)
    assert head["ETag"].strip('"').endswith("-3")
    assert verify(src, s3_dest, deep=True)["ok"]
    restore(s3_dest, tmp_path / "out", quiet=True)
    assert (tmp_path / "out/mosaic.fits").read_bytes() == blob


def test_verify_reads_the_files_a_same_size_same_mtime_rewrite_hides(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    dest = tmp_path / "store"
    backup(src, dest, quiet=True)
    changed = src / "cutouts/s1/f001.fits"
    before = changed.stat()
    changed.write_bytes(bytes(b ^ 0xFF for b in changed.read_bytes()))  # same size
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))       # mtime put back
    result = hippo_cli("verify", src, dest)
    assert result.returncode == 1
    assert "error: cutouts/s1/f001.fits: content differs from the backup (sha256)" in result.stderr
    # --size-only trusts what backup itself trusts, and says so in its help.
    assert hippo_cli("verify", src, dest, "--size-only").returncode == 0


def test_restore_replaces_links_in_the_target_and_never_writes_through_them(tmp_path):
    outside = tmp_path / "archive"
    outside.mkdir()
    (outside / "notes.txt").write_text("master copy")
    src = tmp_path / "src"
    (src / "notes").mkdir(parents=True)
    (src / "notes/notes.txt").write_text("draft")
    (src / "notes/sub").mkdir()
    (src / "notes/sub/deep.txt").write_text("deep")
    backup(src, tmp_path / "store", quiet=True)
    target = tmp_path / "out"
    target.mkdir()
    os.symlink(outside, target / "notes")  # e.g. left by restoring an older backup
    (target / "stray").write_text("x")
    result = restore(tmp_path / "store", target, quiet=True)
    assert result["failures"] == [] and result["files"] == 2
    assert (outside / "notes.txt").read_text() == "master copy" and sorted(os.listdir(outside)) == ["notes.txt"]
    assert not (target / "notes").is_symlink() and (target / "notes/sub/deep.txt").read_text() == "deep"


def test_a_directory_in_the_way_is_reported_and_the_rest_restored(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=10)
    backup(src, tmp_path / "store", quiet=True)
    target = tmp_path / "out"
    (target / "cutouts/s1/f001.fits").mkdir(parents=True)
    (target / "cutouts/s1/f001.fits/mine.txt").write_text("keep me")
    result = hippo_cli("restore", tmp_path / "store", target)
    assert result.returncode == 3
    assert "error: cutouts/s1/f001.fits: a directory is in the way" in result.stderr
    assert (target / "cutouts/s1/f001.fits/mine.txt").read_text() == "keep me"
    restored = snapshot(target)
    expected = snapshot(src)
    del restored["cutouts/s1/f001.fits"], restored["cutouts/s1/f001.fits/mine.txt"], expected["cutouts/s1/f001.fits"]
    # Everything else, links and directory mtimes included.
    assert {k: v for k, v in restored.items() if k != "cutouts/s1"} == {k: v for k, v in expected.items()
                                                                       if k != "cutouts/s1"}


def test_a_name_that_is_not_utf8_is_reported_and_the_rest_backed_up(tmp_path, hippo_cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("fine")
    bad = os.fsdecode(b"bad\xffname.txt")
    (src / bad).write_text("latin-1 name")
    result = hippo_cli("backup", src, tmp_path / "store")
    assert result.returncode == 3
    assert "error: bad\\xffname.txt: name is not valid UTF-8; rename it to back it up" in result.stderr
    restore(tmp_path / "store", tmp_path / "out", quiet=True)
    assert os.listdir(tmp_path / "out") == ["ok.txt"]


def test_a_killed_writers_partial_objects_are_cleared_by_the_next_backup(tmp_path, s3_dest, seaweed):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    local = tmp_path / "store"
    backup(src, local, quiet=True)
    (local / "data/blob").mkdir(parents=True, exist_ok=True)
    partial = local / "data/blob/.0123abcd.x1y2.part"  # what kill -9 leaves mid-copy
    partial.write_bytes(b"\0" * 4096)
    backup(src, local, quiet=True)
    assert not partial.exists()
    assert list((local / "journal").glob("*")) == []  # each run's journal folder goes with its records

    bucket, _, prefix = s3_dest[5:].partition("/")
    client = seaweed.client()
    backup(src, s3_dest, quiet=True)
    started = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/data/blob/0123abcd")  # never completed
    client.upload_part(Bucket=bucket, Key=f"{prefix}/data/blob/0123abcd", UploadId=started["UploadId"],
                       PartNumber=1, Body=b"\0" * (5 << 20))

    def unfinished():
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket, Prefix=f"{prefix}/").get("Uploads", [])]

    assert unfinished() == [f"{prefix}/data/blob/0123abcd"]
    backup(src, s3_dest, quiet=True)
    assert unfinished() == []
    assert verify(src, s3_dest, deep=True)["ok"]


def test_the_python_twin_takes_the_bandwidth_limit_as_the_command_line_does(tmp_path):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    result = backup(src, tmp_path / "store", bwlimit="50M", quiet=True)
    assert result["failures"] == [] and verify(src, tmp_path / "store")["ok"]
    with pytest.raises(UsageError, match="--bwlimit 'fast'"):
        backup(src, tmp_path / "store", bwlimit="fast", quiet=True)


def test_an_older_backup_keeps_its_large_file_when_another_tree_has_one_of_the_same_name(tmp_path):
    """Two trees to one destination, each with a large file P of the same size and mtime but other
    bytes: the second must not overwrite the first's object (objects are never overwritten)."""
    store = tmp_path / "store"
    first, second = tmp_path / "A", tmp_path / "B"
    for tree in (first, second):
        tree.mkdir()
        (tree / "small.txt").write_text(tree.name)
    (first / "P").write_bytes(os.urandom(SMALL + 1000))
    os.utime(first / "P", ns=(1_700_000_000_000_000_000,) * 2)
    run_a = backup(first, store, small_file_limit=SMALL, quiet=True)["manifest"]
    backup(second, store, small_file_limit=SMALL, quiet=True)
    (second / "P").write_bytes(os.urandom(SMALL + 1000))
    os.utime(second / "P", ns=(1_700_000_000_000_000_000,) * 2)
    backup(second, store, small_file_limit=SMALL, quiet=True)
    result = restore(store, tmp_path / "old", manifest=run_a.split("/")[-1].split(".jsonl")[0], quiet=True)
    assert result["failures"] == []
    assert (tmp_path / "old/P").read_bytes() == (first / "P").read_bytes()
    restore(store, tmp_path / "new", quiet=True)
    assert (tmp_path / "new/P").read_bytes() == (second / "P").read_bytes()


def test_a_missing_object_costs_its_files_not_the_rest_of_the_restore(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=30, large_bytes=10)
    store = tmp_path / "store"
    backup(src, store, zip_target=20 << 10, quiet=True)
    zips = sorted(store.glob("data/zip/*/*.zip"))
    assert len(zips) > 2
    with zipfile.ZipFile(zips[0]) as archive:
        lost = set(archive.namelist())
    zips[0].unlink()
    result = hippo_cli("restore", store, tmp_path / "out")
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert {line.split(": ")[1] for line in errors} == lost and all("not restored" in line for line in errors)
    restored, expected = snapshot(tmp_path / "out"), snapshot(src)
    for path in lost:
        del expected[path]
    # everything else, links and directory times included
    assert {k: v for k, v in restored.items() if not k.startswith("cutouts/s")} == \
           {k: v for k, v in expected.items() if not k.startswith("cutouts/s")}
    assert set(restored) == set(expected)


def test_names_of_255_bytes_are_backed_up_and_restored(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / ("a" * 255)).write_text("long")
    (src / ("é" * 127)).write_text("long and accented")  # 254 bytes in UTF-8
    backup(src, tmp_path / "store", quiet=True)
    result = restore(tmp_path / "store", tmp_path / "out", quiet=True)
    assert result["failures"] == [] and snapshot(tmp_path / "out") == snapshot(src)


def test_logs_beside_a_db_file_that_is_not_sqlite_are_ordinary_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.db").write_text("plain text, not a database")
    (src / "notes.db-journal").write_text("my journal")
    (src / "notes.db-wal").write_text("my other notes")
    backup(src, tmp_path / "store", quiet=True)
    restore(tmp_path / "store", tmp_path / "out", quiet=True)
    assert snapshot(tmp_path / "out") == snapshot(src)


def test_a_restored_database_does_not_meet_a_stale_wal_left_in_the_target(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    database = sqlite3.connect(src / "hippo.db")
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("CREATE TABLE t (x INTEGER)")
    database.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
    database.commit()
    database.close()
    backup(src, tmp_path / "store", quiet=True)
    # The target's own copy went on: checkpointed, then more writes left in a WAL by a killed writer.
    target = tmp_path / "out"
    restore(tmp_path / "store", target, quiet=True)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, os, sys; d = sqlite3.connect(sys.argv[1]); d.execute('PRAGMA wal_autocheckpoint=0'); "
        "d.executemany('INSERT INTO t VALUES (?)', [(i,) for i in range(5000)]); d.commit(); "
        "d.execute('DELETE FROM t WHERE x < 1500'); d.commit(); print('ready', flush=True); os._exit(0)"),
        str(target / "hippo.db")], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    writer.wait()
    assert (target / "hippo.db-wal").stat().st_size > 0
    restore(tmp_path / "store", target, quiet=True)
    check = sqlite3.connect(target / "hippo.db")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2000  # the backed-up rows, no others
    check.close()


def test_a_file_that_fails_this_time_keeps_its_last_backed_up_copy(tmp_path, monkeypatch):
    import importlib

    backup_module = importlib.import_module("hippo.transfer.backup")

    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    store = tmp_path / "store"
    backup(src, store, quiet=True)
    first = (src / "cutouts/s1/f001.fits").read_bytes()
    (src / "cutouts/s1/f001.fits").write_bytes(b"a newer version, being written")
    (src / "broken.sqlite").write_bytes(b"SQLite format 3\x00" + b"garbage" * 100)  # unreadable database
    reader = backup_module._read_small

    def busy(root, entry):  # the log file is being appended to every time it is read
        if entry["path"] == "cutouts/s1/f001.fits":
            raise backup_module._FileChanged(entry["path"])
        return reader(root, entry)

    monkeypatch.setattr(backup_module, "_read_small", busy)
    result = backup(src, store, quiet=True)
    reasons = dict(result["failures"])
    assert reasons["cutouts/s1/f001.fits"] == "changed while being read; left for the next run"
    # a database SQLite cannot read is kept as its raw bytes, flagged, rather than left out
    assert "broken.sqlite" not in reasons and result["unreadable_sqlite"][0][0] == "broken.sqlite"
    restore(store, tmp_path / "out", quiet=True)
    assert (tmp_path / "out/cutouts/s1/f001.fits").read_bytes() == first  # not gone from the latest backup
    assert (tmp_path / "out/broken.sqlite").read_bytes() == (src / "broken.sqlite").read_bytes()


def test_include_that_matches_nothing_is_an_error(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    backup(src, tmp_path / "store", quiet=True)
    result = hippo_cli("restore", tmp_path / "store", tmp_path / "out", "--include", "nomatch*")
    assert result.returncode == 2 and "--include matches nothing" in result.stderr


def test_verify_lists_a_database_damaged_since_the_backup_and_goes_on(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    database = sqlite3.connect(src / "hippo.db")
    database.execute("CREATE TABLE t (x)")
    database.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(500)])
    database.commit()
    database.close()
    backup(src, tmp_path / "store", quiet=True)
    damaged = bytearray((src / "hippo.db").read_bytes())
    damaged[100:] = b"\xa5" * (len(damaged) - 100)  # the header kept: still looks like a database
    (src / "hippo.db").write_bytes(bytes(damaged))
    (src / "script.sh").write_text("changed too")
    result = hippo_cli("verify", src, tmp_path / "store")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(line.startswith("error: hippo.db: ") for line in errors)
    assert "error: script.sh: content differs from the backup (sha256)" in errors
