"""model_params stage: the selected model's params section as training reads it -> ``params/<model>.json``.

DVC cannot list a section that params.yaml may not have (a plugin model with all defaults) nor the
files of ``plugins:`` modules as deps, so this stage runs every time (``always_changed``) and writes
the section with its defaults filled in, the recipe and the hash of the model's module when it lies
outside vfp/. train and evaluate depend on that file: they re-run only when it changes, and changing
another model's section changes nothing.
"""
import json
import sys
from pathlib import Path

from vfp.config import to_dict
from vfp.fileio import atomic_write_text
from vfp.models.params import load_model_config
from vfp.models.registry import get_spec, model_sources
from vfp.stage import run_stage

OUT = Path("params")


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=None, help="default: params/<model>.json")


def work(cfg, args):
    spec = get_spec(cfg.model)
    data = {"model": cfg.model, "recipe": spec.recipe, "section": to_dict(cfg.model_section()),
            "plugins": list(cfg.plugins), "sources": model_sources(cfg.model)}
    path = args.out or OUT / f"{cfg.model}.json"
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    print(f"model_params: {cfg.model} ({spec.recipe}) -> {path}")


def main(argv=None) -> int:
    return run_stage("model_params", work, argv, add_arguments, load=load_model_config)


if __name__ == "__main__":
    sys.exit(main())
