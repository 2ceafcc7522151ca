"""Errors shown to the user."""


class VfpError(Exception):
    """An error shown to the user as one line, no traceback."""


class ConfigError(VfpError):
    """A bad value in params.yaml (the message names the file and the key)."""
