"""Restoring older backups (by run id and by time) and the one-writer lock, on S3 and a local directory."""

import datetime
import json
import os
import signal
import time

import pytest
from test_transfer import make_tree, snapshot, start_slow_backup

from hippo.errors import InputError
from hippo.transfer import backup, list_backups, open_backend, restore, verify
from hippo.transfer.lock import LOCK, STALE_AFTER, DestinationLocked, WriterLock
from hippo.transfer.manifest import BackupState


def test_restore_an_older_backup_by_run_id_and_by_time(tmp_path, dest, hippo_cli):
    src = make_tree(tmp_path / "src", n_small=12, large_bytes=5 << 20)
    first_tree = snapshot(src)
    first_bytes = sum(path.stat().st_size for path in src.rglob("*") if path.is_file() and not path.is_symlink())
    first = backup(src, dest, small_file_limit=1 << 20, quiet=True)
    time.sleep(0.01)
    between = datetime.datetime.now(datetime.timezone.utc)
    (src / "cutouts/s1/f001.fits").write_bytes(b"second version")
    (src / "cutouts/s2/f002.fits").unlink()
    (src / "models/weights.pt").write_bytes(b"retrained")
    (src / "notes.txt").write_text("added later")
    second = backup(src, dest, small_file_limit=1 << 20, quiet=True)
    second_tree = snapshot(src)

    backups = list_backups(dest)
    assert [b["manifest"] for b in backups] == [first["manifest"], second["manifest"]]
    assert [b["files"] for b in backups] == [14, 14]  # one removed, one added
    assert backups[0]["bytes"] == first_bytes
    assert backups[1]["bytes"] == sum(path.stat().st_size for path in src.rglob("*")
                                      if path.is_file() and not path.is_symlink())

    by_id = restore(dest, tmp_path / "by-id", manifest=backups[0]["run_id"][:20], quiet=True)
    assert by_id["failures"] == [] and by_id["manifest"] == first["manifest"]
    assert snapshot(tmp_path / "by-id") == first_tree  # the old bytes, the deleted file, old mtimes

    by_time = hippo_cli("restore", dest, tmp_path / "by-time", "--as-of", between.isoformat())
    assert by_time.returncode == 0, by_time.stderr
    assert snapshot(tmp_path / "by-time") == first_tree
    restore(dest, tmp_path / "latest", quiet=True)
    assert snapshot(tmp_path / "latest") == second_tree

    listing = hippo_cli("restore", dest, "--list")
    assert listing.returncode == 0
    rows = [line.split("\t") for line in listing.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == [b["run_id"] for b in backups] and [row[2] for row in rows] == ["14", "14"]

    with pytest.raises(InputError, match="no backup here started that early"):
        restore(dest, tmp_path / "too-early", as_of="2001-01-01", quiet=True)
    unknown = hippo_cli("restore", dest, tmp_path / "x", "--manifest", "1999")
    assert unknown.returncode == 2 and unknown.stderr == "error: 1999: no such backup here (see --list)\n"


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holder_is_broken(tmp_path, s3_dest, s3_env,
                                                                                    hippo_cli):
    src = tmp_path / "src"
    writer = start_slow_backup(src, s3_dest, s3_env)
    backend = open_backend(s3_dest)
    deadline = time.monotonic() + 30
    while backend.stat(LOCK) is None and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.05)
    second = hippo_cli("backup", src, s3_dest, "--quiet")
    assert writer.poll() is None, "the first writer should still be running"
    assert second.returncode == 1 and second.stderr.count("\n") == 1
    assert f"(pid {writer.pid})" in second.stderr and "locked by" in second.stderr
    assert "only one backup may write here at a time" in second.stderr

    writer.send_signal(signal.SIGKILL)  # its lock stays behind, naming a process that is gone
    writer.wait()
    assert json.loads(backend.get(LOCK))["pid"] == writer.pid
    third = hippo_cli("backup", src, s3_dest, "--quiet")
    assert third.returncode == 0, third.stderr
    assert backend.stat(LOCK) is None  # released at the end
    assert verify(src, s3_dest, deep=True)["ok"]


