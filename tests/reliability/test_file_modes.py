"""Files vfp writes atomically get the mode a plain ``open()`` gives: 0666 less the umask (issue: files
others cannot read; mkstemp alone makes 0600)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from vfp.fileio import atomic_copy, atomic_open, atomic_save, atomic_write_text, current_umask


@pytest.fixture
def umask():
    before = os.umask(0o022)
    os.umask(before)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(before)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    assert current_umask() == mask
    atomic_write_text(tmp_path / "metrics.json", "{}\n")
    atomic_save(tmp_path / "model.pt", {"w": np.zeros(2)})
    atomic_copy(tmp_path / "metrics.json", tmp_path / "reports" / "copy.json")
    with atomic_open(tmp_path / "cache.npy", durable=False) as handle:
        np.save(handle, np.zeros(3, dtype=np.uint8))
    for name in ("metrics.json", "model.pt", "reports/copy.json", "cache.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
