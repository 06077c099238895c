"""``hippo inspect``: the visual inspection and annotation page."""

from hippo.cli._common import common_options


def register(subparsers):
    parser = subparsers.add_parser("inspect", help="visual inspection and annotation page (local web server)",
                                   parents=[common_options()])
    parser.add_argument("--store", metavar="PATH", default=None,
                        help="store file (default $HIPPO_STORE, else ./hippo.db)")
    parser.add_argument("--queue", choices=("uncertain", "flagged", "all"), default="uncertain",
                        help="sources to step through (default uncertain: classifier flag uncertain/ood)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--token", default=None, help="access token (default: generated and printed)")
    parser.add_argument("--user", default=None, help="annotator name recorded with each decision")
    parser.set_defaults(func=run)


def run(args):
    from hippo.inspection import inspect

    return inspect(store=args.store, queue=args.queue, host=args.host, port=args.port,
                   token=args.token, user=args.user)
