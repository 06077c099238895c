"""Accuracy of the shipped classifier on raw FIRST FITS cutouts (Jy/beam) of MiraBest sources.

``../shared/data/first_mirabest/index.csv`` gives each file's MiraBest code (1xx FRI, 2xx FRII;
second digit 0 confident, 1 uncertain; third digit 2 wide-angle tail, 4 head-tail) and, where
the source is in firstgalaxydata, its label and split there. The truth used here is the label
firstgalaxydata gives such sources: 100/110 FRI, 102/104/112 BENT, 200/201/210 FRII.

Groups reported (n and accuracy each, and with the ``ok`` flag only):
- never seen: sources not in firstgalaxydata at all (nor in its test split), confident codes;
- never seen, uncertain MiraBest codes (x1x);
- seen: sources whose data-set image was in train/valid (the agreement of the two paths).
For the seen group, also the agreement between the label of the raw FITS and the label of the
data set's 8-bit image of the same source (the two preprocessing paths). Also given: the
FR-family accuracy, which accepts BENT for a MiraBest FRI (MiraBest classes wide-angle and
head-tail sources as FRI; firstgalaxydata moved some of them to Bent).

    python bench/raw_first_accuracy.py [--model DIR]
"""

import argparse
import csv
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "first_mirabest"
TRUTH = {"0": "FRI", "2": "BENT", "4": "BENT"}


def truth_of(code):
    return "FRII" if code.startswith("2") else TRUTH[code[2]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import hippo
    from hippo.morphology import load_classifier

    rows = list(csv.DictReader(open(DATA / "index.csv")))
    classifier = load_classifier(args.model, threads=args.threads)
    table = hippo.classify([DATA / r["file"] for r in rows], classifier=classifier, quiet=True)
    labels = dict(zip(np.asarray(table["source"]).astype(str), np.asarray(table["label"]).astype(str)))
    flags = dict(zip(np.asarray(table["source"]).astype(str), np.asarray(table["flag"]).astype(str)))
    groups = {
        "never seen, confident MiraBest class": [r for r in rows if not r["fgd_label"] and r["mirabest_code"][1] == "0"],
        "never seen, uncertain MiraBest class": [r for r in rows if not r["fgd_label"] and r["mirabest_code"][1] == "1"],
        "seen (train/valid source, raw FITS)": [r for r in rows if r["fgd_split"] in ("train", "valid")],
    }
    print(f"model {classifier.name}; truth as firstgalaxydata labels MiraBest codes (1x0 FRI, 1x2/1x4 BENT, 2xx FRII)")
    for name, members in groups.items():
        names = [r["file"].removesuffix(".fits.fz") for r in members]
        truth = [r["fgd_label"] or truth_of(r["mirabest_code"]) for r in members]
        given = [labels[n] for n in names]
        correct = np.array([g == t for g, t in zip(given, truth)])
        # MiraBest classes bent tails as FRI: BENT is the right family for a MiraBest FRI.
        family = np.array([g == t or (r["mirabest_code"].startswith("1") and g in ("FRI", "BENT"))
                           for g, t, r in zip(given, truth, members)])
        ok = np.array([flags[n] == "ok" for n in names])
        counts = {str(k): int(v) for k, v in zip(*np.unique([flags[n] for n in names], return_counts=True))}
        print(f"{name}: n={len(members)}  accuracy {correct.mean():.3f}  FR family (BENT accepted for MiraBest "
              f"FRI) {family.mean():.3f}  flagged ok n={ok.sum()}: accuracy "
              f"{correct[ok].mean() if ok.any() else float('nan'):.3f}  flags {counts}")
    print(f"raw FITS vs data-set image of the same source (seen group): same label "
          f"{dataset_agreement(classifier, groups['seen (train/valid source, raw FITS)'], labels):.3f}")


def dataset_agreement(classifier, members, labels):
    """Fraction of sources whose raw FITS gets the label their firstgalaxydata image gets."""
    from hippo.morphology.classifier import CLASSES
    from hippo.morphology.data import load_splits

    splits = dict(zip(("train", "valid"), load_splits("train", "valid")))
    same = []
    for row in members:
        labelled = splits[row["fgd_split"]]
        distance = (labelled.ra - float(row["host_ra"])) ** 2 + (labelled.dec - float(row["host_dec"])) ** 2
        index = int(np.argmin(distance))
        probabilities, _ = classifier.predict_arrays(labelled.images[index][None])
        same.append(CLASSES[int(np.argmax(probabilities))] == labels[row["file"].removesuffix(".fits.fz")])
    return float(np.mean(same))


if __name__ == "__main__":
    main()
