"""The transfer layer where disks, permissions, clocks and kills get in the way: restore carries
on past what it cannot write, the stores' part limit, source read errors, the writer lock."""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from test_transfer import make_tree, snapshot

from hippo.errors import InputError
from hippo.transfer import backup, open_backend, restore, verify
from hippo.transfer.backends import AlreadyExists, SourceReadError, TransferError
from hippo.transfer.lock import LOCK, STALE_AFTER, DestinationLocked, WriterLock

SMALL = 64 << 10  # files below this go into zips in these tests


def as_a_user(command):
    """``command`` run so that file modes bind it: root is made to obey them as any user does."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop the file-permission override")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


def killed_inside_atomic_path(path, suffix=None):
    """Leave what a writer killed mid-write leaves: atomic_path's temporary file beside ``path``."""
    code = ("import os, sys; from hippo.io.atomic import atomic_path\n"
            f"with atomic_path(sys.argv[1], suffix={suffix!r}) as tmp:\n"
            "    tmp.write_bytes(b'partial' * 1000)\n"
            "    os.kill(os.getpid(), 9)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(path)])
    assert killed.returncode == -signal.SIGKILL


# -- restore ---------------------------------------------------------------------------------------

def test_restore_lists_each_path_it_cannot_write_and_restores_the_rest(tmp_path):
    src = tmp_path / "src"
    (src / "a_readonly/sub").mkdir(parents=True)
    (src / "a_readonly/ref.fits").write_text("reference")
    (src / "a_readonly/sub/deep.txt").write_text("deep")
    os.symlink("ref.fits", src / "a_readonly/ref_link")
    (src / "b_work").mkdir()
    for i in range(20):
        (src / f"b_work/f{i}.txt").write_text(f"v1 {i}")
    os.symlink("b_work/f0.txt", src / "z_link")
    os.chmod(src / "a_readonly", 0o555)
    backup(src, tmp_path / "store", quiet=True)
    target = tmp_path / "target"
    restore(tmp_path / "store", target, quiet=True)  # a_readonly comes back read-only, as backed up
    shutil.rmtree(target / "a_readonly/sub")  # root may; a user could not
    shutil.rmtree(target / "b_work")  # the user loses the work and restores again
    os.unlink(target / "z_link")

    again = subprocess.run(as_a_user([sys.executable, "-m", "hippo", "restore", tmp_path / "store", target]),
                           capture_output=True, text=True)
    assert again.returncode == 3
    errors = sorted(line for line in again.stderr.splitlines() if line.startswith("error:"))
    assert errors == sorted(["error: a_readonly/ref.fits: cannot write here (Permission denied); not restored",
                             "error: a_readonly/ref_link: cannot write here (Permission denied); not restored",
                             "error: a_readonly/sub: cannot make the directory a_readonly/sub (Permission denied); "
                             "not restored",
                             "error: a_readonly/sub/deep.txt: cannot make the directory a_readonly/sub "
                             "(Permission denied); not restored"])
    restored, expected = snapshot(target), snapshot(src)
    assert {k: v for k, v in restored.items() if not k.startswith("a_readonly")} == \
           {k: v for k, v in expected.items() if not k.startswith("a_readonly")}  # work, link, times


def test_restoring_into_a_file_is_a_one_line_error_exit_2(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=2, large_bytes=10)
    backup(src, tmp_path / "store", quiet=True)
    (tmp_path / "a_file").write_text("not a directory")
    result = hippo_cli("restore", tmp_path / "store", tmp_path / "a_file")
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'a_file'}: not a directory\n"
    assert (tmp_path / "a_file").read_text() == "not a directory"


def test_a_killed_restores_temporary_files_go_and_the_users_files_stay(tmp_path):
    src = make_tree(tmp_path / "src", n_small=6, large_bytes=SMALL + 1)
    store = tmp_path / "store"
    backup(src, store, small_file_limit=SMALL, quiet=True)
    target = tmp_path / "target"
    restore(store, target, quiet=True)
    # What a restore killed mid-file leaves: hidden temporaries, some full-size.
    killed_inside_atomic_path(target / "models/weights.pt", suffix="")  # a large file's
    killed_inside_atomic_path(target / "cutouts/s0/f000.fits", suffix="")  # a zip member's
    killed_inside_atomic_path(target / "cutouts/s1/not_in_the_backup.fits", suffix="")

    def hidden():
        return {p.relative_to(target).as_posix() for p in target.rglob(".*")}
    leftovers = hidden()
    assert len(leftovers) == 3
    users = ["cutouts/s0/.f000.fits.part", "cutouts/s0/.f000.fits.abcdefgh.part.bak",
             "cutouts/s0/f000.fits.abcdefgh.part", "models/.weights.pt.swp"]
    for name in users:
        (target / name).write_text("the user's")

    assert restore(store, target, quiet=True)["failures"] == []
    (kept,) = leftovers & hidden()  # beside a file this restore does not write: not its to judge
    assert kept.startswith("cutouts/s1/.not_in_the_backup.fits.")
    assert all((target / name).read_text() == "the user's" for name in users)
    tree = snapshot(target)
    for name in users + [kept]:
        del tree[name]
    assert tree == snapshot(src)  # byte for byte, and nothing more


# -- the stores --------------------------------------------------------------------------------------

def test_a_file_beyond_the_part_limit_goes_up_in_larger_parts(tmp_path, s3_dest, seaweed, monkeypatch):
    # Scaled down from S3's 10,000 parts of 8 MiB (78 GiB): at most 2 parts of 5 MiB or more.
    import hippo.transfer.backends as backends
    monkeypatch.setattr(backends, "SINGLE_PUT_LIMIT", 1 << 20)
    monkeypatch.setattr(backends, "PART_SIZE", 5 << 20)
    monkeypatch.setattr(backends, "MAX_PARTS", 2)
    src = tmp_path / "src"
    src.mkdir()
    blob = os.urandom(13 << 20)  # 3 parts of 5 MiB; 2 parts of 7 MiB (in whole MiB, as rclone's)
    (src / "mosaic.fits").write_bytes(blob)
    assert backup(src, s3_dest, quiet=True)["failures"] == []
    (key,) = [o.key for o in open_backend(s3_dest).list("data/blob/")]
    bucket, _, prefix = s3_dest[5:].partition("/")
    head = seaweed.client().head_object(Bucket=bucket, Key=f"{prefix}/{key}")
    parts = [hashlib.md5(blob[:7 << 20]).digest(), hashlib.md5(blob[7 << 20:]).digest()]
    assert head["ETag"].strip('"') == backends.multipart_etag(parts)  # ends in -2
    restore(s3_dest, tmp_path / "out", quiet=True)
    assert (tmp_path / "out/mosaic.fits").read_bytes() == blob


def test_a_source_file_that_cannot_be_read_is_blamed_at_once_not_the_store(tmp_path, dest, monkeypatch):
    import hippo.transfer.backends as backends
    backend = open_backend(dest, create=True)
    gone, directory = tmp_path / "deleted_since_the_scan.fits", tmp_path / "a_directory"
    directory.mkdir()
    for single_put_limit in (backends.SINGLE_PUT_LIMIT, 1024):  # then a directory's 4 KiB go up in parts
        monkeypatch.setattr(backends, "SINGLE_PUT_LIMIT", single_put_limit)
        for source, reason in ((gone, "No such file or directory"), (directory, "Is a directory")):
            started = time.monotonic()
            with pytest.raises(SourceReadError) as raised:
                backend.put_file("data/blob/cube", source)
            assert time.monotonic() - started < 0.5  # not retried with back-off as a network error is
            assert str(raised.value) == f"{source}: {reason}" and raised.value.reason == reason
            assert backend.stat("data/blob/cube") is None
    if dest.startswith("s3://"):  # and no unfinished upload
        prefix = dest[5:].partition("/")[2]
        assert b"<Upload>" not in backend.client.request("GET", query={"uploads": "", "prefix": prefix})[2]


def test_a_network_failure_is_still_retried(tmp_path, s3_dest, s3_env, seaweed):
    from conftest import TcpProxy
    (tmp_path / "cube.fits").write_bytes(os.urandom(1 << 20))
    proxy = TcpProxy(seaweed.s3)
    backend = open_backend(s3_dest, endpoint_url=f"http://127.0.0.1:{proxy.port}", retries=1)
    proxy.close()  # the server goes away: connections refused
    with pytest.raises(TransferError, match="put data/blob/cube failed after 2 attempts"):
        backend.put_file("data/blob/cube", tmp_path / "cube.fits")


