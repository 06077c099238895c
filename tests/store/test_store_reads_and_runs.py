"""Reading a store never writes to it (nor beside it); a damaged or empty store says so; a run is
never left "running" for ever (a full disk, a killed process)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from hippo.errors import InputError
from hippo.store import Store

READERS = (["info"], ["export", "--table", "sources"], ["cone", "--ra", "150", "--dec", "2", "--radius", "1deg"])


def closed_store(path):
    """A store with one source, closed (its WAL checkpointed and gone), as a finished command leaves it."""
    with Store.open(path) as store:
        store.insert("sources", [{"source": "s1", "ra": 150.0, "dec": 2.0}])
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    return path


def test_info_on_a_damaged_store_says_it_is_damaged(tmp_path, hippo_cli):
    path = tmp_path / "hippo.db"
    with Store.open(path) as store:
        store.insert("sources", [{"source": f"s{i}", "ra": float(i % 360), "dec": 0.0} for i in range(5000)])
        root = store.connection.execute("SELECT rootpage FROM sqlite_master WHERE name='sources'").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[(root - 1) * 4096:root * 4096] = b"\xa5" * 4096  # the table's page; its indexes still count 5000 rows
    path.write_bytes(bytes(data))
    result = hippo_cli("store", "info", "--store", path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: the store is damaged (") and result.stderr.count("\n") == 1


def test_reading_an_empty_file_neither_initialises_it_nor_says_it_is_a_store(tmp_path, hippo_cli):
    path = tmp_path / "x.db"
    path.write_bytes(b"")
    for action in READERS:
        result = hippo_cli("store", *action, "--store", path)
        assert (result.returncode, result.stderr) == (2, f"error: {path}: is not a HIPPO store (empty file)\n")
    assert path.stat().st_size == 0 and sorted(os.listdir(tmp_path)) == ["x.db"]


def test_a_store_in_a_read_only_folder_can_be_read(tmp_path, hippo_as_user):
    folder = tmp_path / "rodir"
    folder.mkdir()
    path = closed_store(folder / "s.db")
    folder.chmod(0o555)
    try:
        results = [hippo_as_user("store", *action, "--store", path) for action in READERS]
    finally:
        folder.chmod(0o755)
    for result in results:
        assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "s1" in results[1].stdout and "s1" in results[2].stdout
    assert sorted(os.listdir(folder)) == ["s.db"]


def test_reading_a_read_only_store_leaves_no_files_beside_it(tmp_path, hippo_as_user):
    path = closed_store(tmp_path / "s.db")
    path.chmod(0o444)
    for action in READERS:
        result = hippo_as_user("store", *action, "--store", path)
        assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["s.db"]  # no s.db-wal, s.db-shm (0444: a later writer's trap)


def test_a_reader_sees_one_consistent_store_while_another_process_rewrites_it(tmp_path):
    # A reader without SQLite's locks (immutable) saw pages of two versions and called a healthy
    # store "damaged; restore it from a backup". Where it may write, a reader reads under the locks.
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        store.insert("sources", [{"source": f"A{i:06d}", "ra": i % 360, "dec": 0.0} for i in range(20000)])
    reader = Store.open(path, readonly=True)
    try:
        rows = reader.connection.execute("SELECT source FROM sources ORDER BY id")
        first = [rows.fetchone()[0] for _ in range(100)]
        subprocess.run([sys.executable, "-c", f"""
from hippo.store import Store
with Store.open({str(path)!r}) as store:
    store.connection.execute('DELETE FROM sources')
    store.insert('sources', [{{'source': 'B%06d' % i, 'ra': 1.0, 'dec': 0.0}} for i in range(20000)])
