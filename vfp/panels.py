"""Side-by-side frames: labelled panels in one row (``context | truth | prediction | copy-last | flow``).

Pure array functions on uint8 ``[H, W, 3]`` frames; a missing panel (no true frame past the end of
the video) is drawn black with its label.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["GAP", "label", "side_by_side"]

GAP = 4  # pixels of white between panels


def label(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` with ``text`` on a dark strip at its top-left corner."""
    import cv2  # optional native dependency, loaded when first needed

    out = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    h = out.shape[0]
    scale = max(0.35, min(1.0, h / 480))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = max(2, int(4 * scale))
    out[: th + base + 2 * pad, : tw + 2 * pad] //= 3
    cv2.putText(out, text, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def side_by_side(panels: Sequence[tuple[str, np.ndarray | None]], like: np.ndarray) -> np.ndarray:
    """One row of labelled panels; ``None`` panels are black frames shaped like ``like``."""
    row = []
    for i, (text, frame) in enumerate(panels):
        if i:
            row.append(np.full((like.shape[0], GAP, 3), 255, np.uint8))
        row.append(label(np.zeros_like(like) if frame is None else frame, text))
    return np.concatenate(row, axis=1)
