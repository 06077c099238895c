"""``hippo train`` (a tiny smoke run), ``hippo evaluate --json`` and the calibration metrics."""

import json

import numpy as np
import pytest

from hippo.morphology.calibration import (choose_uncertain_threshold, classification_metrics, ece_reference,
                                          expected_calibration_error, fit_temperature, probabilities,
                                          reaches_target)


def test_smoke_training_writes_a_model_that_classifies(hippo_cli, tmp_path, shared_data):
    model = tmp_path / "tiny"
    result = hippo_cli("train", "--epochs", "1", "--per-class", "8", "--width", "4", "--seed", "3", "-o", model,
                       "--threads", "1", "--json", "--store", tmp_path / "hippo.db")
    assert result.returncode == 0, result.stderr
    valid = json.loads(result.stdout)
    assert valid["n"] == 200 and len(valid["confusion"]) == 4
    card = json.loads((model / "model.json").read_text())
    from hippo.store import Store

    with Store.open(tmp_path / "hippo.db", must_exist=True) as store:
        [run] = store.table("runs")
    assert run["command"] == "train" and run["exit_status"] == 0
    assert json.loads(run["parameters"])["seed"] == 3
    assert json.loads(run["inputs"])[0]["path"].endswith("galaxy_data_h5.zip")
    assert card["weights_sha256"] in run["log"] and f"valid accuracy {valid['accuracy']:.3f}" in run["log"]
    assert card["training"]["n_train"] == 32 and card["training"]["seed"] == 3
    assert card["network"]["width"] == 4 and card["temperature"] > 0
    assert card["software"]["torch"] and "Metrics on valid" in (model / "README.md").read_text()
    # the card says where, when and on exactly which data it was trained: the archive's checksum
    # is the one the store's run recorded for its input
    data, run_record = card["training"]["data_identity"], card["training"]["run"]
    assert data["sha256"] == json.loads(run["inputs"])[0]["sha256"] and data["package"] == "firstgalaxydata"
    assert run_record["host"] == json.loads(run["environment"])["host"] and "train" in run_record["argv"]
    assert f"SHA-256 {data['sha256']}" in (model / "README.md").read_text()
    classified = hippo_cli("classify", shared_data / "first_nvss_pairs" / "FIRST_1408+0050_II.fits.fz",
                           "--model", model, "--json", "--threads", "1")
    assert classified.returncode == 0, classified.stderr
    assert json.loads(classified.stdout)[0]["label"] in ("FRI", "FRII", "BENT", "COMP")


def test_evaluate_json_has_the_documented_keys(hippo_cli):
    result = hippo_cli("evaluate", "--split", "valid", "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"n", "accuracy", "macro_f1", "ece", "ece_if_calibrated", "per_class", "confusion"} <= set(metrics)
    assert metrics["n"] == 200 and np.sum(metrics["confusion"]) == 200
    assert set(metrics["per_class"]) == {"FRI", "FRII", "BENT", "COMP"}
    assert metrics["accuracy"] == pytest.approx(np.trace(metrics["confusion"]) / 200, abs=1e-4)


def test_bad_training_options_are_one_line_errors(hippo_cli, tmp_path):
    result = hippo_cli("train", "--epochs", "0", "-o", tmp_path / "m")
    assert result.returncode == 2 and result.stderr.startswith("error:")
    result = hippo_cli("evaluate", "--split", "bogus")
    assert result.returncode == 2 and result.stderr.startswith("error:")
    (tmp_path / "afile").write_text("")
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "README.md").write_text("my thesis")
    # Refused before any training (a bad -o used to be found after the last epoch).
    for options, says in ((["--learning-rate", "nan"], "--learning-rate"), (["--seed", "-1"], "--seed"),
                          (["-o", tmp_path / "afile"], "exists and is not a directory"),
                          (["-o", tmp_path / "afile" / "sub"], "cannot be written"),
                          (["-o", tmp_path / "thesis"], "holds files that are not a HIPPO model")):
        arguments = options if "-o" in options else [*options, "-o", tmp_path / "m"]
        result = hippo_cli("train", *arguments)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert (tmp_path / "thesis" / "README.md").read_text() == "my thesis"


