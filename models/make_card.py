"""Complete the shipped model's card with what training alone cannot know: test metrics, the
spread over seeds, and the measured raw-FITS accuracy and throughput.

``hippo train`` writes the card with the valid metrics. This script, run once when a model is
shipped, evaluates the shipped model and every seed's model on valid and test with
``hippo.evaluate`` (the code behind ``hippo evaluate``), and adds to ``model.json`` (then
regenerates ``README.md``):

- ``metrics.valid`` and ``metrics.test``: the shipped model's metrics (recomputed, so that a card
  gains whatever ``hippo evaluate`` reports now), ``preprocessing`` as the code does it now and
  ``data_checked``, the package version and SHA-256 of the labelled data they were computed on;
- ``seeds``: accuracy, macro F1 and ECE on valid and test for each seed, mean and std (kept as
  recorded when ``--seed-models`` is not given: the seeds' directories are not shipped);
- ``notes``: Markdown sections from ``--notes`` files (how the model was chosen, goals) and the
  output of the bench scripts (``--bench``), quoted verbatim (kept when neither is given).

    python models/make_card.py --shipped models --seed-models DIR0 DIR1 DIR2 \\
        --notes notes.md --bench "Raw FIRST FITS (bench/raw_first_accuracy.py)" raw.txt
"""

import argparse
import json
import statistics
from pathlib import Path


def summary(values):
    return {"mean": round(statistics.mean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "values": [round(v, 4) for v in values]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipped", required=True, help="the shipped model directory (its card is updated)")
    parser.add_argument("--seed-models", nargs="+", default=[],
                        help="one model directory per seed (default: keep the seed summary in the card)")
    parser.add_argument("--notes", nargs="*", default=[], help="Markdown files added as sections")
    parser.add_argument("--bench", nargs=2, action="append", default=[], metavar=("TITLE", "FILE"),
                        help="a bench script's output, quoted under TITLE")
    args = parser.parse_args()

    import hippo
    from hippo.morphology.card import preprocessing_description, write_card
    from hippo.morphology.data import data_identity
    from hippo.provenance import utc_now

    shipped = Path(args.shipped)
    card = json.loads((shipped / "model.json").read_text())
    per_seed = []
    for directory in args.seed_models:
        seed_card = json.loads((Path(directory) / "model.json").read_text())
        scores = {split: hippo.evaluate(split, model=directory) for split in ("valid", "test")}
        per_seed.append((seed_card["training"]["seed"], scores))
        print(f"seed {per_seed[-1][0]}: " + "  ".join(
            f"{split} accuracy {m['accuracy']:.3f} macro F1 {m['macro_f1']:.3f} ECE {m['ece']:.3f}"
            for split, m in scores.items()))
    # the preprocessing the code applies now (the metrics below are recomputed with it)
    card["preprocessing"] = preprocessing_description()
    # the exact data the metrics below are computed on (the training run records its own)
    card["data_checked"] = dict(data_identity(), checked=utc_now()[:10])
    card["metrics"]["valid"] = hippo.evaluate("valid", model=shipped)
    card["metrics"]["test"] = hippo.evaluate("test", model=shipped)
    if per_seed:
        seeds_note = _seed_summary(card, per_seed)
    elif card.get("seeds") and card.get("notes"):
        seeds_note = card["notes"][0]  # as recorded when the seeds' models were evaluated
    else:
        parser.error("--seed-models is needed: the card has no seed summary yet")
    notes = [seeds_note]
    if args.notes or args.bench:
        notes += [Path(path).read_text().strip() for path in args.notes]
        for title, path in args.bench:
            quoted = "\n".join("    " + line for line in Path(path).read_text().strip().splitlines())
            notes.append(f"## {title}\n\n{quoted}")
    else:
        notes += card.get("notes", [])[1:]
    card["notes"] = notes
    write_card(shipped, card)
    test = card["metrics"]["test"]
    print(f"shipped {card['name']}: test accuracy {test['accuracy']:.3f}, macro F1 {test['macro_f1']:.3f}, "
          f"ECE {test['ece']:.3f}; card written to {shipped}")


def _seed_summary(card, per_seed):
    """Records the seeds' metrics in ``card["seeds"]``; returns the Markdown paragraph about them."""
    hyper = card["training"]["hyperparameters"]
    card["seeds"] = {
        "seeds": [seed for seed, _ in per_seed],
        "command": f"hippo train --seed S --threads 1 -o DIR (defaults: {hyper['epochs']} epochs, "
                   f"width {hyper['width']})",
        **{split: {metric: summary([scores[split][metric] for _, scores in per_seed])
                   for metric in ("accuracy", "macro_f1", "ece")} for split in ("test", "valid")},
    }
    seeds = card["seeds"]
    lines = [f"## Over {len(per_seed)} seeds ({', '.join(str(s) for s in seeds['seeds'])}; the shipped model is "
             f"seed {card['training']['seed']})", ""]
    for split in ("test", "valid"):
        stats = seeds[split]
        lines.append(f"{split.capitalize()} (`hippo evaluate --split {split}` on each seed's model): accuracy "
                     f"{stats['accuracy']['mean']:.3f} ± {stats['accuracy']['std']:.3f} "
                     f"({', '.join(f'{v:.3f}' for v in stats['accuracy']['values'])}), macro F1 "
                     f"{stats['macro_f1']['mean']:.3f} ± {stats['macro_f1']['std']:.3f}, ECE "
                     f"{stats['ece']['mean']:.3f} ± {stats['ece']['std']:.3f} (mean ± std).")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
