"""``hippo demo [-o DIR]``: the whole chain offline on data that ships with the install."""

from hippo.cli._common import common_options


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", parents=[common_options()],
        help="run the whole chain offline on shipped data (cutouts, classification, cross-match, overlay, store, backup)",
        description="Runs cutouts, classification, a cross-match, an overlay, the catalogue store and a backup "
                    "to a local directory on real FIRST images from the firstgalaxydata package and a simulated "
                    "optical sky, offline, and prints where everything went and how long each step took.")
    parser.add_argument("-o", "--output", default="hippo-demo",
                        help="directory to write into (default ./hippo-demo; an earlier demo's directory is replaced)")
    parser.set_defaults(func=run)


def run(args):
    from hippo.demonstration import demo

    summary = demo(args.output, quiet=args.quiet)
    return 0 if all(step.status != "failed" for step in summary["steps"]) else 1