def test_a_store_not_made_yet_opens_empty_for_a_dry_run_and_is_not_made(tmp_path, s3_dest):
    bucket = s3_dest[5:].partition("/")[0]
    for missing in (tmp_path / "not-yet", f"s3://{bucket}-not-yet/backups"):
        with pytest.raises(InputError, match="no such"):
            open_backend(missing)
        assert list(open_backend(missing, missing_ok=True).list("manifests/")) == []
        with pytest.raises(InputError, match="no such"):  # and still not there
            open_backend(missing)


def test_a_dry_run_before_the_first_backup_says_what_it_would_send(tmp_path, s3_dest, hippo_cli):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/catalogue.csv").write_text("ra,dec\n1,2\n")
    bucket = s3_dest[5:].partition("/")[0]
    for missing in (tmp_path / "not-yet", f"s3://{bucket}-not-yet/backups"):
        result = hippo_cli("backup", tmp_path / "src", missing, "--dry-run")
        assert result.returncode == 0, result.stderr
        assert "would send 1 files (11 bytes)" in result.stderr
    assert not (tmp_path / "not-yet").exists()


def test_quiet_backup_prints_only_problems_and_list_reaches_past_a_damaged_manifest(tmp_path, hippo_cli):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    store = tmp_path / "store"
    assert hippo_cli("backup", tmp_path / "src", store, "-q").stderr == ""
    (tmp_path / "src/b.txt").write_text("b")
    assert hippo_cli("backup", tmp_path / "src", store, "-q").stderr == ""
    first, second = sorted((store / "manifests").iterdir())
    first.write_bytes(b"\x1f\x8b truncated")
    listing = hippo_cli("restore", store, "--list")
    assert listing.returncode == 0
    assert len(listing.stdout.splitlines()) == 3  # the header and both backups
    assert listing.stdout.splitlines()[2].split("\t")[2] == "2"  # files in the readable one
    assert listing.stderr.startswith(f"warning: manifests/{first.name}: damaged manifest (")


def test_a_killed_writers_partial_files_are_removed_whatever_their_suffix(tmp_path):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    store = tmp_path / "store"
    backup(src, store, quiet=True)
    objects = list(open_backend(store).list("data/"))
    killed_inside_atomic_path(store / "data/zip/ab/ab12cd34.zip")  # .ab12cd34.XXXXXXXX.part.zip
    killed_inside_atomic_path(store / "data/blob/0123abcd.20261125T115304.147031Z-620d219a")  # a renamed blob's
    killed_inside_atomic_path(store / "data/blob/4567ef01")
    assert len([p for p in (store / "data").rglob(".*") if p.is_file()]) == 3
    assert list(open_backend(store).list("data/")) == objects  # never taken for objects
    backup(src, store, quiet=True)
    assert [p for p in (store / "data").rglob(".*") if p.is_file()] == []
    assert verify(src, store, deep=True)["ok"]


# -- the writer lock ------------------------------------------------------------------------------------

def test_a_local_store_without_hard_links_still_admits_one_writer(tmp_path, monkeypatch):
    def no_hard_links(*args, **kwargs):  # as FAT32/exFAT and many SMB mounts answer
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_hard_links)
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    store = tmp_path / "usb-disk"
    assert backup(src, store, quiet=True)["failures"] == []
    assert verify(src, store, deep=True)["ok"]
    backend = open_backend(store)
    with WriterLock(backend) as holder:
        assert json.loads(backend.get(LOCK))["token"] == holder.record["token"]
        with pytest.raises(AlreadyExists):
            backend.put(LOCK, b"{}", if_absent=True)
        with pytest.raises(DestinationLocked, match="locked by"):
            WriterLock(backend).acquire()
    assert backend.stat(LOCK) is None
    assert [name for name in os.listdir(store) if name.startswith(".")] == []  # no temporary beside it


