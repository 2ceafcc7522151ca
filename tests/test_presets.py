"""presets/study2017.yaml: the 2017 study's recipe loads, validates and builds every model at its sizes."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vfp.models.params import parse_model_config
from vfp.models.registry import build_model

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "presets" / "study2017.yaml"


def merged(model: str, interval: int, crop: int = 0) -> dict:
    def merge(a: dict, b: dict) -> dict:
        return {**a, **{k: merge(a.get(k, {}), v) if isinstance(v, dict) else v for k, v in b.items()}}

    raw = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), yaml.safe_load(PRESET.read_text()))
    return merge(raw, {"model": model, "data": {"interval": interval}, "train": {"crop": crop}})


@pytest.mark.parametrize("model, crop", [("autoencoder", 0), ("seq2seq", 0), ("multiscale_gan", 32)])
@pytest.mark.parametrize("interval", [18, 22, 26, 30])
def test_study_preset_validates_for_every_model_and_interval(model, crop, interval):
    cfg = parse_model_config(merged(model, interval, crop))
    assert cfg.data.interval == interval and cfg.train.batch_size == 16 and tuple(cfg.data.size) == (64, 64)


def test_study_sizes():
    ae = parse_model_config(merged("autoencoder", 18)).model_section().net
    assert list(ae["features"]) == [32, 64, 128, 256, 512]
    s2s = parse_model_config(merged("seq2seq", 18)).model_section()
    assert s2s.net["n_input"] == 4 and s2s.n_output == 4
    gan = parse_model_config(merged("multiscale_gan", 18, 32)).model_section()
    g = build_model("multiscale_gan", **dict(gan.net))
    n = sum(p.numel() for p in g.parameters())
    assert 12e6 < n < 13.5e6, n  # the published generator: ~12.6M weights
    assert list(gan.net["scales"]) == [4, 8, 16, 32]


def test_flags_script_prints_add_or_override_flags():
    out = subprocess.run([sys.executable, str(ROOT / "presets" / "flags.py"), str(PRESET)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert "++data.interval=18" in out and "++autoencoder.net.features=[32,64,128,256,512]" in out
    assert out.count("-S") == len(out) // 2
