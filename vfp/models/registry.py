"""Model registry: names used in configs -> model classes."""
from __future__ import annotations

import inspect

from torch import nn

from vfp.models.autoencoder import UNetAutoencoder
from vfp.models.copy_last import CopyLast
from vfp.models.multiscale import MultiScaleDiscriminator, MultiScaleGenerator
from vfp.models.seq2seq import Seq2Seq

MODELS: dict[str, type[nn.Module]] = {
    "seq2seq": Seq2Seq,
    "autoencoder": UNetAutoencoder,
    "multiscale_gan": MultiScaleGenerator,
    "copy_last": CopyLast,
}


def _model_class(name: str) -> type[nn.Module]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(name: str, **kwargs) -> nn.Module:
    """Instantiate the model registered as ``name`` with constructor kwargs."""
    return _model_class(name)(**kwargs)


def build_discriminator(**kwargs) -> MultiScaleDiscriminator:
    """The discriminator that goes with ``multiscale_gan``."""
    return MultiScaleDiscriminator(**kwargs)


def _defaults(cls: type) -> dict:
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.name != "self"}


def model_kwargs(name: str) -> dict:
    """Constructor keyword arguments of model ``name`` with their defaults."""
    return _defaults(_model_class(name))


def discriminator_kwargs() -> dict:
    """Constructor keyword arguments of the discriminator with their defaults."""
    return _defaults(MultiScaleDiscriminator)
