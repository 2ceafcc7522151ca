"""``data.decoder`` is an argument of everything that decodes, and it reaches spawned workers (issue: settings
silently ignored; the train stage decoded with decord when params said ``pyav``, and ``vfp predict`` /
``vfp compare`` ignored the setting).

A stand-in ``decord`` package that raises when used comes first on ``PYTHONPATH``: with ``pyav`` chosen,
nothing may touch it, in this process or in the worker processes it spawns.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import yaml

from tests.dvc_project import project_copy
from vfp.compare import test_clips as compare_clips
from vfp.config import load_config

REPO = Path(__file__).resolve().parents[2]
STAND_IN = textwrap.dedent('''
    def __getattr__(name):  # any use of the module: decord.VideoReader, decord.logging, decord.cpu, ...
        raise RuntimeError("decord used although data.decoder is pyav")
''')

WORKERS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    from vfp.data.cache import build_cache
    from vfp.data.clips import ClipDataset
    from vfp.data.motion import motion_filter
    from vfp.data.stream import iter_frames
    from vfp.data.video import VideoEntry, probe
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    paths = sorted(root.glob("*/*.avi"))[:4]
    try:
        probe(paths[0], "decord")
        stand_in = "not used"
    except RuntimeError as err:
        stand_in = str(err)
    motion = motion_filter(root, out / "motion.json", size=32, frames=4, mode="absolute", threshold=0.0,
                           decoder="pyav")
    entries = [VideoEntry(p, probe(p, "pyav")) for p in paths]
    cache = build_cache(entries, out / "cache", (32, 32), workers=2, decoder="pyav")
    data = ClipDataset(entries, 4, 1, (32, 32), clips_per_video=2, decoder="pyav")
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=1, multiprocessing_context="spawn")
    clips = sum(batch["frames"].shape[0] for batch in loader)
    frames = sum(1 for _ in iter_frames(paths[0], (32, 32), "pyav"))
    print(json.dumps({"stand_in": stand_in, "videos": len(motion["videos"]), "decoded": cache["decoded"],
                      "failed": len(cache["failed"]), "clips": clips, "len": len(data), "frames": frames}))
""")


@pytest.fixture
def stand_in_decord(tmp_path) -> dict:
    """The environment of a child process whose ``import decord`` gets a stand-in that raises when used."""
    (tmp_path / "stand" / "decord").mkdir(parents=True)
    (tmp_path / "stand" / "decord" / "__init__.py").write_text(STAND_IN)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "stand"), str(REPO)])}


def test_pyav_reaches_spawned_workers_and_decord_is_never_touched(stand_in_decord, sample_root, tmp_path):
    proc = subprocess.run([sys.executable, "-c", WORKERS, str(sample_root), str(tmp_path)], env=stand_in_decord,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["stand_in"] == "decord used although data.decoder is pyav"  # the stand-in is the decord seen
    assert out["videos"] > 0 and (out["decoded"], out["failed"]) == (4, 0)
    assert out["clips"] == out["len"] == 8 and out["frames"] == 24
    assert "decord used" not in proc.stderr


def test_vfp_compare_reads_its_clips_with_data_decoder(monkeypatch, sample_split, tmp_path, tiny_params):
    stand_in = types.ModuleType("decord")
    exec(STAND_IN, stand_in.__dict__)
    monkeypatch.setitem(sys.modules, "decord", stand_in)  # `import decord` in this process gets the stand-in
    for name in ("pyav", "decord"):
        (tmp_path / name).mkdir()
        cfg = load_config(tiny_params(tmp_path / name, data={"decoder": name, "cache": ""}))
        if name == "decord":  # the setting is what decides: decord chosen, the stand-in is used
            with pytest.raises(RuntimeError, match="decord used"):
                compare_clips(cfg, sample_split, 2, 4, 2)
        else:
            clips = compare_clips(cfg, sample_split, 2, 4, 2)
            assert len(clips) == 2 and clips[0][1].shape[0] == 6


def _tiny_pyav(params: dict) -> None:
    params["sample"].update(moving_classes=2, static_classes=1, groups=6, clips_per_group=1, frames=16)
    params["data"]["decoder"] = "pyav"
    params["model"] = "autoencoder"
    params["train"].update(epochs=1, clips_per_epoch=16, num_workers=1)
    params["evaluate"].update(gifs=1)


@pytest.mark.slow
def test_dvc_repro_with_pyav_never_uses_decord_and_writes_0644(stand_in_decord, tmp_path):
    """``dvc repro`` (every stage, a one-epoch training with a DataLoader worker) with ``data.decoder: pyav``
    and the stand-in decord; what it writes is readable by others under umask 022."""
    project = project_copy(tmp_path / "p", _tiny_pyav)
    env = {**stand_in_decord, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "stand"), str(project)])
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900, preexec_fn=lambda: os.umask(0o022))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "decord used" not in output and "Traceback" not in output
    assert yaml.safe_load((project / "params.yaml").read_text())["data"]["decoder"] == "pyav"
    written = [p for folder in ("metrics", "reports", "models") for p in (project / folder).rglob("*") if p.is_file()]
    assert written and (project / "models" / "autoencoder" / "model.pt") in written
    modes = {p.relative_to(project).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert {k: oct(m) for k, m in modes.items() if m != 0o644} == {}