def test_a_live_lock_from_another_host_blocks_and_a_stale_one_is_broken(tmp_path, dest):
    src = make_tree(tmp_path / "src", n_small=3, large_bytes=10)
    backup(src, dest, quiet=True)  # creates the destination
    backend = open_backend(dest)
    assert backend.stat(LOCK) is None
    holder = {"owner": "alice", "host": "node-elsewhere", "pid": 4242, "token": "theirs",
              "since": time.time() - 60, "refreshed": time.time() - 5}
    backend.put(LOCK, json.dumps(holder).encode())
    (src / "new.txt").write_text("x")
    with pytest.raises(DestinationLocked, match=r"locked by alice@node-elsewhere \(pid 4242\)"):
        backup(src, dest, quiet=True)
    assert backup(src, dest, dry_run=True, quiet=True)["send_files"] == 1  # a dry run needs no lock

    # Its writer died without cleaning up: the store has not seen the lock rewritten since (staleness
    # is judged by the store's clock, never by the holder's "refreshed", which a skewed host writes).
    if dest.startswith("s3://"):  # an S3 object cannot be backdated: wait out a short stale limit
        time.sleep(2.1)
        with WriterLock(backend, stale_after=1, settle=0.01) as lock:
            assert json.loads(backend.get(LOCK))["token"] == lock.record["token"]
    else:
        long_ago = time.time() - STALE_AFTER - 60
        os.utime(os.path.join(dest, LOCK), (long_ago, long_ago))
        assert backup(src, dest, quiet=True)["send_files"] == 1
        assert verify(src, dest)["ok"]
    assert backend.stat(LOCK) is None


def test_the_holder_keeps_its_lock_fresh(tmp_path):
    backend = open_backend(tmp_path / "store", create=True)
    with WriterLock(backend, refresh=0.05) as lock:
        first = json.loads(backend.get(LOCK))["refreshed"]
        deadline = time.monotonic() + 10
        while json.loads(backend.get(LOCK))["refreshed"] == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert json.loads(backend.get(LOCK))["refreshed"] > first
        assert json.loads(backend.get(LOCK))["token"] == lock.record["token"]
    assert backend.stat(LOCK) is None


class _RivalBreaksTheSameLock:
    """A backend on which a rival, which also judged the old lock abandoned, removes the lock
    and puts its own right after our put (object stores have no conditional remove)."""

    def __init__(self, backend, rival):
        self._backend, self._rival = backend, rival

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def put(self, key, data, **options):
        self._backend.put(key, data, **options)
        if key == LOCK and self._rival is not None:
            rival, self._rival = self._rival, None
            self._backend.remove(LOCK)
            self._backend.put(LOCK, json.dumps(rival).encode(), if_absent=True)


def test_two_runs_breaking_one_abandoned_lock_leave_one_holder(tmp_path):
    backend = open_backend(tmp_path / "store", create=True)
    abandoned = {"owner": "alice", "host": "node-elsewhere", "pid": 4242, "token": "dead",
                 "since": time.time() - 7200, "refreshed": time.time() - STALE_AFTER - 60}
    backend.put(LOCK, json.dumps(abandoned).encode())
    long_ago = time.time() - STALE_AFTER - 60  # not rewritten since, by the store's clock
    os.utime(tmp_path / "store" / LOCK, (long_ago, long_ago))
    rival = {"owner": "bob", "host": "node-rival", "pid": 777, "token": "rival",
             "since": time.time(), "refreshed": time.time()}
    lock = WriterLock(_RivalBreaksTheSameLock(backend, rival), settle=0.01)
    with pytest.raises(DestinationLocked, match=r"locked by bob@node-rival \(pid 777\)"):
        lock.acquire()
    assert json.loads(backend.get(LOCK))["token"] == "rival"  # the rival's lock is left alone


def test_the_manifest_records_how_the_backup_was_taken_and_verify_applies_its_excludes(tmp_path, dest, hippo_cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.fits").write_text("keep")
    (src / "scratch.tmp").write_text("left out on purpose")
    backup(src, dest, exclude=["*.tmp"], quiet=True)
    state = BackupState(open_backend(dest))
    assert state.header["exclude"] == ["*.tmp"]
    assert state.header["environment"]["host"] and state.header["software"]["hippo"]
    # a plain verify checks the tree as that backup saw it: scratch.tmp is not "missing"
    assert hippo_cli("verify", src, dest).returncode == 0
    assert hippo_cli("verify", src, dest, "--exclude", "*.none").returncode == 1
