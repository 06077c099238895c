"""Calibrated probabilities and the metrics that judge them: temperature, ECE, reliability, F1.

Pure numpy/scipy (no torch): ``hippo evaluate`` and the model card use these on logits.
"""

import numpy as np
from scipy.special import log_softmax, softmax

ECE_BINS = 15
# A confident label must be right this often on valid; below the threshold it is "uncertain".
TARGET_SELECTIVE_ACCURACY = 0.95


def probabilities(logits, temperature=1.0):
    """Softmax of logits divided by the temperature."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def fit_temperature(logits, labels):
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar  # ~1 s to import; only training needs it

    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(labels))

    def nll(log_temperature):
        return -log_softmax(logits / np.exp(log_temperature), axis=1)[rows, labels].mean()

    found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def expected_calibration_error(probs, labels, bins=ECE_BINS, predicted=None):
    """Top-label ECE: |accuracy - mean confidence| averaged over equal-width confidence bins, weighted by count."""
    total = sum(row["count"] * abs(row["accuracy"] - row["confidence"])
                for row in reliability(probs, labels, bins, predicted) if row["count"])
    return float(total / len(labels))


def ece_if_calibrated(probs, bins=ECE_BINS, draws=2000, seed=0):
    """The ECE a perfectly calibrated model with these confidences would show on this many images.

    ECE is biased upwards on small sets: a bin of 15 images at 70 % confidence scatters by ~12
    points of accuracy however well calibrated the model is. Each draw makes every label right
    with probability equal to its confidence (calibration by construction) and measures the ECE
    with the same bins. Returns the ECE of each draw.
    """
    confidence = np.asarray(probs, dtype=np.float64).max(axis=1)
    _, which = _confidence_bins(confidence, bins)
    in_bin = np.zeros((len(confidence), bins))
    in_bin[np.arange(len(confidence)), which] = 1.0
    rng = np.random.default_rng(seed)
    correct = rng.random((draws, len(confidence))) < confidence
    # Per bin, |number right - sum of confidences| / n summed over bins is the count-weighted ECE.
    eces = np.abs(correct @ in_bin - confidence @ in_bin).sum(axis=1) / len(confidence)
    return eces


def ece_reference(probs, observed, bins=ECE_BINS):
    """Summary of ``ece_if_calibrated`` for a report: mean, 95th percentile, and how often a
    calibrated model shows an ECE at least as large as ``observed`` (a p-value)."""
    eces = ece_if_calibrated(probs, bins)
    return {"mean": round(float(eces.mean()), 4), "p95": round(float(np.percentile(eces, 95)), 4),
            "p_value": round(float((eces >= observed).mean()), 4)}


def reliability(probs, labels, bins=10, predicted=None):
    """Rows (low, high, count, mean confidence, accuracy) per confidence bin, for the reliability diagram.

    ``predicted``: the class given to each image, when it is not the most probable one (an ``ood``
    row reports uniform probabilities beside the network's own answer).
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) if predicted is None else np.asarray(predicted)) == labels
    edges, which = _confidence_bins(confidence, bins)
    rows = []
    for b in range(bins):
        chosen = which == b
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(chosen.sum()),
                     "confidence": float(confidence[chosen].mean()) if chosen.any() else None,
                     "accuracy": float(correct[chosen].mean()) if chosen.any() else None})
    return rows


def _confidence_bins(confidence, bins):
    """Edges of ``bins`` equal-width bins over [0, 1] and the bin of each confidence (right-closed)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return edges, np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)


def reaches_target(probs, labels, threshold, target=TARGET_SELECTIVE_ACCURACY):
    """Whether the labels at or above ``threshold`` confidence are right at least ``target`` of the
    time (``choose_uncertain_threshold`` falls back to a floor where no threshold does)."""
    kept = probs.max(axis=1) >= threshold
    return bool(kept.any() and (probs.argmax(axis=1) == labels)[kept].mean() >= target)


def choose_uncertain_threshold(probs, labels, target=TARGET_SELECTIVE_ACCURACY, floor=0.5):
    """Lowest confidence at which the labels at or above it are right at least ``target`` of the time.

    Chosen on valid; predictions below it are flagged ``uncertain``. Never below ``floor`` (a
    label the model gives less than even odds is uncertain whatever valid says).
    """
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    for threshold in np.unique(confidence):
        kept = confidence >= threshold
        if correct[kept].mean() >= target:
            return float(max(threshold, floor))
    return float(max(confidence.max(), floor))


def classification_metrics(probs, labels, class_names, predicted=None):
    """Accuracy, macro F1, per-class precision/recall/F1/support, confusion matrix, ECE and the
    ECE a perfectly calibrated model would show on as many images (``ece_reference``).

    ``confusion[i][j]`` counts images of true class i labelled j. ``predicted`` as in
    ``reliability``. The macro F1 averages the classes that occur among the true or the given
    labels (as scikit-learn does): a sample without COMP sources is not marked down for them.
    """
    predicted = probs.argmax(axis=1) if predicted is None else np.asarray(predicted)
    n_classes = len(class_names)
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    per_class, f1s = {}, []
    for index, name in enumerate(class_names):
        true_positive = confusion[index, index]
        precision = true_positive / confusion[:, index].sum() if confusion[:, index].sum() else 0.0
        recall = true_positive / confusion[index].sum() if confusion[index].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                           "f1": round(float(f1), 4), "support": int(confusion[index].sum())}
    occurring = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    ece = expected_calibration_error(probs, labels, predicted=predicted)
    return {
        "n": int(len(labels)),
        "accuracy": round(float((predicted == labels).mean()), 4),
        "macro_f1": round(float(np.mean(np.asarray(f1s)[occurring])), 4),
        "ece": round(ece, 4),
        "ece_if_calibrated": ece_reference(probs, ece),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }
