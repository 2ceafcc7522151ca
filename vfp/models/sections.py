"""Params sections of models, schema only: what each recipe's models take (``lr``, ``loss``, schedules, GAN keys).

A model's section in params.yaml is ``<model>: {lr, n_output, weight_decay, lr_schedule, net: {...}, ...}``:
the fields of its recipe's section (:data:`SECTIONS`) plus ``net``, the model constructor's keywords.
How a recipe trains lives in :mod:`vfp.recipes`; this module only says what its params look like.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from vfp.schema import Params, as_kwargs, bounded

__all__ = ["GanLoss", "GanSchedule", "GanSection", "LrSchedule", "SECTIONS", "Section", "SupervisedLoss",
           "SupervisedSection", "UntrainedSection", "net_schema", "register_section", "section_base", "section_for"]


@dataclass(frozen=True)
class LrSchedule(Params):
    """Learning rate over the whole run (``train.epochs`` x iterations per epoch), per iteration:
    ``constant``; or ``cosine``: a linear warm-up over the first ``warmup`` fraction of the iterations
    (from 1% of ``lr``), then a cosine decay to ``final`` x ``lr`` (a function of the trainer's iteration:
    vfp.recipes.schedules)."""

    kind: Literal["constant", "cosine"] = "cosine"
    warmup: float = bounded(0.05, ge=0, lt=1)
    final: float = bounded(0.05, ge=0, le=1)


@dataclass(frozen=True)
class Section(Params):
    """Fields every model section has: ``base`` (the baseline whose prediction the model corrects:
    vfp.models.base), ``lr``, ``n_output``, ``weight_decay`` (AdamW when > 0), ``lr_schedule``, ``max_epochs``
    (a cap on ``train.epochs`` for this model; 0: none) and ``net`` (the constructor keywords)."""

    base: Literal["copy_last", "flow"] = "copy_last"
    lr: float = bounded(0.001, ge=0)
    n_output: int = bounded(1, ge=1)
    weight_decay: float = bounded(0.0, ge=0)
    lr_schedule: LrSchedule = field(default_factory=LrSchedule)
    max_epochs: int = bounded(0, ge=0)  # this model trains min(train.epochs, max_epochs) epochs; 0: no cap
    net: Any = field(default_factory=dict)
    trains: ClassVar[bool] = True  # False: nothing to fit (the model file is written as built)

    def check_model(self, name: str, model: Any, frame_size: tuple[int, int], crop: int) -> str | None:
        """Params-time check of the selected model built from this section: a one-line problem or None."""
        return None


@dataclass(frozen=True)
class UntrainedSection(Section):
    """The ``none`` recipe's: a baseline with nothing to fit (copy-last); ``lr`` and the like go unused."""

    trains: ClassVar[bool] = False


@dataclass(frozen=True)
class SupervisedLoss(Params):
    p: int = bounded(2, ge=1)  # 1: L1, 2: L2
    lam_gdl: float = bounded(0.0, ge=0)  # weight of the gradient-difference loss (0: off)
    alpha: float = bounded(1.0, gt=0)  # GDL exponent


@dataclass(frozen=True)
class SupervisedSection(Section):
    """``<model>: {lr, n_output, weight_decay, loss: {p, lam_gdl, alpha}, net: {...}}``."""

    loss: SupervisedLoss = field(default_factory=SupervisedLoss)


@dataclass(frozen=True)
class GanLoss(Params):
    lam_lp: float = bounded(1.0, ge=0)
    # 1.0 held the generator at its start: GDL's sign-like gradient outweighs L2's near a sharp copy of the
    # last frame (docs/models.md, measured on real footage); 0.1 lets it learn
    lam_gdl: float = bounded(0.1, ge=0)
    # 0: no discriminator at all (multi-scale Lp + GDL only). Lp and GDL are per-pixel means here; the usual
    # 0.05 (dyelax's TF reimplementation of Mathieu et al.) weighed Lp and GDL summed over pixels; 0.05 against
    # means made adv larger than Lp (measured: -0.28 dB val gain on real footage at the first adversarial
    # epoch; 0.002: +0.17 dB by epoch 3)
    lam_adv: float = bounded(0.002, ge=0)
    p: int = bounded(2, ge=1)
    alpha: float = bounded(1.0, gt=0)


