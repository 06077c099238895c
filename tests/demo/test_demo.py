"""``hippo demo`` as a user meets it: one run in a subprocess, then what it printed and wrote."""

import re
import sqlite3

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from hippo.demonstration import data
from tests.conftest import run_hippo

STEPS = ("inputs", "cutouts", "classification", "cross-match", "overlay", "backup")
CLASSIFY_COLUMNS = ["source", "ra", "dec", "label", "p_fri", "p_frii", "p_bent", "p_comp", "confidence", "flag",
                    "message"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo") / "hippo-demo"
    result = run_hippo("demo", "-o", output, timeout=600)
    steps = dict(re.findall(r"^  (\S+)\s+(ok|skipped|failed)\s+[\d.]+ s$", result.stdout, flags=re.M))
    return output, result, steps


def _rows(output, table):
    with sqlite3.connect(output / "products" / "hippo.db") as connection:
        return connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]


def test_demo_succeeds_and_summarises_every_step_with_its_time(demo_run):
    output, result, steps = demo_run
    assert result.returncode == 0, result.stderr
    assert re.search(r"^HIPPO demo finished in [\d.]+ s\. Everything is under .*hippo-demo/:$", result.stdout, re.M)
    assert list(steps) == list(STEPS)
    assert "failed" not in steps.values()
    for name in STEPS:  # a progress line per step on stderr, with what it did
        assert re.search(rf"^\[\s*[\d.]+ s\] {name}: \S", result.stderr, re.M)
    assert "products/hippo.db" in result.stdout and "backup/" in result.stdout


def test_inputs_are_real_first_images_with_a_wcs_and_a_labelled_simulation(demo_run):
    output = demo_run[0]
    images = sorted((output / "data" / "first").glob("*.fits"))
    assert len(images) == 8
    labels = [fits.getheader(path)["FGDLABEL"] for path in images]
    assert sorted(labels) == ["BENT", "BENT", "COMP", "COMP", "FRI", "FRI", "FRII", "FRII"]
    header = fits.getheader(images[0])
    # The file is named after the position its WCS puts at the image centre.
    centre = WCS(header).pixel_to_world(149.5, 149.5)
    assert images[0].stem == data.iau_name(centre)
    assert abs(header["CDELT2"] * 3600 - 1.8) < 1e-9
    assert (output / "data" / "optical_SIMULATED.csv").exists()
    assert "SIMULATED" in fits.getheader(output / "data" / "optical_image_SIMULATED.fits")["OBJECT"]
    assert _rows(output, "sources") == 200


def test_store_holds_a_run_and_rows_for_every_step(demo_run):
    output, _, steps = demo_run
    assert _rows(output, "overlays") == 1
    assert _rows(output, "backups") == 1
    with sqlite3.connect(output / "products" / "hippo.db") as connection:
        commands = [row[0] for row in connection.execute("SELECT command FROM runs ORDER BY id")]
        statuses = {row[0] for row in connection.execute("SELECT exit_status FROM runs")}
    assert commands[0] == "demo inputs" and commands[-1] == "backup"
    assert statuses == {0}
    if steps["cutouts"] == "ok":
        assert _rows(output, "cutouts") == 8
    if steps["classification"] == "ok":
        assert _rows(output, "classifications") == 8
    if steps["cross-match"] == "ok":
        assert _rows(output, "xmatches") >= 150


def test_overlay_is_a_figure_of_readable_size(demo_run):
    from PIL import Image

    figures = list((demo_run[0] / "products" / "overlays").glob("*.png"))
    assert len(figures) == 1
    with Image.open(figures[0]) as figure:
        width, height = figure.size
    assert 500 <= width <= 2000 and 500 <= height <= 2000


def test_classification_table_has_the_spec_columns_and_labels(demo_run):
    output, _, steps = demo_run
    if steps["classification"] != "ok":
        pytest.skip("the classification step did not run (no classifier or no trained model in this version)")
    table = Table.read(output / "products" / "classifications.csv")
    assert table.colnames[:len(CLASSIFY_COLUMNS)] == CLASSIFY_COLUMNS
    assert len(table) == 8
    assert set(table["label"]) <= {"FRI", "FRII", "BENT", "COMP"}
    probabilities = np.column_stack([table[c] for c in ("p_fri", "p_frii", "p_bent", "p_comp")])
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)


def test_crossmatch_recovers_the_simulated_hosts(demo_run):
    output, result, steps = demo_run
    if steps["cross-match"] != "ok":
        pytest.skip("the cross-match did not run")
    pairs = Table.read(output / "products" / "xmatch.csv")
    truth = Table.read(output / "data" / "optical_truth_SIMULATED.csv")
    hosts = {s: ("" if np.ma.is_masked(h) else h) for s, h in zip(truth["source"], truth["host_id"])}
    best = pairs[pairs["rank"] == 1]
    found = dict(zip(best["radio_id"].astype(str), best["optical_id"].astype(str)))
    correct = sum(bool(h) and found.get(s) == h for s, h in hosts.items())
    wrong = sum(s in found and found[s] != h for s, h in hosts.items())
    with_host = sum(bool(h) for h in hosts.values())
    assert 0.7 * len(hosts) < with_host < 0.9 * len(hosts)  # a fifth of the hosts are too faint
    assert correct >= 0.9 * with_host
    assert wrong <= 0.05 * len(found)
    assert f"{correct} to their true (simulated) host and {wrong} to an unrelated galaxy" in result.stderr


def test_backup_verifies_after_the_demo_and_restores_the_store(demo_run, tmp_path):
    output = demo_run[0]
    verified = run_hippo("verify", output / "products", output / "backup", "--deep")
    assert verified.returncode == 0, verified.stderr
    restored = run_hippo("restore", output / "backup", tmp_path / "restored")
    assert restored.returncode == 0, restored.stderr
    with sqlite3.connect(tmp_path / "restored" / "hippo.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM backups").fetchone()[0] == 1
        assert connection.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 200


def test_demo_refuses_a_directory_it_did_not_write(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    result = run_hippo("demo", "-o", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: -o ") and "not an earlier demo" in result.stderr
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_demo_without_the_images_says_how_to_install_them_and_writes_nothing(tmp_path):
    # A firstgalaxydata package without its data files shadows the installed one.
    fake = tmp_path / "site" / "firstgalaxydata"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    result = run_hippo("demo", "-o", tmp_path / "out", env={"PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "galaxy_data.zip" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_rerun_replaces_only_the_demos_own_folders(tmp_path):
    """-o . twice is fine; a file of the user's beside an earlier demo stops the demo, untouched."""
    first = run_hippo("demo", "-q", "-o", ".", cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr
    again = run_hippo("demo", "-q", "-o", ".", cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    (tmp_path / "analysis.py").write_text("my work")
    refused = run_hippo("demo", "-q", "-o", ".", cwd=tmp_path, timeout=600)
    assert refused.returncode == 2 and "holds files the demo did not write (analysis.py)" in refused.stderr
    assert (tmp_path / "analysis.py").read_text() == "my work" and (tmp_path / "products" / "hippo.db").exists()
