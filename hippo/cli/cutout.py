"""``hippo surveys`` and ``hippo cutout``: what can be cut, and cutting it."""

import math
import sys

from hippo.cli._common import add_store_option, add_table_columns_options, common_options, integer_in
from hippo.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE


def register(subparsers):
    surveys = subparsers.add_parser("surveys", help="list the surveys HIPPO can cut from",
                                    parents=[common_options()])
    surveys.add_argument("paths", nargs="*", metavar="PATH",
                         help="also describe these local FITS images or tile directories")
    surveys.add_argument("-o", "--output", default=None, help="write the list as a table (by extension)")
    surveys.set_defaults(func=run_surveys)

    parser = subparsers.add_parser(
        "cutout", help="cutouts around positions from local and remote surveys", parents=[common_options()],
        description="Cut images around one position (--ra/--dec) or a catalogue from one or more surveys. "
                    "Writes DIR/<name>/<survey>.fits and DIR/cutouts.csv; exit 3 when some cutouts failed, "
                    "2 when all did.")
    parser.add_argument("--ra", default=None, help="RA (degrees or hh:mm:ss)")
    parser.add_argument("--dec", default=None, help="Dec (degrees or dd:mm:ss)")
    parser.add_argument("--name", default=None, help="source name (default: IAU-style Jhhmmss.ss+ddmmss.s)")
    parser.add_argument("--catalogue", "--catalog", default=None, metavar="FILE", help="table of positions")
    add_table_columns_options(parser)
    parser.add_argument("--survey", action="append", default=[], metavar="S", required=True,
                        help="remote survey name (see 'hippo surveys'), FITS image or directory of tiles; repeat")
    parser.add_argument("--size", default="4.5arcmin", help="width and height (default 4.5arcmin; numbers: arcsec)")
    parser.add_argument("--pixel-scale", default=None, metavar="ARCSEC",
                        help="resample onto a north-up grid of this pixel size centred on the position")
    parser.add_argument("--reproject-to", default=None, metavar="S",
                        help="put every survey on the grid of survey S (its pixel size, centred)")
    parser.add_argument("--resampling", default="interp", choices=("interp", "exact"),
                        help="when resampling: interp (bilinear, display) or exact (flux-conserving, photometry)")
    parser.add_argument("--overlay", action="store_true", help="also write DIR/<name>/overlay.png")
    parser.add_argument("-o", "--output", default="cutouts", metavar="DIR", help="output directory (default cutouts)")
    add_store_option(parser)
    parser.add_argument("--workers", type=int, default=None, help="parallel workers (default 4 remote, 1 local)")
    parser.add_argument("--offline", action="store_true", default=None,
                        help="remote surveys from the download cache only")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per remote answer (default 60)")
    parser.add_argument("--retries", type=integer_in(0), default=2, help="further attempts after a failed download (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="cut again even where a finished cutout exists")
    parser.set_defaults(func=run_cutout)


def run_surveys(args):
    from hippo.archive import surveys

    table = surveys(local=args.paths, output=args.output)
    if args.output:  # the reasons are in the file: say on screen what cannot be used
        for problem in table.meta["problems"]:
            print(f"error: {problem}", file=sys.stderr)
    else:
        print(f"{'name':14s} {'kind':18s} {'arcsec/px':>9s}  coverage")
        for row in table:
            scale = " " * 9 if math.isnan(row["pixel_scale_arcsec"]) else f"{row['pixel_scale_arcsec']:9.3f}"
            radio = " [radio]" if row["radio"] else ""
            location = f" ({row['location']})" if row["kind"] in ("local", "tiles") else ""
            print(f"{row['name'][:14]:14s} {row['kind'][:18]:18s} {scale}  {row['coverage']}{radio}{location}")
    # SPEC: 3 when some of what was named (a path, a configured survey, a tile) cannot be used, 2 when no path can
    if args.paths and len(table.meta["unusable_paths"]) == len(args.paths):
        return EXIT_USAGE
    return EXIT_PARTIAL if table.meta["problems"] else EXIT_OK


def run_cutout(args):
    from hippo.cutouts import cutout
    from hippo.cutouts.driver import exit_status

    table = cutout(ra=args.ra, dec=args.dec, name=args.name, catalogue=args.catalogue, survey=args.survey,
                   size=args.size, pixel_scale=args.pixel_scale, reproject_to=args.reproject_to,
                   overlay=args.overlay, output=args.output, store=args.store, workers=args.workers,
                   quiet=args.quiet, resampling=args.resampling, ra_col=args.ra_col, dec_col=args.dec_col,
                   id_col=args.id_col, offline=args.offline, timeout=args.timeout, retries=args.retries,
                   overwrite=args.overwrite)
    counts = {status: int((table["status"] == status).sum()) for status in ("ok", "partial", "no_coverage", "error")}
    # each failed row was already reported by the API as "error: <name> (<survey>): <reason>"
    if not args.quiet:
        summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        overlays = table.meta.get("overlays_failed")
        unwritten = f"; {overlays} overlay{'s' * (overlays > 1)} not written" if overlays else ""
        print(f"{len(table)} cutouts ({summary}){unwritten}; index: {args.output}/cutouts.csv", file=sys.stderr)
    return exit_status(table)
