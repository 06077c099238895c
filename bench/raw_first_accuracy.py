"""Accuracy of the shipped classifier on raw FIRST FITS cutouts (Jy/beam) of MiraBest sources.

``../shared/data/first_mirabest/index.csv`` gives each file's MiraBest code (1xx FRI, 2xx FRII;
second digit 0 confident, 1 uncertain; third digit 2 wide-angle tail, 4 head-tail) and, where
the source is in firstgalaxydata, its label and split there. The truth used here is the label
firstgalaxydata gives such sources: 100/110 FRI, 102/104/112 BENT, 200/201/210 FRII.

Each group is written as a label table and scored by ``hippo evaluate --labels`` (the same
reader, preprocessing and metrics a user gets on their own held-out cutouts):
- never seen: sources not in firstgalaxydata at all (nor in its test split), confident codes;
- never seen, uncertain MiraBest codes (x1x);
- seen: sources whose data-set image was in train/valid (the agreement of the two paths).
For the seen group, also the agreement between the label of the raw FITS and the label of the
data set's 8-bit image of the same source (the two preprocessing paths). Also given: the
FR-family accuracy, which accepts BENT for a MiraBest FRI (MiraBest classes wide-angle and
head-tail sources as FRI; firstgalaxydata moved some of them to Bent).

    python bench/raw_first_accuracy.py [--model DIR] [--labels-dir DIR]

``--labels-dir`` keeps the three label tables, for ``hippo evaluate --labels DIR/never_seen.csv``.
"""

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "first_mirabest"
TRUTH = {"0": "FRI", "2": "BENT", "4": "BENT"}
GROUPS = {
    "never_seen": "never seen, confident MiraBest class",
    "never_seen_uncertain": "never seen, uncertain MiraBest class",
    "seen": "seen (train/valid source, raw FITS)",
}


def truth_of(row):
    code = row["mirabest_code"]
    return row["fgd_label"] or ("FRII" if code.startswith("2") else TRUTH[code[2]])


def members_of(rows):
    return {
        "never_seen": [r for r in rows if not r["fgd_label"] and r["mirabest_code"][1] == "0"],
        "never_seen_uncertain": [r for r in rows if not r["fgd_label"] and r["mirabest_code"][1] == "1"],
        "seen": [r for r in rows if r["fgd_split"] in ("train", "valid")],
    }


def write_labels(path, members):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["file", "label", "mirabest_code"])
        writer.writerows((DATA / r["file"], truth_of(r), r["mirabest_code"]) for r in members)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--labels-dir", default=None, help="keep the label tables here")
    args = parser.parse_args()

    from astropy.table import Table

    from hippo.morphology import evaluate, load_classifier

    rows = list(csv.DictReader(open(DATA / "index.csv")))
    classifier = load_classifier(args.model, threads=args.threads)
    groups = members_of(rows)
    print(f"model {classifier.name}; truth as firstgalaxydata labels MiraBest codes (1x0 FRI, 1x2/1x4 BENT, 2xx FRII)")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.labels_dir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for key, members in groups.items():
            write_labels(folder / f"{key}.csv", members)
            metrics = evaluate(labels=folder / f"{key}.csv", classifier=classifier, output=Path(scratch) / "rows.ecsv",
                               threads=args.threads)
            scored = Table.read(Path(scratch) / "rows.ecsv")
            # MiraBest classes bent tails as FRI: BENT is the right family for a MiraBest FRI.
            family = np.array([bool(ok) or (r["mirabest_code"].startswith("1") and label in ("FRI", "BENT"))
                               for ok, label, r in zip(scored["correct"], scored["label"], members)])
            flags = {k: v for k, v in metrics["flags"].items() if v}
            when_ok = metrics["accuracy_when_ok"]
            print(f"{GROUPS[key]}: n={metrics['n']}  accuracy {metrics['accuracy']:.3f}  macro F1 "
                  f"{metrics['macro_f1']:.3f}  ECE {metrics['ece']:.3f} (calibrated reference "
                  f"{metrics['ece_if_calibrated']['mean']:.3f})  FR family (BENT accepted for MiraBest FRI) "
                  f"{family.mean():.3f}  flagged ok n={flags.get('ok', 0)}: accuracy "
                  f"{float('nan') if when_ok is None else when_ok:.3f}  flags {flags}")
            if key == "seen":
                labels = dict(zip((str(f) for f in (DATA / r["file"] for r in members)), scored["label"]))
                print(f"raw FITS vs data-set image of the same source (seen group): same label "
                      f"{dataset_agreement(classifier, members, labels):.3f}")


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
        same.append(CLASSES[int(np.argmax(probabilities))] == labels[str(DATA / row["file"])])
    return float(np.mean(same))


if __name__ == "__main__":
    main()
