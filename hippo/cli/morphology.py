"""``hippo classify``, ``hippo evaluate``, ``hippo train``: the morphology classifier from the shell."""

import json
import math
import sys

from hippo.cli._common import (add_store_option, add_table_columns_options, common_options, integer_in,
                                print_failures)
from hippo.errors import EXIT_OK, EXIT_PARTIAL

_POSITIVE = integer_in(1)


def register(subparsers):
    classify = subparsers.add_parser(
        "classify", parents=[common_options()],
        help="FRI/FRII/BENT/COMP morphology of radio images, with calibrated probabilities")
    classify.add_argument("inputs", nargs="*", metavar="INPUT", help="FITS files or directories of them")
    classify.add_argument("-o", "--output", default=None, help="output table (default: CSV on stdout)")
    classify.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    classify.add_argument("--survey", default=None, help="cut the --catalogue positions from this survey")
    classify.add_argument("--catalogue", default=None, help="positions to classify (with --survey)")
    classify.add_argument("--size", default="4.8arcmin", help="cutout size with --survey (default 4.8arcmin)")
    add_table_columns_options(classify)
    _add_runtime_options(classify)
    classify.add_argument("--batch-size", type=_POSITIVE, default=64,
                          help="most images per network pass (default 64; FITS files go 8 at a time, "
                               "which keeps them in the CPU cache)")
    classify.add_argument("--json", action="store_true", help="print the rows as one JSON array on stdout")
    add_store_option(classify)
    classify.set_defaults(func=run_classify)

    evaluate = subparsers.add_parser(
        "evaluate", parents=[common_options()],
        help="metrics of a model on the labelled FIRST data set, or on your own labelled FITS files")
    evaluate.add_argument("inputs", nargs="*", metavar="INPUT",
                          help="with --labels: FITS files or directories, matched to the table's rows by name")
    evaluate.add_argument("--split", default=None, choices=("valid", "test"), help="split (default valid)")
    evaluate.add_argument("--labels", default=None, metavar="TABLE",
                          help="instead of a split: a table of FITS files (column file, relative to the table) "
                               "and their true class (column label: FRI, FRII, BENT, COMP)")
    evaluate.add_argument("--file-col", default=None, help="file column of --labels (default: file, path, ...)")
    evaluate.add_argument("--label-col", default=None, help="true-class column of --labels (default: label, class, ...)")
    evaluate.add_argument("--id-col", default=None,
                          help="source-name column of --labels, matched to INPUT file names (default: source, name, ...)")
    evaluate.add_argument("-o", "--output", default=None,
                          help="with --labels: write each file's classification with true_label and correct")
    evaluate.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    evaluate.add_argument("--json", action="store_true",
                          help="one JSON object: n, accuracy, macro_f1, ece, per_class, confusion, ...")
    _add_runtime_options(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    train = subparsers.add_parser("train", parents=[common_options()],
                                  help="train the classifier on the labelled FIRST data set")
    train.add_argument("-o", "--output", required=True, metavar="MODEL_DIR", help="model directory to write")
    train.add_argument("--epochs", type=_POSITIVE, default=40, help="training epochs (default 40)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--width", type=_POSITIVE, default=24, help="network width (default 24)")
    train.add_argument("--batch-size", type=_POSITIVE, default=32, help="training batch size (default 32)")
    train.add_argument("--learning-rate", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    train.add_argument("--per-class", type=_POSITIVE, default=None,
                       help="use only this many training images per class (smoke runs)")
    train.add_argument("--json", action="store_true", help="print the valid metrics as JSON")
    add_store_option(train)
    _add_runtime_options(train)
    train.set_defaults(func=run_train)


def _add_runtime_options(parser):
    parser.add_argument("--threads", type=_POSITIVE, default=None,
                        help="CPU threads for the network (default: available cores, at most 4)")


def run_classify(args):
    from hippo.io import write_table
    from hippo.morphology import classify, exit_status, failures as failed_rows

    table = classify(args.inputs, output=args.output, model=args.model, survey=args.survey, catalogue=args.catalogue,
                     size=args.size, batch_size=args.batch_size, threads=args.threads, store=args.store,
                     quiet=args.quiet, ra_col=args.ra_col, dec_col=args.dec_col, id_col=args.id_col)
    failures = failed_rows(table, positions=args.survey is not None)
    if args.json:
        rows = [{name: _json_value(row[name]) for name in table.colnames} for row in table]
        print(json.dumps(rows))
    elif args.output is None:
        write_table(table)
    if not args.quiet and args.output is not None:
        flags = {flag: int(sum(1 for f in table["flag"] if f == flag)) for flag in ("ok", "uncertain", "ood", "error")}
        print(f"{len(table)} images classified ({', '.join(f'{n} {k}' for k, n in flags.items())}) -> {args.output}",
              file=sys.stderr)
    print_failures(failures)
    return exit_status(table)


def _json_value(value):
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def run_evaluate(args):
    from hippo.morphology import evaluate

    metrics = evaluate(split=args.split, model=args.model, threads=args.threads, labels=args.labels,
                       inputs=args.inputs, file_col=args.file_col, label_col=args.label_col, id_col=args.id_col,
                       output=args.output, quiet=args.quiet)
    skipped = [(item["input"], item["reason"]) for item in metrics.get("skipped", [])]
    status = EXIT_PARTIAL if skipped else EXIT_OK
    if not args.quiet:  # left out on purpose (hybrids, empty cells): a note, not a failure
        for item in metrics.get("left_out", []):
            print(f"left out: {item['row']}: {item['reason']}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics))
        print_failures(skipped)
        return status
    print(f"{metrics['model']} on {args.labels or args.split or 'valid'}: n={metrics['n']} "
          f"accuracy {metrics['accuracy']:.3f} macro-F1 {metrics['macro_f1']:.3f} ECE {metrics['ece']:.3f}")
    if "flags" in metrics:
        flags = metrics["flags"]
        when_ok = metrics["accuracy_when_ok"]
        print(f"  flags: {flags['ok']} ok (accuracy {'-' if when_ok is None else f'{when_ok:.3f}'}), "
              f"{flags['uncertain']} uncertain, {flags['ood']} ood (scored by the network's own answer); "
              f"{len(skipped)} files not found or unreadable, {len(metrics['left_out'])} rows left out, "
              f"{metrics['unlabelled']} input files without a row")
    elif metrics.get("accuracy_when_ok") is not None:
        print(f"  {1 - metrics['uncertain_fraction']:.0%} of the labels above the uncertain threshold, right "
              f"{metrics['accuracy_when_ok']:.3f} of the time; {metrics['ood_fraction']:.0%} far from the training "
              f"features (ood)")
    reference = metrics["ece_if_calibrated"]
    print(f"  ECE of a perfectly calibrated model with these confidences on {metrics['n']} images: "
          f"{reference['mean']:.3f} (95th percentile {reference['p95']:.3f}); p = {reference['p_value']:.2f}")
    for name, values in metrics["per_class"].items():
        print(f"  {name:5s} precision {values['precision']:.3f} recall {values['recall']:.3f} "
              f"F1 {values['f1']:.3f} (n={values['support']})")
    print("  confusion (rows true, columns labelled; FRI FRII BENT COMP):")
    for row in metrics["confusion"]:
        print("   " + " ".join(f"{v:4d}" for v in row))
    print_failures(skipped)
    return status


def run_train(args):
    from hippo.morphology import train

    card = train(args.output, epochs=args.epochs, seed=args.seed, width=args.width, batch_size=args.batch_size,
                 learning_rate=args.learning_rate, per_class=args.per_class, threads=args.threads, quiet=args.quiet,
                 store=args.store)
    valid = card["metrics"]["valid"]
    if args.json:
        print(json.dumps(valid))
    elif not args.quiet:
        print(f"model written to {args.output}: valid accuracy {valid['accuracy']:.3f}, macro-F1 "
              f"{valid['macro_f1']:.3f}, ECE {valid['ece']:.3f}, temperature {card['temperature']:.2f}",
              file=sys.stderr)
    return EXIT_OK
