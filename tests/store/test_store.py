"""The catalogue store: 100k-row round trip, cone search against brute force, exports, provenance."""

import json
import sqlite3

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

import hippo
from hippo.errors import InputError, UsageError
from hippo.io import read_table
from hippo.store import Store


@pytest.fixture(scope="module")
def sky_100k():
    rng = np.random.default_rng(42)
    n = 100_000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    # a few on purpose at the awkward places: RA wrap and the poles
    ra[:4], dec[:4] = [0.0001, 359.9999, 45.0, 200.0], [10.0, 10.0, 89.9999, -89.9999]
    return Table({"source": [f"s{i:06d}" for i in range(n)], "ra": ra, "dec": dec})


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory, sky_100k):
    path = tmp_path_factory.mktemp("store") / "hippo.db"
    with Store.open(path) as store:
        with store.run("test-fill", {"rows": len(sky_100k)}) as run:
            store.insert("sources", sky_100k, run_id=run.id)
    return path


@pytest.mark.parametrize("ra,dec,radius_deg", [
    (120.0, 30.0, 2.0), (0.0, 10.0, 0.5), (359.99, 10.0, 1.0), (45.0, 89.99, 1.0), (10.0, -89.5, 3.0),
    (200.0, 0.0, 0.001), (33.0, -20.0, 15.0),
])
def test_cone_search_finds_exactly_what_brute_force_finds(filled_store, sky_100k, ra, dec, radius_deg):
    with Store.open(filled_store) as store:
        found = store.cone(ra, dec, radius_deg)
    separation = SkyCoord(sky_100k["ra"] * u.deg, sky_100k["dec"] * u.deg).separation(SkyCoord(ra * u.deg, dec * u.deg))
    expected = set(sky_100k["source"][separation.deg <= radius_deg])
    assert set(found["source"]) == expected
    assert np.all(np.diff(found["separation_arcsec"]) >= 0)  # nearest first


def test_100k_rows_round_trip_through_every_export_format(filled_store, sky_100k, tmp_path):
    with Store.open(filled_store) as store:
        assert store.count("sources") == 100_000
        for suffix in (".fits", ".vot", ".csv", ".parquet"):
            out = tmp_path / f"sources{suffix}"
            store.export("sources", out)
            back = read_table(out)
            assert len(back) == 100_000
            np.testing.assert_allclose(np.asarray(back["ra"], float), sky_100k["ra"], rtol=0, atol=1e-9)
            assert list(back["source"][:3]) == ["s000000", "s000001", "s000002"]


def test_every_run_records_versions_parameters_inputs_and_log(tmp_path):
    image = tmp_path / "input.fits"
    image.write_bytes(b"x" * 100)
    import logging

    with Store.open(tmp_path / "p.db") as store:
        with store.run("cutout", {"size": "4.5arcmin"}, inputs=[image]) as run:
            logging.getLogger("hippo").warning("one source off the survey")
            run.exit_status = 3
        row = store.table("runs")[0]
    versions = json.loads(row["versions"])
    assert versions["hippo"] and versions["astropy"] and versions["numpy"]
    assert json.loads(row["parameters"]) == {"size": "4.5arcmin"}
    (entry,) = json.loads(row["inputs"])
    assert entry["size"] == 100 and len(entry["sha256"]) == 64
    assert row["exit_status"] == 3 and "one source off the survey" in row["log"]
    assert row["finished"] >= row["started"]


def test_a_failing_run_is_recorded_with_its_error(tmp_path):
    with Store.open(tmp_path / "p.db") as store:
        with pytest.raises(InputError):
            with store.run("classify", {}):
                raise InputError("x.fits", "every pixel is NaN")
        row = store.table("runs")[0]
    assert row["exit_status"] == 2 and "every pixel is NaN" in row["log"]


def test_store_uses_wal_and_concurrent_readers_see_committed_rows(tmp_path):
    path = tmp_path / "w.db"
    with Store.open(path) as writer, Store.open(path) as reader:
        writer.insert("annotations", [{"source": "J1", "label": "FRII", "user": "ann"}])
        assert reader.count("annotations") == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my precious notes")
    with pytest.raises(InputError, match="notes.db: is not a HIPPO store"):
        Store.open(path)
    assert path.read_text() == "my precious notes"


def test_unknown_table_is_a_usage_error(tmp_path):
    with Store.open(tmp_path / "s.db") as store, pytest.raises(UsageError, match="no table 'nope'"):
        store.export("nope", tmp_path / "x.csv")


def test_cone_on_xmatches_keeps_the_pair_separation(tmp_path):
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("xmatches", [{"radio_id": "R1", "optical_id": "O1", "separation_arcsec": 1.25,
                                   "rank": 1, "ra": 150.0, "dec": 2.0}])
        found = store.cone(150.0, 2.0 + 10 / 3600, 30 / 3600, table="xmatches")
    assert list(found["separation_arcsec"]) == [1.25]
    assert abs(found["cone_separation_arcsec"][0] - 10.0) < 1e-6


