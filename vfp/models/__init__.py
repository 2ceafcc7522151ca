"""Next-frame prediction models; all take and return [B, T, C, H, W] in [-1, 1]."""
from vfp.models.autoencoder import UNetAutoencoder
from vfp.models.convlstm import ConvLSTMCell, ConvLSTMStack
from vfp.models.copy_last import CopyLast
from vfp.models.multiscale import MultiScaleDiscriminator, MultiScaleGenerator
from vfp.models.registry import (
    MODELS,
    build_discriminator,
    build_model,
    discriminator_kwargs,
    model_kwargs,
)
from vfp.models.seq2seq import Seq2Seq

__all__ = [
    "MODELS",
    "ConvLSTMCell",
    "ConvLSTMStack",
    "CopyLast",
    "MultiScaleDiscriminator",
    "MultiScaleGenerator",
    "Seq2Seq",
    "UNetAutoencoder",
    "build_discriminator",
    "build_model",
    "discriminator_kwargs",
    "model_kwargs",
]