@dataclass(frozen=True)
class GanSchedule(Params):
    d_steps: int = bounded(1, ge=1)
    d_warmup_epochs: int = bounded(0, ge=0)
    g_warmup_epochs: int = bounded(0, ge=0)


@dataclass(frozen=True)
class GanSection(Section):
    """``<model>: {lr, n_output, net, discriminator: {...}, lr_d, loss: {...}, schedule: {...}}``; the model is a
    :class:`vfp.models.contract.GanGenerator`."""

    discriminator: Any = field(default_factory=dict)  # a model's schema narrows this to its D's keywords
    lr_d: float = bounded(0.0002, ge=0)
    loss: GanLoss = field(default_factory=GanLoss)
    schedule: GanSchedule = field(default_factory=GanSchedule)

    def make_discriminator(self, model: Any, frame_size: tuple[int, int], crop: int) -> Any:
        """``model``'s discriminator with this section's keywords, for the square frames it is trained on
        (``train.crop``, else the frame height)."""
        return model.make_discriminator(crop or frame_size[0], **as_kwargs(self.discriminator))

    def check_model(self, name: str, model: Any, frame_size: tuple[int, int], crop: int) -> str | None:
        if self.loss.lam_adv == 0:
            return None
        if not crop and frame_size[0] != frame_size[1]:
            return f"{name}: the discriminator needs square frames; set train.crop (got data.size {list(frame_size)})"
        try:
            self.make_discriminator(model, frame_size, crop)
        except (TypeError, ValueError) as err:
            return f"{name}.discriminator: {err}"
        except RuntimeError:  # layers too big for these frames: only a training run needs D, it says so
            pass
        return None


SECTIONS: dict[str, type] = {"supervised": SupervisedSection, "gan": GanSection, "none": UntrainedSection}


def register_section(recipe: str, section: type) -> None:
    """Declare the section schema of a recipe registered outside vfp (:func:`vfp.recipes.register_recipe`)."""
    SECTIONS[recipe] = section


def section_base(recipe: str) -> type:
    """The section schema of ``recipe``; ValueError naming the registered recipes otherwise."""
    if recipe not in SECTIONS:
        raise ValueError(f"unknown recipe {recipe!r}; registered: {', '.join(sorted(SECTIONS))}")
    return SECTIONS[recipe]


def net_schema(cls: type, exclude: tuple[str, ...] = ()) -> type:
    """A frozen ``net`` dataclass derived from ``cls.__init__``'s keyword arguments and their defaults
    (the defaults stay in one place: the constructor); ``exclude``: arguments the recipe fills in."""
    hints = typing.get_type_hints(cls.__init__)
    fields = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in ("self", *exclude) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"{cls.__name__}.__init__: argument {p.name} needs a default (or pass params=)")
        tp = hints.get(p.name, type(p.default))
        fields.append((p.name, tp, dataclasses.field(default=p.default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Net", fields, bases=(Params,), frozen=True)


def section_for(recipe: str, cls: type, params: type | None) -> type:
    """The section schema of a model: ``params`` itself when it is a section (has ``net``), else the
    recipe's section with ``net`` typed as ``params`` (or as :func:`net_schema` of the class)."""
    base = section_base(recipe)
    if params is not None and not dataclasses.is_dataclass(params):
        raise TypeError(f"params of {cls.__name__} must be a dataclass, got {params!r}")
    if params is not None and "net" in {f.name for f in dataclasses.fields(params)}:
        if not issubclass(params, base):
            raise TypeError(f"{params.__name__} must subclass the {recipe} recipe's {base.__name__}")
        return params
    net = params or net_schema(cls)
    return dataclasses.make_dataclass(f"{cls.__name__}Section", [("net", net, dataclasses.field(default_factory=net))],
                                      bases=(base,), frozen=True)
