"""``hippo evaluate --labels``: the metrics of a model on a user's own labelled FITS files."""

import csv
import json
import os

import numpy as np
import pytest
from astropy.table import Table

from hippo.errors import InputError
from hippo.morphology.calibration import classification_metrics
from hippo.morphology.labels import class_name, read_labelled_files


@pytest.fixture(scope="module")
def labelled_sources(shared_data):
    """24 raw FIRST FITS of training sources, 8 per class present (FRI, FRII, BENT), with their
    firstgalaxydata label."""
    rows = [r for r in csv.DictReader(open(shared_data / "first_mirabest" / "index.csv")) if r["fgd_split"] == "train"]
    chosen = []
    for label in ("FRI", "FRII", "BENT"):
        chosen += [r for r in rows if r["fgd_label"] == label][:8]
    return [(shared_data / "first_mirabest" / r["file"], r["fgd_label"]) for r in chosen]


def write_labels(path, rows, header=("file", "label")):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_evaluate_scores_the_labels_classify_gives(labelled_sources, hippo_cli, tmp_path):
    labels = write_labels(tmp_path / "labels.csv", [(str(path), label) for path, label in labelled_sources])
    rows_file = tmp_path / "rows.ecsv"
    result = hippo_cli("evaluate", "--labels", labels, "--json", "-o", rows_file, "--threads", "1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    classified = hippo_cli("classify", *[path for path, _ in labelled_sources], "--json", "--threads", "1")
    given = [row["label"] for row in json.loads(classified.stdout)]
    truth = [label for _, label in labelled_sources]
    # The same labels as classify gives, scored against the table.
    assert metrics["n"] == 24 and np.sum(metrics["confusion"]) == 24
    assert metrics["accuracy"] == pytest.approx(np.mean([g == t for g, t in zip(given, truth)]), abs=1e-4)
    assert metrics["per_class"]["FRII"]["support"] == 8 and metrics["per_class"]["COMP"]["support"] == 0
    # Raw FITS of sources the model was trained on: most of them right (0.85 over all 682 such).
    assert metrics["accuracy"] >= 0.7
    assert sum(metrics["flags"].values()) == 24 and metrics["skipped"] == [] and metrics["unlabelled"] == 0
    rows = Table.read(rows_file)
    assert list(rows["true_label"]) == truth
    assert list(rows["correct"]) == [g == t for g, t in zip(given, truth)]
    assert rows.meta["HIPPOCMD"] == "evaluate" and rows.meta["HIPPOVER"]
    assert "hippo evaluate model=" in rows.meta["HISTORY"][0]


def test_input_files_are_matched_to_rows_by_name(labelled_sources, hippo_cli, tmp_path):
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for path, _ in labelled_sources[:6] + labelled_sources[8:10]:
        os.symlink(path, folder / path.name)
    # Names only, another column name, the spellings of another catalogue; two files without a row.
    spelled = {"FRI": "FR I", "FRII": "fr2", "BENT": "WAT"}
    labels = write_labels(tmp_path / "labels.csv", [(path.name.removesuffix(".fits.fz"), spelled[label])
                                                    for path, label in labelled_sources[:6]], ("source", "class"))
    result = hippo_cli("evaluate", "--labels", labels, folder, "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 6 and metrics["unlabelled"] == 2
    assert metrics["per_class"]["FRI"]["support"] == 6


def test_bad_rows_and_files_are_reported_and_the_rest_scored(labelled_sources, hippo_cli, tmp_path):
    truncated = tmp_path / "truncated.fits.fz"
    truncated.write_bytes(labelled_sources[0][0].read_bytes()[:5000])
    rows = [(str(path), label) for path, label in labelled_sources[:4]]
    rows += [("gone.fits", "FRI"), (str(truncated), "FRI")]
    labels = write_labels(tmp_path / "labels.csv", rows)
    result = hippo_cli("evaluate", "--labels", labels, "--threads", "1")
    assert result.returncode == 3  # partial: scored, with files that could not be read
    assert "n=4 accuracy" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert any(line.startswith(f"error: {tmp_path / 'gone.fits'}: no such file") for line in errors)
    assert any(str(truncated) in line and "truncated" in line for line in errors)


def test_rows_with_no_file_or_a_link_that_leads_nowhere_name_the_row_or_the_link(labelled_sources, hippo_cli,
                                                                                   tmp_path):
    (tmp_path / "loop.fits").symlink_to("loop.fits")
    (tmp_path / "gone.fits").symlink_to(tmp_path / "nowhere.fits")
    rows = [(str(path), label) for path, label in labelled_sources[:2]]
    rows += [("", "FRII"), ("loop.fits", "FRI"), ("gone.fits", "FRI")]
    labels = write_labels(tmp_path / "labels.csv", rows)
    result = hippo_cli("evaluate", "--labels", labels, "--threads", "1")
    assert result.returncode == 3 and "n=2 accuracy" in result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {labels} row 3: no file given",
        f"error: {tmp_path / 'loop.fits'}: symbolic link loop (too many levels of symbolic links)",
        f"error: {tmp_path / 'gone.fits'}: dangling symbolic link (its target {tmp_path / 'nowhere.fits'} "
        "does not exist)"]


def test_a_link_loop_among_the_input_files_is_reported_and_the_rest_matched(tmp_path):
    folder = tmp_path / "cutouts"
    folder.mkdir()
    (folder / "J1.fits").write_bytes(b"")
    (folder / "J2.fits").symlink_to("J2.fits")
    labels = write_labels(tmp_path / "labels.csv", [("J1", "FRI"), ("J2", "FRII"), ("", "FRI")], ("name", "label"))
    labelled = read_labelled_files(labels, [folder])
    assert labelled.paths == [folder / "J1.fits"]
    assert labelled.skipped == [(str(folder / "J2.fits"), "symbolic link loop (too many levels of symbolic links)"),
                                (f"{labels} row 2 (J2)", "no input file or folder of that name"),
                                (f"{labels} row 3", "no id given")]


def test_rows_without_one_of_the_four_classes_are_left_out_with_a_note(labelled_sources, hippo_cli, tmp_path):
    rows = [(str(path), label) for path, label in labelled_sources[:4]]
    rows += [(str(labelled_sources[5][0]), "HYBRID"), (str(labelled_sources[6][0]), "")]
    labels = write_labels(tmp_path / "labels.csv", rows)
    result = hippo_cli("evaluate", "--labels", labels, "--threads", "1", "--json")
    assert result.returncode == 0, result.stderr  # leaving hybrids out is what was asked for
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 4 and metrics["skipped"] == []
    assert [item["reason"] for item in metrics["left_out"]] == [
        "label 'HYBRID' is not FRI, FRII, BENT or COMP", "no label"]
    assert f"left out: {labels} row 5 (" in result.stderr and "error:" not in result.stderr


def test_a_label_table_that_cannot_be_used_is_a_one_line_error(hippo_cli, tmp_path):
    no_label = write_labels(tmp_path / "nolabel.csv", [("a.fits", "x")], ("file", "comment"))
    result = hippo_cli("evaluate", "--labels", no_label)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no LABEL column found" in result.stderr and "--label-col" in result.stderr
    both = hippo_cli("evaluate", "--labels", no_label, "--split", "test")
    assert both.returncode == 2 and "exclude each other" in both.stderr
    with pytest.raises(InputError, match="no row can be scored"):
        read_labelled_files(write_labels(tmp_path / "hybrid.csv", [("a.fits", "hybrid")]))


def test_class_spellings_of_the_literature():
    assert [class_name(text) for text in ("FRI", "fr-ii", "FR 2", "Compact", "Bent", "HT", "WAT", "Hybrid", "")] == [
        "FRI", "FRII", "FRII", "COMP", "BENT", "BENT", "BENT", None, None]


def test_macro_f1_averages_the_classes_that_occur():
    # FRI and FRII sources only, all right: no COMP or BENT to be marked down for.
    labels = np.array([0, 0, 1, 1])
    metrics = classification_metrics(np.eye(4)[labels] * 0.6 + 0.1, labels, ("FRI", "FRII", "BENT", "COMP"))
    assert metrics["macro_f1"] == 1.0
    # A given label that is not the most probable class (an ood row: uniform probabilities).
    probs = np.full((4, 4), 0.25)
    scored = classification_metrics(probs, labels, ("FRI", "FRII", "BENT", "COMP"), predicted=np.array([0, 1, 1, 1]))
    assert scored["accuracy"] == 0.75 and scored["ece"] == pytest.approx(0.5)


def test_rows_match_the_folders_hippo_cutout_writes(shared_data, hippo_cli, tmp_path):
    """README: hippo evaluate --labels truth.csv cutouts/ --id-col name, on DIR/<name>/<survey>.fits."""
    from hippo.cutouts import cutout

    catalogue = Table({"name": ["J1512+4540", "J1512+4541"], "ra": [228.1133, 228.1100], "dec": [45.6739, 45.6800]})
    cutout(catalogue=catalogue, survey=[shared_data / "first_wise" / "FIRSTJ151227.2+454026_11.fits"],
           size="4.8arcmin", output=tmp_path / "cutouts")
    truth = write_labels(tmp_path / "truth.csv", [("J1512+4540", "FRII"), ("J1512+4541", "FRII")], ("name", "label"))
    result = hippo_cli("evaluate", "--labels", truth, tmp_path / "cutouts", "--id-col", "name", "--json",
                       "--threads", "1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 2 and metrics["unlabelled"] == 0 and metrics["per_class"]["FRII"]["support"] == 2