def test_weights_of_another_training_beside_a_card_are_refused(hippo_cli, tmp_path):
    import shutil

    for name, seed in (("a", "1"), ("b", "2")):
        result = hippo_cli("train", "--epochs", "1", "--per-class", "4", "--width", "4", "--seed", seed, "-o",
                           tmp_path / name, "--threads", "1")
        assert result.returncode == 0, result.stderr
    shutil.copyfile(tmp_path / "b" / "model.pt", tmp_path / "a" / "model.pt")  # a run killed between two writes
    result = hippo_cli("evaluate", "--model", tmp_path / "a", "--threads", "1")
    assert result.returncode == 2 and "not the weights its card describes" in result.stderr
    card = json.loads((tmp_path / "b" / "model.json").read_text())
    assert card["uncertain_target_reached"] is False  # a 1-epoch model: the card must not claim 95 %
    assert "treat every label of this model as a suggestion" in (tmp_path / "b" / "README.md").read_text()


def test_temperature_scaling_fixes_overconfident_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 4000)
    clean = rng.normal(0, 1, (4000, 4))
    clean[np.arange(4000), labels] += 1.5
    overconfident = 4.0 * clean  # the same ranking, far too sharp
    before = expected_calibration_error(probabilities(overconfident), labels)
    temperature = fit_temperature(overconfident, labels)
    after = expected_calibration_error(probabilities(overconfident, temperature), labels)
    assert temperature > 2.0  # the logits were sharpened four-fold
    assert before > 0.1 and after < 0.03


def _calibrated_draw(rng, n, spread):
    """Probabilities whose top label is right exactly as often as its confidence says."""
    confidence = rng.uniform(1 - spread, 1.0, n)
    probs = np.column_stack([confidence, (1 - confidence) / 3, (1 - confidence) / 3, (1 - confidence) / 3])
    labels = np.where(rng.random(n) < confidence, 0, rng.integers(1, 4, n))
    return probs, labels


def test_a_calibrated_model_on_200_images_shows_the_ece_its_reference_predicts():
    rng = np.random.default_rng(1)
    # Confidences spread over 0.5-1 as a 0.85-accurate classifier's are: on 200 images even a
    # perfectly calibrated model shows an ECE of ~0.05, on 20,000 almost none.
    small = [ece_reference(*_calibrated_draw(rng, 200, 0.5)[:1], 0.0) for _ in range(3)]
    assert all(0.04 < reference["mean"] < 0.07 for reference in small)
    probs, labels = _calibrated_draw(rng, 20000, 0.5)
    assert ece_reference(probs, 0.0)["mean"] < 0.01
    probs, labels = _calibrated_draw(rng, 200, 0.5)
    observed = expected_calibration_error(probs, labels)
    assert ece_reference(probs, observed)["p_value"] > 0.01
    # The same confidences on labels right only half the time: far above the reference.
    wrong = np.where(rng.random(200) < 0.5, labels, (labels + 1) % 4)
    overconfident = expected_calibration_error(probs, wrong)
    assert overconfident > 0.15 and ece_reference(probs, overconfident)["p_value"] == 0.0


def test_metrics_on_a_known_confusion():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    probs = np.eye(4)[[0, 1, 1, 1, 2, 2, 3, 0]] * 0.7 + 0.075
    metrics = classification_metrics(probs, labels, ("FRI", "FRII", "BENT", "COMP"))
    assert metrics["accuracy"] == 0.75
    assert metrics["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [1, 0, 0, 1]]
    assert metrics["per_class"]["FRII"] == {"precision": pytest.approx(0.6667, abs=1e-4), "recall": 1.0,
                                            "f1": pytest.approx(0.8), "support": 2}
    assert choose_uncertain_threshold(probs, labels, target=0.95) == pytest.approx(0.775)
    # every confidence is 0.775 and 6 of 8 are right: no threshold reaches 95 %, 0.775 is the fallback
    confidence = float(probs.max())
    assert not reaches_target(probs, labels, confidence)
    right = [0, 2, 3, 4, 5, 6]
    assert reaches_target(probs[right], labels[right], confidence)


def test_a_directory_left_by_a_killed_training_can_be_trained_into(hippo_cli, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.pt").write_bytes(b"weights of a run killed before its card")
    (model / ".model.json.abcd1234.part.json").write_text("{")
    result = hippo_cli("train", "--epochs", "1", "--per-class", "4", "--width", "4", "-o", model, "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads((model / "model.json").read_text())["network"]["width"] == 4
