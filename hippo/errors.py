"""Exceptions that carry HIPPO's exit-status contract (SPEC: 0 ok, 1 other, 2 usage/input, 3 partial)."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class HippoError(Exception):
    """An error HIPPO can explain in one line; the CLI prints ``error: <message>`` and exits."""

    exit_code = EXIT_FAILURE


class UsageError(HippoError):
    """The command was called wrongly (bad option values, missing arguments)."""

    exit_code = EXIT_USAGE


class InputError(HippoError):
    """An input (file, table, coordinate) is unusable; the message names it and says why."""

    exit_code = EXIT_USAGE

    def __init__(self, source, reason):
        self.source = str(source)
        self.reason = str(reason)
        super().__init__(f"{self.source}: {self.reason}")


class NotBuiltError(UsageError):
    """A documented command whose implementation has not landed yet."""
