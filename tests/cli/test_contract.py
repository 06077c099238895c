"""SPEC's command-line contract: exit codes, one-line errors, no traceback, fast start-up."""

import subprocess
import sys

import pytest


def test_help_does_not_import_torch_matplotlib_or_boto3():
    code = ("import sys, hippo.cli; hippo.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'boto3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_and_help(hippo_cli):
    from hippo import __version__

    assert hippo_cli("--version").stdout.strip() == f"hippo {__version__}"
    result = hippo_cli("--help")
    assert result.returncode == 0
    for command in ("cutout", "overlay", "classify", "xmatch", "store", "backup", "batch", "inspect", "demo"):
        assert command in result.stdout


@pytest.mark.parametrize("args,needle", [
    (["store", "info", "--store", "{tmp}/notsqlite.db"], "notsqlite.db: is not a HIPPO store"),
    (["store", "cone", "--ra", "400", "--dec", "0", "--store", "{tmp}/s.db"], "RA 400.0 deg is outside 0..360"),
    (["store", "cone", "--ra", "1", "--dec", "0", "--radius", "banana", "--store", "{tmp}/s.db"], "--radius"),
    (["store", "export", "--table", "nope", "--store", "{tmp}/s.db"], "no table 'nope'"),
    (["store", "frobnicate"], "invalid choice"),
])
def test_bad_usage_and_input_exit_2_with_one_error_line(hippo_cli, tmp_path, args, needle):
    from hippo.store import Store

    (tmp_path / "notsqlite.db").write_text("not a database")
    Store.open(tmp_path / "s.db").close()  # reading a store that is not there is its own error
    result = hippo_cli(*[a.format(tmp=tmp_path) for a in args], cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(hippo_cli, tmp_path):
    (tmp_path / "bad.db").write_text("not a database")
    result = hippo_cli("--debug", "store", "info", "--store", tmp_path / "bad.db")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_store_cli_round_trip(hippo_cli, tmp_path):
    db = tmp_path / "h.db"
    assert hippo_cli("store", "init", "--store", db).returncode == 0
    from hippo.store import Store

    with Store.open(db) as store:
        store.insert("sources", [{"source": "near", "ra": 150.0, "dec": 2.0},
                                 {"source": "far", "ra": 151.0, "dec": 2.0}])
    cone = hippo_cli("store", "cone", "--ra", "10:00:00", "--dec", "+02:00:00", "--radius", "30arcmin", "--store", db)
    assert cone.returncode == 0
    rows = cone.stdout.strip().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[1] == "near"
    out = tmp_path / "sources.vot"
    assert hippo_cli("store", "export", "--table", "sources", "-o", out, "--store", db).returncode == 0
    from hippo.io import read_table

    assert sorted(read_table(out)["source"]) == ["far", "near"]


def test_a_negative_sexagesimal_declination_is_a_value_not_an_option(hippo_cli, tmp_path):
    db = tmp_path / "h.db"
    from hippo.store import Store

    with Store.open(db, must_exist=False) as store:
        store.insert("sources", [{"source": "south", "ra": 150.0, "dec": -9.284},
                                 {"source": "north", "ra": 150.0, "dec": 9.284}])
    for dec in ("-09:17:02.4", "-9d17m02.4s", "-09 17 02.4", "-9.284"):
        cone = hippo_cli("store", "cone", "--ra", "10:00:00", "--dec", dec, "--radius", "1arcmin", "--store", db)
        assert cone.returncode == 0, (dec, cone.stderr)
        assert [row.split(",")[1] for row in cone.stdout.strip().splitlines()[1:]] == ["south"], dec


def test_the_configured_store_is_the_default(hippo_cli, tmp_path, monkeypatch):
    db = tmp_path / "project.db"
    monkeypatch.setenv("HIPPO_STORE", str(db))
    monkeypatch.chdir(tmp_path)
    assert hippo_cli("store", "init").returncode == 0
    assert db.exists() and not (tmp_path / "hippo.db").exists()
    info = hippo_cli("store", "info")
    assert info.returncode == 0 and "project.db" in info.stdout + info.stderr
