"""The PET method registry: ``method: NAME`` in a trial config selects a function that injects modules.

A method is one file under ``vlpet/pet/methods`` with one ``@register_method`` function taking the VL model
and its :class:`PETSettings`. Freezing, trainability of the visual projector and norms, initialisation and
counting are shared (:func:`apply_pet`), so a method only says what it adds and what else it unfreezes.
"""

from __future__ import annotations

from typing import Callable, Iterable

from torch import nn

from vlpet.pet.base import PETModule
from vlpet.pet.placement import layer_norm_modules
from vlpet.pet.settings import PETSettings

MethodFn = Callable[[nn.Module, PETSettings], Iterable[nn.Module]]
METHODS: dict[str, MethodFn] = {}
NORM_STACKS = {"encoder": ("encoder",), "all": ("encoder", "decoder"), "none": ()}


def register_method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Register ``fn(vl_model, settings) -> modules to unfreeze`` as PET method ``name``."""

    def decorate(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise ValueError(f"PET method {name!r} is registered twice")
        METHODS[name] = fn
        return fn

    return decorate


def pet_modules(model: nn.Module) -> list[PETModule]:
    """Every PET module in a model, outermost first."""
    return [m for m in model.modules() if isinstance(m, PETModule)]


def apply_pet(vl_model: nn.Module, settings: PETSettings) -> nn.Module:
    """Freeze the backbone, inject the method's modules, and unfreeze exactly what the method trains.

    Trainable afterwards: every PET module, the visual projector (vlpet_spec §1.2), the norms of the stacks in
    ``settings.train_norms`` (§2.4) and whatever backbone modules the method returns.
    """
    import vlpet.pet.methods  # noqa: F401  (registers the built-in methods)

    if settings.method not in METHODS:
        raise ValueError(f"unknown PET method {settings.method!r}; allowed: {', '.join(sorted(METHODS))}")
    vl_model.requires_grad_(False)
    unfrozen = list(METHODS[settings.method](vl_model, settings) or [])
    for module in pet_modules(vl_model):
        module.reset_parameters(settings.init)
    unfrozen += layer_norm_modules(vl_model.backbone, NORM_STACKS[settings.train_norms])
    unfrozen += [vl_model.visual, *pet_modules(vl_model)]
    for module in unfrozen:
        module.requires_grad_(True)
    return vl_model