def write_lock(dest, record, age):
    """Put a lock record at ``dest`` last written ``age`` seconds ago by the store's clock (an S3
    object cannot be backdated: there the record is fresh and the test waits instead)."""
    backend = open_backend(dest)
    backend.put(LOCK, record)
    if not dest.startswith("s3://"):
        written = os.stat(os.path.join(dest, LOCK)).st_mtime - age
        os.utime(os.path.join(dest, LOCK), (written, written))
    return backend


def test_an_empty_lock_is_named_and_broken_once_it_is_old(tmp_path, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    store = tmp_path / "store"
    backup(src, store, quiet=True)
    write_lock(str(store), b"", age=0)  # left by a full disk or a crash on a non-journalled file system
    refused = hippo_cli("backup", src, store, "--quiet")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"error: {store}: lock.json is not a lock record (empty or damaged")
    assert "remove it if no backup is writing here" in refused.stderr

    write_lock(str(store), b"\0\0\0\0", age=STALE_AFTER + 60)
    assert hippo_cli("backup", src, store, "--quiet").returncode == 0
    assert not (store / LOCK).exists()


def test_a_damaged_lock_on_s3_is_broken_once_the_servers_clock_says_it_is_old(s3_dest):
    backend = write_lock(s3_dest, b'{"owner": "alice", "ho', age=0)
    with pytest.raises(DestinationLocked, match="lock.json is not a lock record"):
        WriterLock(backend, stale_after=1).acquire()
    time.sleep(2.1)  # S3 times have one-second resolution
    with WriterLock(backend, stale_after=1, settle=0.01) as lock:
        assert json.loads(backend.get(LOCK))["token"] == lock.record["token"]


@pytest.mark.parametrize("skew", [-1200, 1200])
def test_a_live_lock_holds_whatever_the_holders_clock_says(tmp_path, dest, skew):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    backup(src, dest, quiet=True)
    # Refreshed a moment ago, by a host whose clock is 20 minutes behind or ahead of this one's.
    skewed_now = time.time() + skew
    holder = {"owner": "alice", "host": "node-elsewhere", "pid": 4242, "token": "theirs",
              "since": skewed_now - 60, "refreshed": skewed_now}
    write_lock(dest, json.dumps(holder).encode(), age=5)
    with pytest.raises(DestinationLocked, match=r"locked by alice@node-elsewhere \(pid 4242\) .* refreshed \d s ago"):
        backup(src, dest, quiet=True)
    assert json.loads(open_backend(dest).get(LOCK))["token"] == "theirs"


def test_a_lock_the_store_has_not_seen_rewritten_for_the_stale_limit_is_broken(tmp_path, dest):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    backup(src, dest, quiet=True)
    holder = {"owner": "alice", "host": "node-elsewhere", "pid": 4242, "token": "dead",
              "since": time.time(), "refreshed": time.time()}  # its clock looked fine; its host crashed
    backend = write_lock(dest, json.dumps(holder).encode(), age=STALE_AFTER + 60)
    if dest.startswith("s3://"):  # fresh there: wait out a stale limit of 1 s instead
        time.sleep(2.1)
        with WriterLock(backend, stale_after=1, settle=0.01) as lock:
            assert json.loads(backend.get(LOCK))["token"] == lock.record["token"]
    else:
        (src / "new.txt").write_text("x")
        assert backup(src, dest, quiet=True)["send_files"] == 1
    assert backend.stat(LOCK) is None


# -- messages -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", ["1.2.3", "."])
def test_a_bandwidth_limit_that_is_no_number_is_a_usage_error(tmp_path, hippo_cli, rate):
    (tmp_path / "src").mkdir()
    result = hippo_cli("backup", tmp_path / "src", tmp_path / "store", "--bwlimit", rate)
    assert result.returncode == 2
    assert result.stderr == f"error: --bwlimit '{rate}': expected a rate such as 50M or 800k\n"


def test_a_file_name_holding_a_newline_makes_one_escaped_problem_line(tmp_path, hippo_cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("ok")
    backup(src, tmp_path / "store", quiet=True)
    (src / "evil\nerror: ok.txt: content differs from the backup (sha256)").write_text("x")
    result = hippo_cli("verify", src, tmp_path / "store")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: evil\\nerror: ok.txt: content differs")
