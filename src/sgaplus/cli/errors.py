"""The CLI's expected failure, apart from :mod:`.main`, which imports every subcommand:
a subcommand raising it imports this module, not the entry point (no import cycle)."""


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""
