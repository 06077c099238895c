"""``hippo batch classify|cutout|merge``: whole-survey runs as Slurm job arrays or on dask."""

import sys

from hippo.cli._common import add_store_option, add_table_columns_options, common_options, print_failures


def register(subparsers):
    parser = subparsers.add_parser(
        "batch", help="classify or cut whole surveys as a Slurm job array or on dask", parents=[common_options()],
        description="Split the input into shards, run the real 'hippo classify'/'hippo cutout' on each (one "
                    "Slurm array task or dask task per shard), then merge into OUT and the store. Re-run the "
                    "same command to resubmit only the shards that are missing or failed.")
    commands = parser.add_subparsers(dest="batch_command", metavar="{classify,cutout,merge}", required=True)

    classify = commands.add_parser("classify", help="hippo classify over shards of the input",
                                   parents=[common_options()])
    classify.add_argument("inputs", nargs="+", metavar="INPUT", help="FITS files or directories of them")
    classify.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    classify.add_argument("-o", "--output", required=True, help="merged table (.csv, .ecsv, .fits, ...)")
    _scheduling_options(classify)
    classify.set_defaults(func=run_classify)

    cutout = commands.add_parser("cutout", help="hippo cutout over shards of a catalogue",
                                 parents=[common_options()])
    cutout.add_argument("--catalogue", required=True, help="table of positions")
    cutout.add_argument("--survey", action="append", required=True,
                        help="survey name, FITS image or directory of images (repeatable)")
    cutout.add_argument("--size", default=None, help="cutout size (as for hippo cutout)")
    cutout.add_argument("--pixel-scale", default=None, help="resample to this pixel scale (arcsec)")
    cutout.add_argument("--reproject-to", default=None, help="reproject to this survey's grid")
    cutout.add_argument("--overlay", action="store_true", help="also write DIR/<name>/overlay.png")
    add_table_columns_options(cutout)
    cutout.add_argument("-o", "--output", required=True, help="cutout directory (DIR/<name>/<survey>.fits)")
    _scheduling_options(cutout)
    cutout.set_defaults(func=run_cutout)

    merge = commands.add_parser("merge", help="merge a finished batch (what the Slurm merge job runs)",
                                parents=[common_options()])
    merge.add_argument("plan", metavar="PLAN_DIR", help="the batch's scratch directory (holding plan.json)")
    merge.set_defaults(func=run_merge)

    # Not listed: what a classify task runs when none of its shard's files is usable.
    shard_errors = commands.add_parser("shard-errors", parents=[common_options()],
                                       description="write a classify shard's output as one error row per file")
    shard_errors.add_argument("plan", metavar="PLAN_DIR")
    shard_errors.add_argument("shard", type=int, metavar="SHARD")
    shard_errors.set_defaults(func=run_shard_errors)


def _scheduling_options(parser):
    runner = parser.add_argument_group("where it runs")
    runner.add_argument("--slurm", action="store_true", help="submit a Slurm job array and an afterok merge job")
    runner.add_argument("--dask", nargs="?", const="local", default=None, choices=["local", "slurm"],
                        help="run on dask: a local cluster (default) or a dask-jobqueue SLURMCluster")
    runner.add_argument("--array-size", type=int, default=None, metavar="N",
                        help="number of shards/array tasks (default: ~128 inputs a shard, at most 1000)")
    runner.add_argument("--max-running", type=int, default=None, metavar="N",
                        help="at most N array tasks at once (--array=...%%N)")
    runner.add_argument("--partition", default=None, help="Slurm partition")
    runner.add_argument("--account", default=None, help="Slurm account")
    runner.add_argument("--time", default=None, help="time limit per task, e.g. 01:00:00 (default: the partition's)")
    runner.add_argument("--mem", default=None, help="memory of each task, e.g. 4G (default: the cluster's)")
    runner.add_argument("--cpus-per-task", type=int, default=1, help="CPUs of each task (default 1)")
    runner.add_argument("--workers", type=int, default=2, help="dask workers (default 2)")
    runner.add_argument("--interface", default=None, help="network interface for dask on Slurm (e.g. ib0)")
    runner.add_argument("--wait", action="store_true", help="block until merged (or failed) and report")
    runner.add_argument("--timeout", type=float, default=None, help="with --wait: give up waiting after SECONDS")
    data = parser.add_argument_group("data management")
    data.add_argument("--scratch", default=None,
                      help="intermediates (shards, task logs); default $HIPPO_SCRATCH, $SCRATCH/hippo, "
                           "or PRODUCTS/.hippo-scratch; must be seen by every node")
    data.add_argument("--products", default=None,
                      help="where the batch's record (logs, parameters, versions, summary) goes; "
                           "default: the directory of OUT")
    data.add_argument("--keep-intermediates", action="store_true", help="keep scratch after a successful merge")
    add_store_option(parser)


def _scheduling(args):
    return dict(slurm=args.slurm, dask=args.dask, array_size=args.array_size, partition=args.partition,
                time=args.time, memory=args.mem, cpus_per_task=args.cpus_per_task, account=args.account,
                max_running=args.max_running, wait=args.wait, timeout=args.timeout, scratch=args.scratch,
                products=args.products, keep_intermediates=args.keep_intermediates, store=args.store,
                workers=args.workers, interface=args.interface, quiet=args.quiet)


def _finish(args, result):
    if not args.quiet:
        for line in result.report():
            print(line, file=sys.stderr)
    print_failures((f"{result.batch} shard {shard}" if shard is not None else result.batch, reason)
                   for shard, reason in result.failures)
    if result.summary:  # the inputs that failed, one line each, as a local run lists them
        print_failures(result.summary.get("failures", []))
    return result.exit_status


def run_classify(args):
    from hippo.batch import batch_classify

    return _finish(args, batch_classify(args.inputs, args.output, model=args.model, **_scheduling(args)))


def run_cutout(args):
    from hippo.batch import batch_cutout

    return _finish(args, batch_cutout(args.catalogue, args.survey, args.output, size=args.size,
                                      pixel_scale=args.pixel_scale, reproject_to=args.reproject_to,
                                      overlay=args.overlay, ra_col=args.ra_col, dec_col=args.dec_col,
                                      id_col=args.id_col, **_scheduling(args)))


def run_merge(args):
    from hippo.batch.merge import merge_batch

    summary = merge_batch(args.plan)
    if not args.quiet:
        print(f"batch {summary['batch']}: merged {summary['rows']} rows into {summary['output']}; "
              f"record in {summary['products']}; intermediates {summary['intermediates']}", file=sys.stderr)
    print_failures(summary["failures"])
    return summary["exit_status"]


def run_shard_errors(args):
    from hippo.batch.plan import write_error_rows

    write_error_rows(args.plan, args.shard)
    return 0
