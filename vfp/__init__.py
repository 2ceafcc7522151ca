"""vfp: video next-frame prediction.

``from vfp import load_model`` (:mod:`vfp.api`): a model file, or the pretrained model, ready for
``predict(frames, steps)``. The attribute is resolved on first use (PEP 562), so ``import vfp.<module>``
stays as light as that module: ``import vfp.losses`` or a data stage loads no model.
"""
from importlib import import_module

__all__ = ["load_model"]

_LAZY = {"load_model": "vfp.api"}  # attribute -> the module that defines it


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vfp' has no attribute {name!r}")
