"""The public extension API: what a model of your own needs, in one import.

    from vfp.extend import Params, bounded, register_model, rollout

* :func:`register_model` (``@register_model("name", recipe="supervised" | "gan" | "none", params=Net)``);
* :class:`Params` and :func:`bounded` for its ``net`` schema (a frozen dataclass; ranges on the fields);
* :func:`rollout` (a one-frame ``step`` -> ``n_future`` frames, teacher forcing in training) and
  :func:`check_context` (the input shape rule);
* the section bases, for a schema with keys of its own (:class:`SupervisedSection`, :class:`GanSection`).
"""
from vfp.models.contract import GanGenerator, NextFrameModel, check_context, rollout
from vfp.models.registry import register_model
from vfp.models.sections import GanSection, Section, SupervisedSection
from vfp.schema import Params, bounded

__all__ = ["GanGenerator", "GanSection", "NextFrameModel", "Params", "Section", "SupervisedSection", "bounded",
           "check_context", "register_model", "rollout"]
