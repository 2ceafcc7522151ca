"""Ignite engines: trainers (supervised, multi-scale GAN) and the validation evaluator."""
from vfp.engines.common import Keys, resolve_device, unwrap
from vfp.engines.gan import ScalesForward, create_gan_trainer, gan_phase
from vfp.engines.supervised import PredictionPSNR, create_evaluator, create_supervised_trainer

__all__ = [
    "Keys",
    "PredictionPSNR",
    "ScalesForward",
    "create_evaluator",
    "create_gan_trainer",
    "create_supervised_trainer",
    "gan_phase",
    "resolve_device",
    "unwrap",
]
