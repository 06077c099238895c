"""The ``hippo`` command: a thin skin over the Python API (one module per capability)."""

import argparse
import importlib
import logging
import sys
import traceback

from hippo._version import __version__
from hippo.cli._common import HippoArgumentParser, common_options
from hippo.errors import EXIT_FAILURE, EXIT_USAGE, HippoError, NotBuiltError

# (command names, module that registers them). A module not yet written registers a placeholder
# that says so and exits 2, so the documented interface is always visible in ``hippo --help``.
COMMAND_MODULES = [
    (("demo",), "hippo.cli.demo"),
    (("surveys", "cutout"), "hippo.cli.cutout"),
    (("overlay",), "hippo.cli.overlay"),
    (("classify", "evaluate", "train"), "hippo.cli.morphology"),
    (("xmatch",), "hippo.cli.xmatch"),
    (("store",), "hippo.cli.store"),
    (("backup", "verify", "restore"), "hippo.cli.transfer"),
    (("batch",), "hippo.cli.batch"),
    (("inspect",), "hippo.cli.inspect"),
]


def build_parser():
    parser = HippoArgumentParser(
        prog="hippo",
        description="HIPPO: cutouts, overlays, morphology classification and cross-matching of radio "
                    "sources, with a catalogue store and S3 backup.",
        parents=[common_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"hippo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=HippoArgumentParser)
    for names, module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            for name in names:
                _register_placeholder(subparsers, name)
            continue
        module.register(subparsers)
    return parser


def _register_placeholder(subparsers, name):
    sub = subparsers.add_parser(name, help="(not built yet)", parents=[common_options()])
    sub.add_argument("arguments", nargs=argparse.REMAINDER)

    def not_built(args):
        raise NotBuiltError(f"'hippo {name}' is not built yet in this version ({__version__})")

    sub.set_defaults(func=not_built)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except HippoError as exc:
        _report(args, exc, str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
    except Exception as exc:  # the contract: one line, traceback only with --debug
        _report(args, exc, f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_FAILURE


def _report(args, exc, message):
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    print(f"error: {first_line}", file=sys.stderr)


def _configure_logging(args):
    level = logging.DEBUG if getattr(args, "debug", False) else (
        logging.WARNING if getattr(args, "quiet", False) else logging.INFO)
    logger = logging.getLogger("hippo")
    logger.setLevel(level)
    if not any(getattr(h, "_hippo_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._hippo_cli = True
        logger.addHandler(handler)
        logger.propagate = False
