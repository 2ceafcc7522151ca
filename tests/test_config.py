"""params.yaml validation: the committed file loads; bad values are one-line ConfigErrors naming the key."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vfp.config import MODEL_NAMES, Config, ConfigError, load_config, parse_config, to_dict
from vfp.errors import VfpError

REPO = Path(__file__).resolve().parents[1]
RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def _with(**changes) -> dict:
    """The committed params with ``section.key`` (dots) replaced."""
    raw = copy.deepcopy(RAW)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = raw
        for key in path:
            node = node[key]
        node[last] = value
    return raw


def test_committed_params_load():
    cfg = load_config(REPO / "params.yaml")
    assert isinstance(cfg, Config)
    assert cfg.model in MODEL_NAMES
    assert cfg.data.size == tuple(RAW["data"]["size"]) and cfg.data.interval == RAW["data"]["interval"]
    assert dict(cfg.model_section().net) == RAW[cfg.model]["net"]
    assert to_dict(cfg)["sample"] == RAW["sample"]
    with pytest.raises(Exception):
        cfg.data.interval = 3  # frozen


def test_defaults_alone_are_valid():
    assert parse_config({}) == Config()


@pytest.mark.parametrize("raw, key, words", [
    (_with(data__bogus=1), "data.bogus", "unknown key"),
    (dict(_with(), colour="red"), "colour", "unknown key"),
    (_with(seq2seq__net__bogus=3), "seq2seq.net.bogus", "unknown key"),
    (_with(data__interval="2"), "data.interval", "integer"),
    (_with(train__epochs=1.5), "train.epochs", "integer"),
    (_with(train__compile="yes"), "train.compile", "true or false"),
    (_with(data__size=[64]), "data.size", "list of 2"),
    (_with(motion__mode="median"), "motion.mode", "one of"),
    (_with(data__interval=0), "data.interval", ">= 1"),
    (_with(seq2seq__net__n_input=0), "seq2seq.net.n_input", ">= 1"),
    (_with(split__official=4), "split.official", "1, 2 or 3"),
    (_with(split__val_fraction=1.0), "split.val_fraction", "[0, 1)"),
    (_with(motion__mode="quantile", motion__threshold=1.5), "motion.threshold", "[0, 1)"),
    (_with(model="seq2seq", data__size=[66, 64]), "data.size", "stride 4"),
    (_with(data__size=[72, 64]), "data.size", "stride 16"),
    (_with(model="unet"), "model", "autoencoder, copy_last, multiscale_gan, seq2seq"),
    (_with(multiscale_gan__net__scales=[16, 4, 32, 64]), "multiscale_gan.net", "increasing"),
    (_with(train__crop=128), "train.crop", "<="),
])
def test_bad_values_are_one_line_errors_naming_the_key(raw, key, words):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, "bad.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("bad.yaml: ")
    assert key in message and words in message, message
    assert isinstance(err.value, VfpError)


def test_yaml_syntax_and_missing_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("data:\n  size: [64, 64\n")
    with pytest.raises(ConfigError, match=r"p.yaml: line \d+ is not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(bad)


@pytest.mark.parametrize("change, key", [
    ({"data": {"interval": 0}}, "data.interval"),
    ({"model": "unet"}, "model"),
    ({"split": {"oficial": 2}}, "split.oficial"),
])
def test_cli_bad_params_one_line_error(tmp_path, change, key):
    raw = copy.deepcopy(RAW)
    for section, value in change.items():
        if isinstance(value, dict):
            raw[section].update(value)
        else:
            raw[section] = value
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "split.py"), "--params", "bad.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and key in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing done before validation
