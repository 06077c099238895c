"""``hippo xmatch RADIO OPTICAL``: radio sources to optical/IR counterparts."""

import sys

from hippo.cli._common import common_options
from hippo.errors import EXIT_PARTIAL


def register(subparsers):
    parser = subparsers.add_parser("xmatch", help="cross-match radio sources to optical/IR counterparts",
                                   parents=[common_options()])
    parser.add_argument("radio", help="radio catalogue (.csv/.ecsv/.fits/.vot/.parquet)")
    parser.add_argument("optical", help="optical/IR catalogue")
    parser.add_argument("--method", default="nn",
                        help="nn (nearest within radius), best (mutual nearest pairs only) or lr (likelihood ratio)")
    parser.add_argument("--radius", default="5arcsec",
                        help="search radius (default 5arcsec; numbers are arcsec; at most 10deg)")
    parser.add_argument("--mag-col", default=None, help="optical magnitude column for lr (default: 'mag', else the first column "
                             "with 'mag' in its name; none: positional LR)")
    parser.add_argument("--radio-err", default=None,
                        help="radio positional errors for lr: COL, RA_COL,DEC_COL or an angle "
                             "(default: E_RA/E_DEC, ra_err/dec_err, sigma, ... found by name)")
    parser.add_argument("--optical-err", default=None, help="optical positional errors, as --radio-err (optional)")
    parser.add_argument("--astrometric-floor", default="0.5arcsec",
                        help="astrometric mismatch added in quadrature to the errors (default 0.5arcsec)")
    parser.add_argument("--lr-threshold", default="balanced",
                        help="LR threshold, or 'balanced' (default): where estimated completeness = reliability")
    parser.add_argument("--group", action="store_true",
                        help="group multi-component radio sources (lobes, core) and match them as one, flagged")
    parser.add_argument("--flux-col", default=None, help="radio flux column for --group (default: found by name)")
    parser.add_argument("--size-col", default=None, help="radio major-axis column (default: Maj, DC_Maj, ...)")
    for side in ("radio", "optical"):
        for what in ("ra", "dec", "id"):
            parser.add_argument(f"--{side}-{what}-col", default=None, help=f"{what} column of the {side} catalogue")
    parser.add_argument("--overlay-image", default=None,
                        help="optical/IR image: write an overlay of every flagged source into --overlay-dir")
    parser.add_argument("--overlay-contours", default=None, help="radio image to contour on those overlays")
    parser.add_argument("--overlay-dir", default="xmatch_overlays", help="where flagged overlays go")
    parser.add_argument("-o", "--output", default=None, help="output table (default: CSV on stdout)")
    parser.add_argument("--store", metavar="PATH", default=None, help="also write pairs and provenance to the store")
    parser.set_defaults(func=run)


def run(args):
    from hippo.crossmatch import xmatch

    columns, meta = xmatch(args.radio, args.optical, method=args.method, radius=args.radius, mag_col=args.mag_col,
                   output=args.output, store=args.store,
                   radio_ra_col=args.radio_ra_col, radio_dec_col=args.radio_dec_col, radio_id_col=args.radio_id_col,
                   optical_ra_col=args.optical_ra_col, optical_dec_col=args.optical_dec_col,
                   optical_id_col=args.optical_id_col, radio_err=args.radio_err, optical_err=args.optical_err,
                   astrometric_floor=args.astrometric_floor, lr_threshold=args.lr_threshold, group=args.group,
                   flux_col=args.flux_col, size_col=args.size_col, as_columns=True)
    if args.output is None or args.overlay_image:
        from hippo.crossmatch import pairs_table

        pairs = pairs_table(columns, meta)
    if args.output is None:
        from hippo.io import write_table

        write_table(pairs)
    elif not args.quiet:
        print(f"{len(columns['radio_id'])} pairs written to {args.output}", file=sys.stderr)
    # rows left out for want of a position were named on stderr as the catalogues were read
    partial = any(meta.get(f"{side}_rows_left_out") for side in ("radio", "optical"))
    if args.overlay_image:
        return max(_flagged_overlays(pairs, args), EXIT_PARTIAL if partial else 0)
    return EXIT_PARTIAL if partial else 0


def _flagged_overlays(pairs, args):
    """One overlay per flagged source; a source that fails is reported and the rest carry on."""
    from pathlib import Path

    import numpy as np

    from hippo.cli._common import print_failures
    from hippo.crossmatch import overlay_flagged

    flagged = np.unique(np.asarray(pairs["radio_id"])[np.asarray(pairs["flag"]) != "ok"])
    failures = []
    for radio_id in flagged:
        try:
            overlay_flagged(pairs, radio_id, args.overlay_image, contours=args.overlay_contours,
                            output=Path(args.overlay_dir) / f"{radio_id}.png")
        except Exception as exc:  # one bad cutout must not stop the others
            failures.append((radio_id, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    print_failures(failures)
    if not args.quiet:
        print(f"{len(flagged) - len(failures)} overlays of flagged sources in {args.overlay_dir}", file=sys.stderr)
    return EXIT_PARTIAL if failures else 0
