"""Errors the CLI maps to exit codes (see README, "Exit codes")."""


class InputError(Exception):
    """Bad input from the user: one line on stderr, exit 2."""


class NoCatalogue(InputError):
    """The tree has no drop-reason catalogue (not a kernel, or older than 5.17)."""
