"""vfp: video next-frame prediction.

``from vfp import load_model`` (:mod:`vfp.api`): a model file, or the pretrained model, ready for
``predict(frames, steps)``. It is loaded on first use, so ``import vfp.<module>`` stays as light as that module.
"""
__all__ = ["load_model"]


def __getattr__(name: str):
    if name == "load_model":
        from vfp.api import load_model  # deferred: `import vfp.losses` must not load models and torch.onnx
        return load_model
    raise AttributeError(f"module 'vfp' has no attribute {name!r}")
