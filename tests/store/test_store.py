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
