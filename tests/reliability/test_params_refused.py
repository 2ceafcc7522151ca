"""Every bad value is refused in one line naming the key, before any work (issue: tracebacks or silent
acceptance where one line is promised)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vfp.engines.common import effective_amp
from vfp.errors import ConfigError, VfpError
from vfp.models.params import load_model_config

REPO = Path(__file__).resolve().parents[2]

CASES = {  # name: (params overrides, text the one line holds)
    "augment_scale_0": ({"train": {"augment_scale": 0.0}}, "train.augment_scale must be in (0, 1], got 0.0"),
    "augment_scale_above_1": ({"train": {"augment_scale": 1.5}}, "train.augment_scale must be in (0, 1]"),
    "clips_per_epoch_negative": ({"train": {"clips_per_epoch": -1}}, "train.clips_per_epoch must be >= 0"),
    "seed_negative": ({"seed": -1}, "seed must be >= 0, got -1"),
    "sample_seed_negative": ({"sample": {"seed": -3}}, "sample.seed must be >= 0, got -3"),
    "split_fractions_nan": ({"split": {"fractions": [float("nan"), 0.1, 0.2]}},
                            "split.fractions[0] must be a finite number"),
    "lr_inf": ({"warp": {"lr": float("inf")}}, "warp.lr must be a finite number, got inf"),
    "data_cache_is_a_file": ({"data": {"cache": "afile"}}, "data.cache afile is a file, not a folder"),
    "train_crop_not_divisible_by_stride": ({"train": {"crop": 36}},
                                           "train.crop [36, 36]: warp needs H and W divisible by its stride"),
    "fp16_on_cpu": ({"train": {"amp": "fp16", "device": "cpu"}}, "train.amp fp16 needs a CUDA GPU"),
    "data_folder_inside_data_root": ({"data": {"source": "folder", "folder": "data/raw/mine"}},
                                     "data.folder data/raw/mine and data.root data/raw overlap"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_value_is_refused_in_one_line(tmp_path, tiny_params, monkeypatch, case):
    overrides, text = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    path = tiny_params(tmp_path, model="warp", **overrides)
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert "\n" not in str(err.value) and text in str(err.value), str(err.value)


def test_a_crop_off_the_stride_is_refused_by_the_train_stage_before_any_work(tmp_path, tiny_params):
    """Not after a full training: the train stage refuses it with no data prepared at all."""
    tiny_params(tmp_path, model="warp", train={"crop": 36})
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "train.py")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "train.crop [36, 36]" in lines[0], proc.stderr
    assert not (tmp_path / "models").exists()


def test_fp16_on_a_cpu_chosen_by_auto_is_refused():
    with pytest.raises(VfpError, match="train.amp fp16 needs a CUDA GPU, and training runs on cpu"):
        effective_amp("fp16", torch.device("cpu"))
    assert effective_amp("bf16", torch.device("cpu")) == "bf16"
