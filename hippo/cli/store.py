"""``hippo store init|info|cone|export``: look into and export the catalogue store."""

import json
import sys

from hippo.cli._common import common_options


def register(subparsers):
    parser = subparsers.add_parser("store", help="catalogue store: init, info, cone search, export",
                                   parents=[common_options()])
    actions = parser.add_subparsers(dest="store_action", metavar="ACTION", required=True,
                                    parser_class=type(parser))

    def store_option(sub):
        sub.add_argument("--store", metavar="PATH", default=None, help="store file (default $HIPPO_STORE, else ./hippo.db)")

    init = actions.add_parser("init", help="create the store (or upgrade its schema)", parents=[common_options()])
    store_option(init)
    info = actions.add_parser("info", help="rows per table and the latest runs", parents=[common_options()])
    store_option(info)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    cone = actions.add_parser("cone", help="rows within a radius of a position", parents=[common_options()])
    store_option(cone)
    cone.add_argument("--ra", required=True, help="RA (degrees or hh:mm:ss)")
    cone.add_argument("--dec", required=True, help="Dec (degrees or dd:mm:ss)")
    cone.add_argument("--radius", default="1arcmin", help="search radius (astropy quantity; default 1arcmin)")
    cone.add_argument("--table", default="sources", help="table to search (default sources)")
    cone.add_argument("-o", "--output", default=None, help="output table (default: CSV on stdout)")
    export = actions.add_parser("export", help="write a table to FITS/VOTable/CSV/ECSV/Parquet",
                                parents=[common_options()])
    store_option(export)
    export.add_argument("--table", required=True, help="table name (sources, classifications, annotations, runs, ...)")
    export.add_argument("-o", "--output", default=None, help="output file by extension (default: CSV on stdout)")
    parser.set_defaults(func=run)


def run(args):
    import sqlite3

    from hippo.store import Store, default_store_path

    path = args.store or default_store_path()
    # info, cone and export only read: they never create, initialise or upgrade a store
    store = Store.open(path, readonly=args.store_action != "init")
    try:
        return _run_action(args, store)
    except sqlite3.DatabaseError as exc:  # a page damaged after the header: SQLite finds it on reading
        raise store.damaged(exc) from None


def _run_action(args, store):
    from hippo.io import parse_coordinate, write_table
    from hippo.quantities import parse_angle

    with store:
        if args.store_action == "init":
            print(f"store ready: {store.path} ({len(store.tables())} tables)")
        elif args.store_action == "info":
            info = store.info()
            if args.json:
                print(json.dumps(info, allow_nan=False))
            else:
                print(f"store: {info['path']}")
                for name, count in info["tables"].items():
                    print(f"  {name:16s} {count:>10d} rows")
                for r in info["recent_runs"]:
                    status = f"exit {r['exit_status']}" if r["status"] == "finished" else r["status"]
                    print(f"  run {r['id']}: {r['command']} at {r['started']} {status}")
        elif args.store_action == "cone":
            centre = parse_coordinate(args.ra, args.dec, source="--ra/--dec")
            radius_deg = parse_angle(args.radius, "--radius").to_value("deg")
            rows = store.cone(centre.ra.deg, centre.dec.deg, radius_deg, table=args.table, masked=True)
            write_table(rows, args.output)
        elif args.store_action == "export":
            count = store.export(args.table, args.output)
            if args.output and not args.quiet:
                print(f"wrote {count} rows of {args.table} to {args.output}", file=sys.stderr)
    return 0