"""], check=True)
        seen = first + [row[0] for row in rows]
    finally:
        reader.close()
    assert len(seen) == 20000 and all(name.startswith("A") for name in seen)
    with Store.open(path, readonly=True) as store:  # a new reader sees the new version
        assert store.connection.execute("SELECT MIN(source) FROM sources").fetchone()[0] == "B000000"


def test_reading_never_upgrades_an_older_store(tmp_path, hippo_cli):
    path = closed_store(tmp_path / "s.db")
    database = sqlite3.connect(path)
    database.execute("ALTER TABLE runs DROP COLUMN status")  # as a store from before that column
    database.commit()
    database.close()
    before = path.read_bytes()
    for action in READERS:
        assert hippo_cli("store", *action, "--store", path).returncode == 0
    # (a reader that may write the store reads it under SQLite's locks, whose -wal and -shm it may
    # leave, as any command that writes it does; the store itself is unchanged)
    assert path.read_bytes() == before and set(os.listdir(tmp_path)) <= {"s.db", "s.db-wal", "s.db-shm"}


def test_a_store_path_that_is_a_symlink_loop_says_so(tmp_path, hippo_cli):
    (tmp_path / "a.db").symlink_to(tmp_path / "b.db")
    (tmp_path / "b.db").symlink_to(tmp_path / "a.db")
    result = hippo_cli("store", "info", "--store", tmp_path / "a.db")
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'a.db'}: cannot open the store (too many levels of symbolic links)\n"


def test_an_sqlite_file_that_is_not_a_store_is_not_read_as_one(tmp_path, hippo_cli):
    path = tmp_path / "other.db"
    database = sqlite3.connect(path)
    database.execute("CREATE TABLE notes (text)")
    database.commit()
    database.close()
    result = hippo_cli("store", "info", "--store", path)
    assert result.returncode == 2 and "is not a HIPPO store" in result.stderr


def _run_in_a_child(path, body):
    """Run ``body`` (Python, with ``store`` and ``logging`` at hand) in a process of its own inside a
    recorded run of ``store``; the child's stderr and exit status."""
    script = (f"import logging, os, sys\nfrom hippo.errors import HippoError\nfrom hippo.store import Store\n"
              f"try:\n    with Store.open({str(path)!r}) as store, store.run('classify', {{}}) as run:\n"
              + "".join(f"        {line}\n" for line in body.splitlines())
              + "except HippoError as exc:\n    print(f'error: {exc}', file=sys.stderr)\n    sys.exit(exc.exit_code)\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_a_full_disk_when_the_run_ends_is_one_line_and_the_run_is_not_left_running(tmp_path, hippo_cli):
    path = tmp_path / "s.db"
    Store.open(path).close()
    # the store cannot grow from here on: the run's log no longer fits, as on a full disk
    child = _run_in_a_child(path, "n = store.connection.execute('PRAGMA page_count').fetchone()[0]\n"
                                  "store.connection.execute(f'PRAGMA max_page_count={n}')\n"
                                  "logging.getLogger('hippo').warning('x' * 20000)")
    assert child.returncode == 2
    assert child.stderr == f"error: {path}: disk full (database or disk is full), run 1 not recorded as finished\n"
    info = json.loads(hippo_cli("store", "info", "--json", "--store", path).stdout)
    assert info["recent_runs"][0]["status"] == "interrupted"  # its process is gone
    assert hippo_cli("store", "info", "--store", path).stdout.splitlines()[-1].endswith(" interrupted")
    with Store.open(path) as store:  # the next writer records it
        (run,) = store.table("runs")
    assert run["status"] == "interrupted" and "ended before the run's end was recorded" in run["log"]


def test_a_full_disk_when_the_run_starts_records_nothing(tmp_path):
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        store.connection.execute(f"PRAGMA max_page_count={store.connection.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.raises(InputError, match=r"s.db: disk full \(database or disk is full\), run not recorded"):
            with store.run("classify", {"model": "x" * 20000}):
                pytest.fail("the run went on without its record")
    with Store.open(path) as store:
        assert store.count("runs") == 0


def test_a_run_whose_error_is_followed_by_a_full_disk_reports_its_own_error(tmp_path):
    path = tmp_path / "s.db"
    child = _run_in_a_child(path, "n = store.connection.execute('PRAGMA page_count').fetchone()[0]\n"
                                  "store.connection.execute(f'PRAGMA max_page_count={n}')\n"
                                  "logging.getLogger('hippo').warning('x' * 20000)\n"
                                  "raise HippoError('a.fits: every pixel is NaN')")
    assert (child.returncode, child.stderr) == (1, "error: a.fits: every pixel is NaN\n")


def test_a_killed_run_is_marked_interrupted_not_running_for_ever(tmp_path, hippo_cli):
    path = tmp_path / "s.db"
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom hippo.store import Store\n"
        f"with Store.open({str(path)!r}) as store, store.run('cutout', {{}}):\n"
        "    print('ready', flush=True); time.sleep(600)")], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    assert "running" in hippo_cli("store", "info", "--store", path).stdout.splitlines()[-1]  # still going
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert hippo_cli("store", "info", "--store", path).stdout.splitlines()[-1].endswith(" interrupted")
    with Store.open(path) as store:
        assert [row["status"] for row in store.table("runs")] == ["interrupted"]
        with store.run("cutout", {}):
            pass
        assert [row["status"] for row in store.table("runs")] == ["interrupted", "finished"]
