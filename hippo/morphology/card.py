"""Writing a trained model to disk: weights, the machine-readable card (JSON) and the README card."""

import json
from pathlib import Path

from hippo.io import atomic_path, atomic_write_text
from hippo.morphology.preprocess import CLIP_SIGMA, GREY_LEVEL, GRID_ARCSEC, GRID_PIXELS
from hippo.provenance import sha256_file


def save_model(model_dir, network, card):
    """Write ``model.pt`` (state dict) and ``model.json`` atomically into ``model_dir``."""
    import torch

    from hippo.morphology.classifier import WEIGHTS_FILE

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_dir / WEIGHTS_FILE) as partial:
        torch.save(network.state_dict(), partial)
        # The card names its weights: weights and card are two files, replaced one after the other,
        # and a run killed between the two would otherwise pair new weights with an old card.
        card["weights_sha256"] = sha256_file(partial)
    write_card(model_dir, card)


def _threshold_reason(card):
    if card.get("uncertain_target_reached", True):  # cards written before this field: it was reached
        return "the lowest confidence at which valid labels are >= 95% right"
    return ("valid labels are not >= 95% right at any confidence, so this is the floor or the highest "
            "confidence seen: treat every label of this model as a suggestion")


def write_card(model_dir, card):
    """(Re)write ``model.json`` and the human-readable ``README.md`` from the card."""
    from hippo.morphology.classifier import CARD_FILE

    model_dir = Path(model_dir)
    atomic_write_text(model_dir / CARD_FILE, json.dumps(card, indent=1) + "\n")
    atomic_write_text(model_dir / "README.md", render_readme(card))


def preprocessing_description():
    return {"grid_arcsec": GRID_ARCSEC, "grid_pixels": GRID_PIXELS, "clip_sigma": CLIP_SIGMA,
            "grey_level": round(GREY_LEVEL, 6),
            "steps": "resample to a north-up TAN grid at 1.8\"/px centred on the source; zero pixels below "
                     "median + 3 sigma (sigma-clipped, on the original pixels) and below one 8-bit grey level "
                     "(1/255 of the way from there to the peak); scale the rest linearly to (0, 1] by the peak; "
                     "canonical D4 pose from the moments"}


def _chosen_weights(training):
    kind = training.get("chosen_weights")
    return {"average": ", its moving-average weights", "weights": ", its own weights"}.get(kind, "")


def _metrics_table(metrics, classes):
    lines = ["| class | precision | recall | F1 | n |", "|---|---|---|---|---|"]
    for name in classes:
        m = metrics["per_class"][name]
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    lines += ["", "Confusion matrix (rows: true class, columns: label given):", "",
              "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for name, row in zip(classes, metrics["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def render_readme(card):
    """The model card in Markdown, generated from the JSON card so the two never disagree."""
    classes = card["classes"]
    training = card["training"]
    parts = [
        f"# HIPPO morphology classifier `{card['name']}`",
        "",
        "FRI / FRII / BENT / COMP classification of FIRST-like (1.4 GHz, 5\" beam) radio images with "
        "temperature-scaled probabilities, an `uncertain` flag and an out-of-distribution (`ood`) flag.",
        "",
        "## Data and split",
        "",
        f"{training['data']}. Trained on `train` ({training['n_train']} images), the epoch, the temperature, "
        f"the uncertain threshold and the OOD thresholds chosen on `valid` ({training['n_valid']}); `test` "
        f"({training.get('n_test', 200)}, 50 per class) is used only by `hippo evaluate --split test`.",
        "",
        *_provenance_lines(card),
        "## Input",
        "",
        card["preprocessing"]["steps"] + ".",
        "",
        "## Architecture and training",
        "",
        f"{card['architecture']} ({card['parameters']:,} parameters), network options {json.dumps(card['network'])}.",
        f"Hyper-parameters: {json.dumps(training['hyperparameters'])}; seed {training['seed']}; "
        f"chosen epoch {training['chosen_epoch']} of {training['hyperparameters']['epochs']}"
        f"{_chosen_weights(training)} "
        f"({training['seconds']:.0f} s on {training['threads']} CPU threads).",
        "",
        "## Calibration and flags",
        "",
        f"Temperature {card['temperature']:.3f} (fitted on valid, NLL). A label whose calibrated confidence is "
        f"below {card['uncertain_threshold']:.3f} is flagged `uncertain` ({_threshold_reason(card)}). OOD thresholds: {json.dumps({k: v for k, v in card['ood'].items() if k not in ('class_means', 'precision')})}.",
    ]
    for split in ("valid", "test"):
        metrics = card.get("metrics", {}).get(split)
        if metrics:
            parts += ["", f"## Metrics on {split} (`hippo evaluate --split {split}`)", "",
                      f"n = {metrics['n']}, accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}, "
                      f"ECE {metrics['ece']:.3f} (15 bins){_ece_reference_text(metrics)}.", "",
                      _metrics_table(metrics, classes)]
            if metrics.get("reliability"):
                parts += ["", "Reliability diagram (bins of confidence):", "",
                          "| confidence bin | n | mean confidence | accuracy |", "|---|---|---|---|"]
                for row in metrics["reliability"]:
                    if row["count"]:
                        parts.append(f"| {row['low']:.1f}-{row['high']:.1f} | {row['count']} | "
                                     f"{row['confidence']:.3f} | {row['accuracy']:.3f} |")
    for extra in card.get("notes", []):
        parts += ["", extra]
    parts += ["", "## Software", "", ", ".join(f"{k} {v}" for k, v in sorted(card["software"].items())), ""]
    return "\n".join(parts)


def _provenance_lines(card):
    """Where, when and on exactly which data the model was trained (cards of ``hippo train`` since
    2026-11-25 record it), and the data checksum ``models/make_card.py`` saw when it scored the model."""
    lines = []
    run = card["training"].get("run")
    if run:
        lines.append(f"Trained on {run['host']} by {run['user']}, started {run['started']} (UTC), "
                     f"with `{' '.join(run['argv'])}`.")
    for data, when in ((card["training"].get("data_identity"), "trained on"),
                       (card.get("data_checked"), "scored with")):
        if data:
            checked = f" (checked {data['checked']})" if data.get("checked") else ""
            lines.append(f"Data {when}: {data['package']} {data['version']}, {data['file']} "
                         f"SHA-256 {data['sha256']}{checked}.")
    return [" ".join(lines), ""] if lines else []


def _ece_reference_text(metrics):
    reference = metrics.get("ece_if_calibrated")
    if not reference:
        return ""
    return (f"; a perfectly calibrated model with these confidences would show {reference['mean']:.3f} on "
            f"{metrics['n']} images (95th percentile {reference['p95']:.3f}; p = {reference['p_value']:.2f} for "
            f"an ECE this large)")
