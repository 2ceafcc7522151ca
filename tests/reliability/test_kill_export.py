"""SIGKILL during the export of ``model.pt``: no half model file is left, and running again exports the same
model as an uninterrupted run (the fault-injection suite: kill at several points)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from tests.reliability.test_damaged_checkpoint import _train
from vfp.modelio import load_trained

REPO = Path(__file__).resolve().parents[2]

KILLED_AT_RENAME = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):  # the model file is written whole, then the process dies
        if Path(dst).name == "model.pt":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *args, **kwargs)
    os.replace = replace
    from tests.reliability.test_damaged_checkpoint import _train
    _train(Path(sys.argv[1]))
""")


def test_sigkill_during_export_leaves_no_model_file_and_exports_the_same_again(tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (out / "model.pt").exists()  # never a half file under the real name
    assert list(out.glob(".model.pt.*.tmp"))  # what the kill left: a temp file, removed by the next run
    _train(out)  # training is complete: the next run only exports
    assert not list(out.glob(".model.pt.*.tmp"))
    _train(tmp_path / "whole")
    (_, resumed), (_, whole) = load_trained(out / "model.pt"), load_trained(tmp_path / "whole" / "model.pt")
    a, b = resumed.state_dict(), whole.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
