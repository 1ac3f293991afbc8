"""The PET method registry: ``method: NAME`` in a trial config selects a function that injects modules.

A method is one file under ``vlpet/pet/methods`` with one ``@register_method`` function taking the VL model
and its :class:`PETSettings`. Freezing, trainability of the visual projector and norms, initialisation and
counting are shared (:func:`apply_pet`), so a method only says what it adds and what else it unfreezes.
Its registration also carries the method's defaults (per backbone family) and its combination checks, which
the trial config applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from torch import nn

from vlpet.pet.base import PETModule
from vlpet.pet.placement import layer_norm_modules
from vlpet.pet.settings import PETSettings

MethodFn = Callable[[nn.Module, PETSettings], Iterable[nn.Module | nn.Parameter]]
DefaultsFn = Callable[[str, "str | None"], dict[str, Any]]
CheckFn = Callable[[PETSettings], "str | None"]
METHODS: dict[str, MethodFn] = {}
NORM_STACKS = {"encoder": ("encoder",), "all": ("encoder", "decoder"), "none": ()}


@dataclass(frozen=True)
class MethodInfo:
    """What the trial config needs to know about a method besides its injection function.

    ``defaults(family, granularity)`` returns trial-key defaults (``lr``, ``placement``, ``train_norms``, ...)
    for a backbone family and the resolved granularity; ``default_granularity`` is the gate used when the trial
    does not name one; ``takes_granularity`` says whether a gate can be set at all; ``check(settings)`` returns
    an error message for an impossible combination, or None.
    """

    name: str
    summary: str
    keys: tuple[str, ...]
    defaults: DefaultsFn
    takes_granularity: bool = False
    default_granularity: str | None = None
    check: CheckFn | None = None


METHOD_INFO: dict[str, MethodInfo] = {}


def register_method(name: str, summary: str = "", keys: tuple[str, ...] = (), defaults: DefaultsFn | None = None,
                    takes_granularity: bool = False, default_granularity: str | None = None,
                    check: CheckFn | None = None) -> Callable[[MethodFn], MethodFn]:
    """Register ``fn(vl_model, settings) -> modules or parameters to unfreeze`` as PET method ``name``.

    ``keys`` lists the trial keys the method reads (shown by ``vlpet params --list-methods``).
    """

    def decorate(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise ValueError(f"PET method {name!r} is registered twice")
        METHODS[name] = fn
        METHOD_INFO[name] = MethodInfo(name, summary or (fn.__doc__ or "").strip().split("\n")[0], tuple(keys),
                                       defaults or (lambda family, granularity: {}), takes_granularity,
                                       default_granularity, check)
        return fn

    return decorate


def pet_modules(model: nn.Module) -> list[PETModule]:
    """Every PET module in a model, outermost first."""
    return [m for m in model.modules() if isinstance(m, PETModule)]


def apply_pet(vl_model: nn.Module, settings: PETSettings) -> nn.Module:
    """Freeze the backbone, inject the method's modules, and unfreeze exactly what the method trains.

    Trainable afterwards: every PET module, the visual projector (vlpet_spec §1.2), the norms of the stacks in
    ``settings.train_norms`` (§2.4) and whatever backbone modules or parameters the method returns.
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
    for item in unfrozen:  # a Module or a Parameter: both take requires_grad_
        item.requires_grad_(True)
    return vl_model
