"""Next-frame prediction models and their registry.

The model contract (:mod:`vfp.models.contract`; nothing else in vfp knows model names):

* an ``nn.Module`` with an int attribute ``n_input`` (context frames it reads) and
  ``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]``, frames in
  [-1, 1]; ``future`` (the true next frames) is given in training for teacher forcing, None otherwise
  (:func:`~vfp.models.contract.rollout` runs a one-frame ``step`` so);
* optional ``stride`` (H and W must be multiples of it; checked before any work);
* registered with ``@register_model("name", recipe="supervised" | "gan" | "none", params=Schema)``;
  ``Schema`` is a frozen dataclass: the ``net`` keywords of the constructor (the recipe adds
  ``lr``, ``n_output``, ``weight_decay``, ``loss``, ...) or a whole section subclassing the recipe's
  (:class:`vfp.models.sections.SupervisedSection`, :class:`vfp.models.sections.GanSection`); without
  ``params`` the ``net`` schema is derived from the constructor's annotated keyword arguments.
* the ``gan`` recipe also needs ``predict_scales``, ``scales``, ``scale_sizes`` and
  ``make_discriminator(size, **discriminator)`` (:class:`~vfp.models.contract.GanGenerator`).

Discovery: the built-ins below register on import; ``plugins: [module, ...]`` in params.yaml and the
entry-point group ``vfp.models`` register the rest (:mod:`vfp.models.registry`).
"""
from vfp.models.autoencoder import UNetAutoencoder
from vfp.models.contract import check_context, check_frame_size, frame_size_problem, rollout
from vfp.models.convlstm import ConvLSTMCell, ConvLSTMStack
from vfp.models.copy_last import CopyLast
from vfp.models.multiscale import MultiScaleDiscriminator, MultiScaleGenerator
from vfp.models.registry import REGISTRY, ModelSpec, build_model, get_spec, register_model, registered
from vfp.models.seq2seq import Seq2Seq
from vfp.models.warp import WarpNet

__all__ = [
    "REGISTRY",
    "ConvLSTMCell",
    "ConvLSTMStack",
    "CopyLast",
    "ModelSpec",
    "MultiScaleDiscriminator",
    "MultiScaleGenerator",
    "Seq2Seq",
    "UNetAutoencoder",
    "WarpNet",
    "build_model",
    "check_context",
    "check_frame_size",
    "frame_size_problem",
    "get_spec",
    "register_model",
    "registered",
    "rollout",
]
