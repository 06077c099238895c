"""``hippo xmatch RADIO OPTICAL``: radio sources to optical/IR counterparts."""

import sys

from hippo.cli._common import common_options


def register(subparsers):
    parser = subparsers.add_parser("xmatch", help="cross-match radio sources to optical/IR counterparts",
                                   parents=[common_options()])
    parser.add_argument("radio", help="radio catalogue (.csv/.ecsv/.fits/.vot/.parquet)")
    parser.add_argument("optical", help="optical/IR catalogue")
    parser.add_argument("--method", default="nn", help="nn (nearest within radius) or best (symmetric best)")
    parser.add_argument("--radius", default="5arcsec", help="search radius (default 5arcsec; numbers are arcsec)")
    parser.add_argument("--mag-col", default=None, help="magnitude column (for the likelihood-ratio method)")
    for side in ("radio", "optical"):
        for what in ("ra", "dec", "id"):
            parser.add_argument(f"--{side}-{what}-col", default=None, help=f"{what} column of the {side} catalogue")
    parser.add_argument("-o", "--output", default=None, help="output table (default: CSV on stdout)")
    parser.add_argument("--store", metavar="PATH", default=None, help="also write pairs and provenance to the store")
    parser.set_defaults(func=run)


def run(args):
    from hippo.crossmatch import xmatch
    from hippo.io import write_table

    pairs = xmatch(args.radio, args.optical, method=args.method, radius=args.radius, mag_col=args.mag_col,
                   output=args.output, store=args.store,
                   radio_ra_col=args.radio_ra_col, radio_dec_col=args.radio_dec_col, radio_id_col=args.radio_id_col,
                   optical_ra_col=args.optical_ra_col, optical_dec_col=args.optical_dec_col,
                   optical_id_col=args.optical_id_col)
    if args.output is None:
        write_table(pairs)
    elif not args.quiet:
        print(f"{len(pairs)} pairs written to {args.output}", file=sys.stderr)
    return 0
