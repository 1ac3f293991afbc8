"""The PET method registry: ``method: NAME`` in a trial config selects one record.

A method is one module under ``vlpet/pet/methods`` that defines ``METHOD = PETMethod(...)``: its injection
function, its options class (its own hyper-parameters, their help, paper defaults and checks), the shared PET
keys it reads and its defaults for them. Modules are found by name, so adding a method adds one file; a method
kept outside the package calls :func:`register_method`. Freezing, trainability of the visual projector and norms,
initialisation and counting are shared (:func:`apply_pet`), so a method only says what it adds and what else
it unfreezes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from vlpet.errors import ConfigError
from vlpet.pet.options import MethodOptions
from vlpet.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from vlpet.pet.settings import PETSettings

MethodFn = Callable[["nn.Module", "PETSettings"], "Iterable[nn.Module | nn.Parameter]"]
DefaultsFn = Callable[[str, "str | None"], dict[str, Any]]
NORM_STACKS = {"encoder": ("encoder",), "all": ("encoder", "decoder"), "none": ()}
METHODS_PACKAGE = "vlpet.pet.methods"


def no_defaults(paper_setting: str, granularity: str | None) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class PETMethod:
    """One registered PET method.

    ``apply(vl_model, settings)`` injects the method's modules and returns backbone modules or parameters it also
    trains. ``options``: its own hyper-parameters. ``reads``: the shared PET keys it uses (granularity, bottleneck,
    placement, ...). ``defaults(paper_setting, granularity)``: its values for shared keys (``lr``, ``placement``,
    ``train_norms``, ...) per paper setting (``bart``/``t5``) and resolved gate. ``takes_granularity``: whether a
    gate G can be added; ``default_granularity``: the gate when the trial names none. ``size_knob``: the integer
    key (shared or its own) that scales its trainable parameters, for budget targets (None: a fixed size).
    """

    name: str
    summary: str
    apply: MethodFn
    options: type[MethodOptions] = MethodOptions
    reads: tuple[str, ...] = ()
    defaults: DefaultsFn = no_defaults
    takes_granularity: bool = False
    default_granularity: str | None = None
    size_knob: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every trial key the method reads besides ``lr``."""
        return (*self.options.keys(), *self.reads)


_REGISTRY: Registry[PETMethod] = Registry(METHODS_PACKAGE, "METHOD", PETMethod, lambda m: m.name, "PET method")
METHODS = _REGISTRY.records  # name → record, as registered so far (``registered_methods()`` finds the built-in ones)


def register_method(method: PETMethod) -> PETMethod:
    """Add a method to the registry (built-in methods are found by :func:`registered_methods`)."""
    return _REGISTRY.register(method)


def registered_methods() -> dict[str, PETMethod]:
    """Every method: the ``METHOD`` record of each module in ``vlpet.pet.methods``, plus any registered."""
    return _REGISTRY.all()


def method_record(name: str) -> PETMethod:
    """The record of method ``name``; ValueError listing the known ones."""
    return _REGISTRY.get(name)


def option_keys() -> dict[str, str]:
    """Every method option key → the method that declares it (keys shared by two methods must mean the same)."""
    return {key: name for name, method in registered_methods().items() for key in method.options.keys()}


def pet_modules(model: "nn.Module") -> list:
    """Every PET module in a model, outermost first."""
    from vlpet.pet.base import PETModule

    return [m for m in model.modules() if isinstance(m, PETModule)]


def apply_pet(vl_model: "nn.Module", settings: "PETSettings") -> "nn.Module":
    """Freeze the backbone, inject the method's modules, and unfreeze exactly what the method trains.

    Trainable afterwards: every PET module, the visual projector (vlpet_spec §1.2), the norms of the stacks in
    ``settings.train_norms`` (§2.4) and whatever backbone modules or parameters the method returns. Below 32
    ``adapter_bits``, the PET modules' weights are then quantised (:mod:`vlpet.pet.quant`).
    """
    from vlpet.pet.placement import layer_norm_modules
    from vlpet.pet.quant import quantise_pet_weights

    method = method_record(settings.method)
    vl_model.requires_grad_(False)
    unfrozen = list(method.apply(vl_model, settings) or [])
    for module in pet_modules(vl_model):
        module.reset_parameters(settings.init)
    unfrozen += layer_norm_modules(vl_model.backbone, NORM_STACKS[settings.train_norms])
    unfrozen += [vl_model.visual, *pet_modules(vl_model)]
    for item in unfrozen:  # a Module or a Parameter: both take requires_grad_
        item.requires_grad_(True)
    # after the init: a parametrized weight is computed on access, so initialising it in place would be lost
    bits = settings.adapter_bits
    if bits < 32 and not quantise_pet_weights(vl_model, bits, settings.adapter_quant):
        raise ConfigError(f"adapter_bits: method {settings.method!r} adds no weights of vlpet's own PET modules to "
                          f"quantise (vl-pet, adapter, compacter, lora and prompt do); use adapter_bits: 32")
    return vl_model
