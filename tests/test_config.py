"""params.yaml validation: the committed file loads; bad values are one-line ConfigErrors naming the key.

``parse_config`` checks the settings every stage reads; ``parse_model_config`` also the model sections
(the model stages); the data stages never import a model."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vfp.config import SETTINGS, Config, ConfigError, load_config, parse_config, to_dict
from vfp.errors import VfpError
from vfp.models import get_spec, registered
from vfp.models.params import load_model_config, parse_model_config
from vfp.schema import as_kwargs

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
    cfg = load_model_config(REPO / "params.yaml")
    assert isinstance(cfg, Config)
    assert cfg.model in registered()
    size = RAW["data"]["size"]
    assert cfg.data.size == (size if size == "source" else tuple(size)) and cfg.data.interval == RAW["data"]["interval"]
    net = as_kwargs(cfg.model_section().net)
    assert {k: net[k] for k in RAW[cfg.model]["net"]} == RAW[cfg.model]["net"]
    assert parse_model_config(to_dict(cfg)) == cfg  # round trip (the distributed workers rebuild it so)
    settings = load_config(REPO / "params.yaml")
    assert parse_config(to_dict(settings)) == settings and resolve_same(settings, cfg)
    assert to_dict(cfg)["sample"] == RAW["sample"]
    with pytest.raises(Exception):
        cfg.data.interval = 3  # frozen


def resolve_same(settings: Config, cfg: Config) -> bool:
    """``settings`` (model sections as given) and ``cfg`` (built) agree on every setting."""
    return all(to_dict(settings)[k] == to_dict(cfg)[k] for k in SETTINGS)


@pytest.mark.parametrize("name", registered())
def test_defaults_alone_are_valid(name):
    cfg = parse_model_config({"model": name})
    assert parse_config({"model": name}) == Config(model=name)
    assert cfg.model_section() == get_spec(name).section()
    assert {n: cfg.model_section(n) for n in registered()} == {n: get_spec(n).section() for n in registered()}


def test_model_is_needed_only_by_model_stages_and_lists_registered_models():
    cfg = parse_config({})  # e.g. vfp predict reads only data.size from a params file
    assert cfg == Config()
    with pytest.raises(ConfigError, match="model sections not checked"):
        cfg.model_section()
    with pytest.raises(ConfigError, match="model: missing in the params; set it to a registered model: "
                       + ", ".join(registered())):
        parse_model_config({}).model_section()


def test_settings_parse_loads_no_model(tmp_path):
    # the data stages validate their settings without importing any model, recipe or engine
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({**RAW, "model": "no_such_model", "no_such_model": {"x": 1}}))
    code = ("import sys; from vfp.config import load_config; cfg = load_config(sys.argv[1]); "
            "print(cfg.model, sorted(m for m in sys.modules if m.startswith(('vfp.models', 'vfp.recipes', "
            "'vfp.engines', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.yaml")], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "no_such_model []"
    with pytest.raises(ConfigError, match="unknown key no_such_model: neither a section .* nor a registered model"):
        load_model_config(tmp_path / "p.yaml")


def test_section_of_a_supervised_model_refuses_gan_keys():
    for key in ("discriminator", "lr_d", "schedule"):
        with pytest.raises(ConfigError, match=rf"^bad.yaml: unknown key seq2seq\.{key} "):
            parse_model_config(_with(**{f"seq2seq__{key}": {}}), "bad.yaml")
    with pytest.raises(ConfigError,
                       match=r"^bad.yaml: unknown key seq2seq\.loss\.lam_adv \(valid: alpha, lam_gdl, p\)$"):
        parse_model_config(_with(seq2seq__loss={"lam_adv": 0.1}), "bad.yaml")


def test_a_plugin_module_registers_a_model(tmp_path, monkeypatch):
    (tmp_path / "my_plugin_mod.py").write_text(
        "from dataclasses import dataclass\n"
        "from torch import nn\n"
        "from vfp.extend import Params, bounded, register_model\n"
        "@dataclass(frozen=True)\n"
        "class Net(Params):\n"
        "    n_input: int = bounded(2, ge=1)\n"
        "    width: int = bounded(8, ge=1)\n"
        "@register_model('plugin_copy', recipe='supervised', params=Net)\n"
        "class PluginCopy(nn.Module):\n"
        "    def __init__(self, n_input=2, width=8):\n"
        "        super().__init__(); self.n_input = n_input\n"
        "    def forward(self, context, n_future, future=None):\n"
        "        return context[:, -1:].expand(-1, n_future, -1, -1, -1)\n")
    from vfp.models import registry

    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))  # the plugin's model stays in this test
    monkeypatch.setitem(sys.modules, "my_plugin_mod", None)
    del sys.modules["my_plugin_mod"]
    monkeypatch.chdir(tmp_path)  # plugins import from the current folder (stages run from the repo root)
    with pytest.raises(ConfigError, match="model must be a registered model .*got 'plugin_copy'"):
        parse_model_config({"model": "plugin_copy"})
    cfg = parse_model_config({"model": "plugin_copy", "plugins": ["my_plugin_mod"],
                              "plugin_copy": {"net": {"width": 4}}})
    assert cfg.model_section().net.width == 4 and cfg.model_section().loss.p == 2
    with pytest.raises(ConfigError, match=r"^p.yaml: plugin_copy.net.width must be >= 1, got 0$"):
        parse_model_config({"model": "plugin_copy", "plugins": ["my_plugin_mod"], "plugin_copy": {"net": {"width": 0}}},
                     "p.yaml")
    with pytest.raises(ConfigError, match=r"^p.yaml: plugins: cannot import 'no_such_mod_x'"):
        parse_model_config({"model": "plugin_copy", "plugins": ["no_such_mod_x"]}, "p.yaml")


@pytest.mark.parametrize("raw, key, words", [
    (_with(data__bogus=1), "data.bogus", "unknown key"),
    (dict(_with(), colour="red"), "colour", "unknown key"),
    (dict(_with(), colour={"red": 1}), "colour", "nor a registered model (autoencoder, copy_last, multiscale_gan"),
    (_with(seq2seq__lr=-1.0), "seq2seq.lr", ">= 0"),
    (_with(multiscale_gan__loss={"lam_adv": -1}), "multiscale_gan.loss.lam_adv", ">= 0"),
    (_with(model="multiscale_gan", multiscale_gan__discriminator={"fc": [[8, 2]] * 4}), "multiscale_gan.discriminator", "end with 1"),
    (_with(model="multiscale_gan", data__size=[64, 48], train__crop=0), "train.crop", "square frames"),
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
    (_with(model="multiscale_gan", multiscale_gan__net__scales=[16, 4, 32, 64]), "multiscale_gan.net", "increasing"),
    (_with(data__size=[64, 64], train__crop=128), "train.crop", "<="),
])
def test_bad_values_are_one_line_errors_naming_the_key(raw, key, words):
    with pytest.raises(ConfigError) as err:
        parse_model_config(raw, "bad.yaml")
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


@pytest.mark.parametrize("stage, change, key", [
    ("split", {"data": {"interval": 0}}, "data.interval"),
    ("model_params", {"model": "unet"}, "model"),  # the model is the model stages' business
    ("split", {"split": {"oficial": 2}}, "split.oficial"),
])
def test_cli_bad_params_one_line_error(tmp_path, stage, change, key):
    raw = copy.deepcopy(RAW)
    for section, value in change.items():
        if isinstance(value, dict):
            raw[section].update(value)
        else:
            raw[section] = value
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, str(REPO / "stages" / f"{stage}.py"), "--params", "bad.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and key in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "params").exists()  # nothing done before validation
