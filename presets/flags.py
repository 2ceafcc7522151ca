"""Print a preset file (nested YAML overrides) as `-S ++key=value` flags (add or override) for `dvc exp run`.

    dvc exp run --queue -S model=autoencoder -S data.interval=22 $(python presets/flags.py presets/study2017.yaml)
"""
import json
import sys

import yaml


def flags(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += flags(value, f"{name}.")
        else:
            out.append(f"-S ++{name}={json.dumps(value, separators=(',', ':'))}")
    return out


if __name__ == "__main__":
    print(" ".join(flags(yaml.safe_load(open(sys.argv[1])) or {})))