def test_reading_a_store_that_is_not_there_is_an_error_not_a_new_empty_store(tmp_path, hippo_cli):
    typo = tmp_path / "hipo.db"
    for action in (["info"], ["export", "--table", "sources", "-o", tmp_path / "s.csv"],
                   ["cone", "--ra", "150", "--dec", "2", "--radius", "1deg"]):
        result = hippo_cli("store", *action, "--store", typo)
        assert result.returncode == 2 and result.stderr.strip() == f"error: {typo}: no such store (hippo store init creates one)"
    assert not typo.exists() and not (tmp_path / "s.csv").exists()
    assert hippo_cli("store", "init", "--store", typo).returncode == 0 and typo.exists()


def test_a_damaged_store_is_a_one_line_error(tmp_path, hippo_cli):
    path = tmp_path / "hippo.db"
    with Store.open(path) as store:
        store.insert("sources", [{"source": f"s{i}", "ra": float(i % 360), "dec": 0.0} for i in range(5000)])
    with Store.open(path):
        pass  # checkpointed: everything is in the main file
    data = bytearray(path.read_bytes())
    data[8192:len(data) - 8192] = b"\xa5" * (len(data) - 16384)  # pages overwritten after the header
    path.write_bytes(bytes(data))
    result = hippo_cli("store", "info", "--store", path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {path}: the store is damaged (") and "Traceback" not in result.stderr


def test_export_column_types_follow_the_schema_not_the_rows(tmp_path):
    with Store.open(tmp_path / "hippo.db") as store:
        # an nn run: lr and reliability all NULL; a row without a run: run_id NULL
        store.insert("xmatches", [{"radio_id": "R1", "optical_id": "O1", "separation_arcsec": 1.25, "rank": 1,
                                   "method": "nn", "ra": 150.0, "dec": 2.0, "flag": "ok", "run_id": 7},
                                  {"radio_id": "R2", "optical_id": "O2", "separation_arcsec": 0.5, "rank": 1,
                                   "method": "nn", "ra": 151.0, "dec": 2.0, "flag": "ok"}])
        store.export("xmatches", tmp_path / "xmatches.fits")
        store.export("sources", tmp_path / "sources.fits")
        found = store.cone(150.0, 2.0, 1.0, table="xmatches")
    pairs = Table.read(tmp_path / "xmatches.fits")
    assert pairs["lr"].dtype.kind == "f" and np.isnan(np.ma.filled(pairs["lr"], np.nan)).all() and pairs["reliability"].dtype.kind == "f"
    assert pairs["run_id"].dtype.kind == "i" and pairs["run_id"][0] == 7 and pairs["run_id"].mask[1]
    assert found["lr"].dtype.kind == "f" and found["run_id"].dtype == np.int64
    empty = Table.read(tmp_path / "sources.fits")
    assert len(empty) == 0 and empty["ra"].dtype.kind == "f" and empty["run_id"].dtype.kind == "i"
    assert empty["source"].dtype.kind in "SU"


def test_export_says_which_hippo_wrote_it(tmp_path):
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("sources", [{"source": "s1", "ra": 150.0, "dec": 2.0}])
        store.export("sources", tmp_path / "sources.fits")
        store.export("sources", tmp_path / "sources.ecsv")
    header = fits.getheader(tmp_path / "sources.fits", 1)
    assert header["HIPPOCMD"] == "store export" and header["HIPPOVER"] == hippo.__version__
    assert any("table=sources" in str(h) for h in header["HISTORY"])
    assert Table.read(tmp_path / "sources.ecsv").meta["HIPPOCMD"] == "store export"


def test_cone_takes_a_negative_ra(tmp_path, hippo_cli):
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("sources", [{"source": "west", "ra": 350.0, "dec": 5.0}])
    result = hippo_cli("store", "cone", "--store", tmp_path / "hippo.db", "--ra", "-10", "--dec", "5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split(",")[1] == "west"


def _pending_run_and_nulls(store):
    """Rows a real store holds with NULLs: a run still going (no exit status, seconds, finished),
    an nn match (no lr/reliability), an annotation without host and with an empty comment."""
    store.insert("runs", [{"command": "classify", "started": "2026-01-01T00:00:00"}])
    store.insert("xmatches", [{"radio_id": "R1", "optical_id": "O1", "separation_arcsec": 1.25, "rank": 1,
                               "method": "nn", "ra": 150.0, "dec": 2.0, "flag": "ok"}])
    store.insert("annotations", [{"source": "R1", "label": "FRII", "comment": "", "user": "ann"}])


def test_parquet_export_writes_null_as_null_not_zero_nan_or_empty_text(tmp_path):
    import pyarrow.parquet

    with Store.open(tmp_path / "hippo.db") as store:
        _pending_run_and_nulls(store)
        for table in ("runs", "xmatches", "annotations"):
            store.export(table, tmp_path / f"{table}.parquet")
    runs = pyarrow.parquet.read_table(tmp_path / "runs.parquet")
    assert not [name for name in runs.column_names if name.endswith(".mask")]
    assert str(runs.schema.field("exit_status").type) == "int64" and runs["exit_status"].to_pylist() == [None]
    assert runs["seconds"].to_pylist() == [None] and runs["finished"].to_pylist() == [None]  # not NaN, not ''
    pairs = pyarrow.parquet.read_table(tmp_path / "xmatches.parquet")
    assert pairs["lr"].to_pylist() == [None] and pairs["run_id"].to_pylist() == [None]
    notes = pyarrow.parquet.read_table(tmp_path / "annotations.parquet")
    assert notes["host"].to_pylist() == [None] and notes["comment"].to_pylist() == [""]
    back = read_table(tmp_path / "runs.parquet")  # hippo's own reader: masked, still integers
    assert back["exit_status"].dtype.kind == "i" and back["exit_status"].mask[0] and back["finished"].mask[0]
    back = read_table(tmp_path / "annotations.parquet")
    assert back["host"].mask[0] and back["comment"][0] == "" and not np.ma.getmaskarray(back["comment"])[0]


def test_null_is_an_empty_field_in_csv_and_ecsv_not_nan(tmp_path, hippo_cli):
    with Store.open(tmp_path / "hippo.db") as store:
        _pending_run_and_nulls(store)
        store.export("xmatches", tmp_path / "xmatches.ecsv")
    result = hippo_cli("store", "export", "--store", tmp_path / "hippo.db", "--table", "xmatches")
    header, row = result.stdout.splitlines()
    values = dict(zip(header.split(","), row.split(",")))
    assert values["lr"] == values["reliability"] == values["run_id"] == "" and "nan" not in row
    back = read_table(tmp_path / "xmatches.ecsv")
    assert back["lr"].mask[0] and back["reliability"].mask[0] and back["separation_arcsec"][0] == 1.25


def test_fits_export_of_text_that_is_not_ascii(tmp_path, hippo_cli):
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("sources", [{"source": "Müller", "ra": 150.0, "dec": 2.0}, {"source": "plain", "ra": 1.0, "dec": 2.0}])
        store.insert("annotations", [{"source": "Müller", "label": "FRII", "comment": "☃ bent?", "user": "ann"}])
    for table in ("sources", "annotations"):
        out = tmp_path / f"{table}.fits"
        result = hippo_cli("store", "export", "--store", tmp_path / "hippo.db", "--table", table, "-o", out)
        assert result.returncode == 0, result.stderr
    assert list(read_table(tmp_path / "sources.fits")["source"]) == ["Müller", "plain"]
    assert read_table(tmp_path / "annotations.fits")["comment"][0] == "☃ bent?"
    with fits.open(tmp_path / "sources.fits") as hdus:  # UTF-8 bytes, as xmatch writes its FITS ids
        assert hdus[1].data.base["source"][0] == "Müller".encode("utf-8")


def test_store_info_gives_integers_and_null_for_a_run_still_going(tmp_path, hippo_cli):
    path = tmp_path / "hippo.db"
    with Store.open(path) as store:
        with store.run("cutout", {}):
            pass
        with store.run("classify", {}):  # still going while info looks
            as_json = hippo_cli("store", "info", "--json", "--store", path)
            as_text = hippo_cli("store", "info", "--store", path)
    assert as_json.returncode == 0, as_json.stderr

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    running, done = json.loads(as_json.stdout, parse_constant=refuse)["recent_runs"]
    assert running["id"] == 2 and running["exit_status"] is None and running["seconds"] is None
    assert done["id"] == 1 and done["exit_status"] == 0 and type(done["exit_status"]) is int
    lines = as_text.stdout.splitlines()
    assert lines[-2].startswith("  run 2: classify at ") and lines[-2].endswith(" running")
    assert lines[-1].startswith("  run 1: cutout at ") and lines[-1].endswith(" exit 0")


def test_readers_do_not_wait_for_a_writer_transaction(tmp_path, hippo_cli):
    import time

    path = tmp_path / "hippo.db"
    with Store.open(path) as store:
        store.insert("sources", [{"source": "s1", "ra": 150.0, "dec": 2.0}])
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long insert (a batch merge) holds the write lock
    writer.execute("INSERT INTO sources(source) VALUES ('pending')")
    try:
        start = time.monotonic()
        for action in (["info"], ["export", "--table", "sources", "-o", tmp_path / "s.csv"],
                       ["cone", "--ra", "150", "--dec", "2"]):
            result = hippo_cli("store", *action, "--store", path)
            assert result.returncode == 0, result.stderr
        assert time.monotonic() - start < 25  # not 30 s of waiting per command
        assert list(read_table(tmp_path / "s.csv")["source"]) == ["s1"]  # committed rows only
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_schema_change_blocked_by_a_writer_says_the_store_is_busy(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE sources (id INTEGER PRIMARY KEY, source TEXT)")  # an older schema
    writer.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(Store, "timeout", 0.2)
    try:
        with pytest.raises(InputError, match=r"old.db: is busy: another process has been writing to it"):
            Store.open(path, must_exist=True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_insert_converts_unambiguous_values_and_refuses_the_rest(tmp_path):
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("sources", [{"source": "sexa", "ra": "10:00:00", "dec": "+02:00:00"},
                                 {"source": "text", "ra": "150.5", "dec": "-2"}])
        store.insert("backups", [{"files": "3", "bytes": 2048.0}])
        for table, row, message in [
                ("backups", {"files": 2.5}, r"backups.files: cannot store 2.5 in an INTEGER column"),
                ("batch_jobs", {"shard": "n/a"}, r"batch_jobs.shard: cannot store 'n/a' in an INTEGER column"),
                ("xmatches", {"lr": "high"}, r"xmatches.lr: cannot store 'high' in a"),
                ("sources", {"source": "x", "ra": "10:00:00"}, r"sources.ra/dec: .*needs both")]:
            with pytest.raises(InputError, match=message):
                store.insert(table, [row])
        sources = store.table("sources")
        assert store.cone(150.0, 2.0, 1 / 3600)["source"][0] == "sexa"
        assert sources["ra"].dtype.kind == "f" and list(sources["dec"]) == [2.0, -2.0]
        (backup,) = store.table("backups")
        assert backup["files"] == 3 and backup["bytes"] == 2048
        store.export("batch_jobs", tmp_path / "jobs.csv")  # nothing wrong got in: export works


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".fits", ".vot", ".parquet"])
def test_infinity_is_stored_and_exported_as_infinity_not_missing(tmp_path, suffix):
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("xmatches", [{"radio_id": "R1", "lr": np.inf, "reliability": -np.inf, "rank": 1},
                                  {"radio_id": "R2", "lr": np.nan, "reliability": 0.5, "rank": 1}])
        held = store.table("xmatches", masked=True)
        assert list(held["lr"].filled(0)) == [np.inf, 0] and held["lr"].mask.tolist() == [False, True]
        assert store.query("SELECT reliability FROM xmatches WHERE lr > 1e308")["reliability"][0] == -np.inf
        store.export("xmatches", tmp_path / f"xmatches{suffix}")
    back = read_table(tmp_path / f"xmatches{suffix}")
    assert back["lr"][0] == np.inf and back["reliability"][0] == -np.inf
    assert np.ma.getmaskarray(back["lr"]).tolist() == [False, True]  # NaN went in as missing, and stays so
    if suffix == ".csv":
        first_row = (tmp_path / "xmatches.csv").read_text().splitlines()[1].split(",")
        assert "inf" in first_row and "-inf" in first_row


def test_a_run_log_over_128_kib_exports_to_csv_and_ecsv_and_reads_back(tmp_path):
    log = "".join(f"2026-01-01T00:00:{i % 60:02d} INFO cutout {i} of 9000 written\n" for i in range(9000))
    assert len(log) > 300 * 1024
    with Store.open(tmp_path / "hippo.db") as store:
        store.insert("runs", [{"command": "cutout", "log": log, "exit_status": 0}])
        for suffix in (".csv", ".ecsv"):
            store.export("runs", tmp_path / f"runs{suffix}")
    for suffix in (".csv", ".ecsv"):
        (run,) = read_table(tmp_path / f"runs{suffix}")
        # every line of it: astropy's CSV readers strip the spaces (here the newline) at a value's ends
        assert run["log"].strip() == log.strip() and run["command"] == "cutout" and run["exit_status"] == 0


def test_null_text_comes_back_missing_from_votable(tmp_path):
    with Store.open(tmp_path / "hippo.db") as store:
        _pending_run_and_nulls(store)
        for table in ("runs", "annotations"):
            store.export(table, tmp_path / f"{table}.vot")
    notes = read_table(tmp_path / "annotations.vot")
    assert notes["host"].mask.tolist() == [True] and list(notes["label"]) == ["FRII"]
    (run,) = read_table(tmp_path / "runs.vot")
    assert run["command"] == "classify" and np.ma.is_masked(run["finished"]) and np.ma.is_masked(run["log"])
    assert np.ma.is_masked(run["exit_status"]) and np.ma.is_masked(run["seconds"])
