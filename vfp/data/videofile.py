"""What every video decoder shares: its error and the checks before it opens a file."""
from __future__ import annotations

import re
from pathlib import Path


class VideoReadError(Exception):
    """A video file that cannot be decoded; ``str(err)`` is a short reason."""


def check_file(path: Path) -> None:
    """VideoReadError for a missing or empty file (before a decoder gives a vaguer reason)."""
    if not path.is_file():
        raise VideoReadError("file not found")
    if path.stat().st_size == 0:
        raise VideoReadError("empty file (0 bytes)")


def short_reason(err: Exception) -> str:
    """The first line of a decoder's error, without decord's log prefix, at most 120 characters."""
    text = str(err).strip().splitlines()
    first = text[0] if text else type(err).__name__
    first = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", first)  # dmlc log prefix "[12:00:00] src/x.cc:83: "
    return first[:120]
