"""``hippo overlay``: radio contours on an optical/IR or radio image, written as PNG or PDF."""

import sys

from hippo.cli._common import add_store_option, common_options, integer_in


def register(subparsers):
    parser = subparsers.add_parser(
        "overlay", help="radio contours on an optical/IR or radio image (PNG/PDF)", parents=[common_options()],
        description="Contours of radio images (levels: K x robust noise x step^n, dashed -K sigma) over an image "
                    "with WCS, with beam, scale bar, regions and catalogue markers.")
    parser.add_argument("--image", action="append", default=None, metavar="FILE",
                        help="background image with WCS; repeat for a multi-panel figure (one panel each)")
    parser.add_argument("--contours", action="append", default=None, metavar="FILE",
                        help="radio image to contour; repeat for several (each in its own colour)")
    parser.add_argument("--levels", default="3",
                        help="first contour in sigma (default 3), or explicit levels in image units: 0.5e-3,1e-3,...")
    parser.add_argument("--level-step", default="sqrt2", help="ratio between levels: sqrt2 (default), 2, or a number")
    parser.add_argument("--noise", default="global",
                        help="global (robust rms of each contour image, default), local (rms map: contours of S/N), "
                             "or the rms in the contour image's units")
    parser.add_argument("--regions", default=None, metavar="FILE", help="DS9 (.reg) or CRTF (.crtf) region file")
    parser.add_argument("--catalogue", default=None, metavar="FILE",
                        help="table of positions to mark with their IDs (e.g. cross-match candidates)")
    parser.add_argument("--ra-col", default=None, help="RA column of --catalogue")
    parser.add_argument("--dec-col", default=None, help="Dec column of --catalogue")
    parser.add_argument("--id-col", default=None, help="ID column of --catalogue")
    parser.add_argument("--rgb", nargs=3, default=None, metavar=("RED", "GREEN", "BLUE"),
                        help="three bands for a Lupton RGB panel (background subtracted, put on RED's grid)")
    parser.add_argument("--stretch", default="asinh",
                        help="background stretch: asinh (default), zscale, percentile, sqrt, log, linear")
    parser.add_argument("--percentile", type=float, default=99.5,
                        help="percentage of pixels the stretch spans (default 99.5)")
    parser.add_argument("--ra", default=None, help="centre of the field shown (default: image centre)")
    parser.add_argument("--dec", default=None, help="centre of the field shown")
    parser.add_argument("--size", default=None, help="width of the field shown (e.g. 2arcmin; default whole image)")
    parser.add_argument("--redshift", default=None, help="also label the scale bar in kpc (Planck18)")
    parser.add_argument("--title", default=None, help="figure title (e.g. the source name)")
    parser.add_argument("--dpi", type=integer_in(10, 1200), default=150, help="PNG resolution (default 150; 10..1200)")
    parser.add_argument("-o", "--output", required=True, help="figure to write: .png or .pdf")
    add_store_option(parser)
    parser.set_defaults(func=run)


def run(args):
    from hippo.overlays import overlay

    path = overlay(image=args.image, contours=args.contours, levels=args.levels, level_step=args.level_step,
                   regions=args.regions, catalogue=args.catalogue, output=args.output, redshift=args.redshift,
                   stretch=args.stretch, rgb=args.rgb, noise=args.noise, percentile=args.percentile,
                   ra=args.ra, dec=args.dec, size=args.size, title=args.title, ra_col=args.ra_col,
                   dec_col=args.dec_col, id_col=args.id_col, dpi=args.dpi, store=args.store)
    if not args.quiet:
        print(f"overlay written to {path}", file=sys.stderr)
    return 0
