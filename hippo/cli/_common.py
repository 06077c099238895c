"""Options and output helpers shared by every subcommand."""

import argparse
import re
import sys

from hippo.errors import EXIT_USAGE


class HippoArgumentParser(argparse.ArgumentParser):
    """argparse with SPEC's error contract: one line starting ``error:`` and exit status 2.

    A value that starts with a minus and a digit is a value, not an option (no option starts
    with a digit): argparse alone takes ``--dec -09:17:02.4``, ``-9d17m02s`` or ``--size -5arcmin``
    for an unknown option and stops, with "expected one argument" instead of the value's problem.

    Words a subcommand does not know are reported by that subcommand (``hippo cutout:
    unrecognized arguments``), not by ``hippo``, whose help would not list the options meant.
    """

    _NEGATIVE_VALUE = re.compile(r"^-\.?\d")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self._NEGATIVE_VALUE
        self.register("action", "parsers", _Subcommands)

    def error(self, message):
        print(f"error: {self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class _Subcommands(argparse._SubParsersAction):
    """Subcommands whose own parser reports the arguments it does not recognise (argparse leaves
    them to the top-level parser, which names itself)."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        unrecognized = getattr(namespace, argparse._UNRECOGNIZED_ARGS_ATTR, None)
        if unrecognized:
            self._name_parser_map[values[0]].error(f"unrecognized arguments: {' '.join(unrecognized)}")


def common_options(top_level=False):
    """``--debug`` and ``--quiet``, accepted before or after the subcommand."""
    parent = argparse.ArgumentParser(add_help=False)
    default = False if top_level else argparse.SUPPRESS
    parent.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks and debug logging")
    parent.add_argument("--quiet", "-q", action="store_true", default=default,
                        help="no progress bars or informational messages")
    return parent


def integer_in(low, high=None):
    """An argparse type: an integer from ``low`` to ``high`` (no upper bound when None), else a usage error."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}" if high is not None
                                             else f"{value} is below {low}")
        return value
    return parse


def add_store_option(parser):
    parser.add_argument("--store", metavar="PATH", default=None,
                        help="also write results and this run's provenance into the catalogue store (SQLite)")


def add_table_columns_options(parser):
    parser.add_argument("--ra-col", default=None, help="RA column (default: found by UCD or common names)")
    parser.add_argument("--dec-col", default=None, help="Dec column (default: found by UCD or common names)")
    parser.add_argument("--id-col", default=None, help="source id column (default: found by common names)")


def print_failures(failures):
    """One line per failed item on stderr: ``error: <input>: <reason>``. Control characters are
    written escaped (``\\n``, ``\\x1b``): a file name holding a newline must not print a line
    that reads as a failure of its own, nor one holding an escape sequence drive the terminal."""
    for item, reason in failures:
        print(f"error: {_escape_controls(item)}: {_escape_controls(reason)}", file=sys.stderr)


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape_controls(text):
    return _CONTROL_CHARACTERS.sub(lambda match: repr(match.group())[1:-1], str(text))
