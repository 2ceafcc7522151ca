"""Errors shown to the user."""


class VfpError(Exception):
    """An error shown to the user as one line, no traceback."""
