"""``hippo backup``, ``hippo verify``, ``hippo restore``: trees to and from S3 or a local directory."""

import sys

from hippo.cli._common import common_options, integer_in, print_failures
from hippo.errors import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, UsageError



def register(subparsers):
    backup = subparsers.add_parser("backup", help="incremental backup of a directory to s3://bucket/prefix or a directory",
                                   parents=[common_options()])
    backup.add_argument("src", help="directory to back up")
    backup.add_argument("dest", help="s3://bucket/prefix or a local directory")
    _store_options(backup)
    backup.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip paths or names matching GLOB (repeatable)")
    backup.add_argument("--bwlimit", default=None, metavar="RATE",
                        help="upload limit in bytes/s, with k/M/G suffixes (e.g. 50M)")
    backup.add_argument("--dry-run", action="store_true", help="show what would be sent, send nothing")
    backup.add_argument("--checksum", action="store_true",
                        help="decide what changed by SHA-256 (reads every file) instead of size and mtime: "
                             "catches content rewritten with its size and mtime put back")
    backup.add_argument("--store", metavar="PATH", default=None,
                        help="record this backup (run provenance and a 'backups' row) in the catalogue store")
    backup.set_defaults(func=run)

    verify = subparsers.add_parser("verify", help="check a backup against its source tree",
                                   parents=[common_options()])
    verify.add_argument("src", help="directory that was backed up")
    verify.add_argument("dest", help="s3://bucket/prefix or a local directory")
    verify.add_argument("--deep", action="store_true", help="also re-read every object and recompute checksums")
    verify.add_argument("--size-only", action="store_true",
                        help="trust an unchanged size and mtime instead of reading each file under SRC")
    verify.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="paths excluded at backup time (repeatable)")
    _store_options(verify)
    verify.set_defaults(func=run)

    restore = subparsers.add_parser("restore", help="rebuild a tree from a backup (the latest or an older one)",
                                    parents=[common_options()])
    restore.add_argument("dest", help="s3://bucket/prefix or a local backup directory")
    restore.add_argument("target", nargs="?", help="directory to restore into")
    restore.add_argument("--include", action="append", default=[], metavar="GLOB",
                         help="restore only matching paths or directories (repeatable)")
    restore.add_argument("--as-of", metavar="TIME", default=None,
                         help="restore the last backup started at or before TIME (ISO 8601, UTC unless "
                              "an offset is given; a date alone means the end of that day)")
    restore.add_argument("--manifest", metavar="ID", default=None,
                         help="restore the backup with this run id (or a unique prefix of it; see --list)")
    restore.add_argument("--list", action="store_true", help="list the backups held at DEST and exit")
    _store_options(restore)
    restore.set_defaults(func=run)


def _store_options(parser):
    parser.add_argument("--endpoint-url", default=None, help="S3 endpoint (default $AWS_ENDPOINT_URL)")
    parser.add_argument("--workers", type=int, default=8, help="parallel transfers (default 8)")
    parser.add_argument("--retries", type=integer_in(0), default=4, help="retries per request, with back-off (default 4)")


def _backup(args, bwlimit, common):
    """Run the backup and print its summary; returns (exit status, result)."""
    import hippo.transfer as transfer

    result = transfer.backup(args.src, args.dest, exclude=args.exclude, bwlimit=bwlimit,
                             dry_run=args.dry_run, checksum=args.checksum, **common)
    verb = "would send" if result["dry_run"] else "sent"
    if not args.quiet:
        print(f"{result['files']} files, {result['links']} links, {result['dirs']} directories; {verb} "
              f"{result['send_files']} files ({result['send_bytes']} bytes) in {result['zips']} zips and "
              f"{result['large_files']} large objects"
              + ("" if result["dry_run"] else f"; manifest {result['manifest']}"), file=sys.stderr)
    print_failures(result["failures"])
    # A database kept as raw bytes (warned of by the backup) is not a consistent snapshot: partial.
    return (EXIT_PARTIAL if result["failures"] or result["unreadable_sqlite"] else EXIT_OK), result


def _recorded_backup(args, bwlimit, common):
    """The backup wrapped in a store run; the transfer layer itself knows nothing of the store."""
    from hippo.store import Store
    from hippo.transfer.backup import backups_row

    parameters = {"src": args.src, "dest": args.dest, "exclude": args.exclude, "bwlimit": bwlimit,
                  "dry_run": args.dry_run, "workers": args.workers, "checksum": args.checksum}
    # run_at: no connection to the store is open while the backup reads its file (it is often in SRC)
    with Store.run_at(args.store, "backup", parameters) as recorded:
        recorded.exit_status, result = _backup(args, bwlimit, common)
        if not args.dry_run:
            with Store.open(args.store) as store:
                store.insert("backups", [backups_row(args.src, args.dest, result)], run_id=recorded.id)
    return recorded.exit_status


def _print_backups(backups):
    """One line per backup on stdout: run id, start time, files, bytes, source."""
    print("run_id\tstarted\tfiles\tbytes\tsource")
    for backup in backups:
        print("\t".join("" if backup[k] is None else str(backup[k])
                        for k in ("run_id", "started", "files", "bytes", "source")))
        if backup["damaged"]:
            print(f"warning: {backup['manifest']}: {backup['damaged']}", file=sys.stderr)


def run(args):
    import hippo.transfer as transfer

    quiet = args.quiet
    common = {"endpoint_url": args.endpoint_url, "workers": args.workers, "retries": args.retries, "quiet": quiet}
    if args.command == "backup":
        from hippo.transfer.backup import parse_rate

        bwlimit = parse_rate(args.bwlimit) if args.bwlimit else None
        if args.store:
            return _recorded_backup(args, bwlimit, common)
        return _backup(args, bwlimit, common)[0]
    if args.command == "verify":
        result = transfer.verify(args.src, args.dest, deep=args.deep, size_only=args.size_only, exclude=args.exclude,
                                 **common)
        print_failures(result["problems"])
        if not quiet:
            print(f"{result['checked']} entries, {result['objects']} objects checked"
                  f"{' deeply' if args.deep else ''}: "
                  + ("all match" if result["ok"] else f"{len(result['problems'])} problems"), file=sys.stderr)
        return EXIT_OK if result["ok"] else EXIT_FAILURE
    if args.list:
        _print_backups(transfer.list_backups(args.dest, endpoint_url=args.endpoint_url, retries=args.retries))
        return EXIT_OK
    if args.target is None:
        raise UsageError("hippo restore: TARGET is required (or --list)")
    result = transfer.restore(args.dest, args.target, include=args.include, as_of=args.as_of,
                              manifest=args.manifest, **common)
    print_failures(result["failures"])
    if not quiet:
        print(f"restored {result['files']} files, {result['links']} links, {result['dirs']} directories "
              f"into {args.target} from {result['manifest']}", file=sys.stderr)
    return EXIT_PARTIAL if result["failures"] else EXIT_OK
