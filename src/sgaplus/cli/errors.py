"""The CLI's expected failure, apart from :mod:`.main`, which imports every subcommand:
a subcommand raising it imports this module, not the entry point (no import cycle)."""


class CLIError(ValueError):
    """A user-facing failure: printed as one line, exit status 2. A ValueError, so that a
    folder run (:mod:`sgaplus.folders`) fails only the image whose check raised it."""
