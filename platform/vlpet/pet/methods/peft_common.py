"""Hugging Face PEFT tuners as vlpet methods: the shared part of ``method: peft`` and its shortcuts (dora, vera,
ia3, miss, oft, lokr), which are modules of their own.

Three steps, each one function here:

1. a PEFT config from a mapping (``peft_type`` plus the keys of its config class), checked against the class's
   field types and built by PEFT itself; every rejection becomes one :class:`~vlpet.errors.ConfigError` line that
   names the key (:func:`peft_config`);
2. its target modules from vlpet's placement names through the backbone family's record, so ``placement:`` means
   the same sites for every method (:func:`target_modules`);
3. injection into the unmodified Hugging Face backbone under the VL wrapper by PEFT's own tuner class, with the
   adapter tensors marked as the budget's ``peft`` component (:func:`inject`).

No module-level import of peft (it imports transformers): reading a trial config stays cheap.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from torch import nn

from vlpet.checks import allowed, fail, is_finite, is_int, mapping, no_unknown_keys
from vlpet.errors import ConfigError, show
from vlpet.pet.options import MethodOptions, option
from vlpet.pet.placement import architecture_of, attention_projections, stack_layers
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS

PEFT_COMPONENT = "peft"  # the budget's breakdown row of every PEFT adapter tensor
TARGETS = ("query_value", "all_linear")
QUERY_VALUE_PLACEMENTS = (*ATTENTION_PLACEMENTS, "decoder.cross_attn.value")
# Config keys vlpet decides itself (what else trains: train_norms and the visual projector) or that mean nothing
# for an adapter injected into a backbone; a `peft:` mapping may not set them.
VLPET_KEYS = ("task_type", "peft_version", "auto_mapping", "base_model_name_or_path", "revision", "inference_mode",
              "modules_to_save")
# Tuners left out besides prompt learning: PEFT's injection refuses ADAPTION_PROMPT and SHADOW; XLORA needs its own
# model wrapper, POLY task ids in every forward; TRAINABLE_TOKENS trains rows of the tied embedding, not layers.
NOT_INJECTABLE = ("ADAPTION_PROMPT", "SHADOW", "XLORA", "POLY", "TRAINABLE_TOKENS")


@dataclass(frozen=True)
class PeftTargetOptions(MethodOptions):
    """The key every PEFT-backed method shares: which projections of each placed site it wraps."""

    peft_targets: str = option("peft, dora, vera, miss, oft, lokr: which Linear layers of each placed site PEFT wraps: "
                               "query_value (the query and value projections of each attention, as LoRA; the value "
                               "projection at decoder.cross_attn.value) | all_linear (every Linear of the site)",
                               "query_value")

    def validate(self) -> None:
        allowed("peft_targets", self.peft_targets, TARGETS)

    def check(self, settings: PETSettings) -> str | None:
        wrong = [p for p in settings.placement if p not in QUERY_VALUE_PLACEMENTS]
        if self.peft_targets == "query_value" and wrong:
            return (f"placement: with peft_targets query_value, {settings.method} wraps attention projections; "
                    f"{', '.join(wrong)} has none (allowed: {', '.join(QUERY_VALUE_PLACEMENTS)}; or set "
                    "peft_targets: all_linear)")
        return None


# ---- 1. the config ----------------------------------------------------------------------------------------------
def injectable_types() -> list[str]:
    """PEFT types whose tuner injects layers into a plain module (not prompt learning), by name."""
    from peft.config import PromptLearningConfig
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING, PEFT_TYPE_TO_TUNER_MAPPING

    return sorted(kind.value for kind, cls in PEFT_TYPE_TO_CONFIG_MAPPING.items()
                  if kind in PEFT_TYPE_TO_TUNER_MAPPING and not issubclass(cls, PromptLearningConfig)
                  and kind.value not in NOT_INJECTABLE)


def peft_config(data: Any, key: str = "peft", check_types: bool = True) -> Any:
    """PEFT's own config object from ``{peft_type: NAME, <its keys>}``; ConfigError ``peft.<key>: ...`` when PEFT or
    the field types reject it (with ``check_types=False`` the values are taken as PEFT's, e.g. a float α)."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
    from peft.utils import PeftType

    data = dict(mapping(key, data))
    kind = data.pop("peft_type", None)
    if kind is None:
        fail(key, f"needs peft_type, one of {', '.join(injectable_types())} (with that method's keys)")
    kind = allowed(f"{key}.peft_type", str(kind).upper(), injectable_types())
    config_class = PEFT_TYPE_TO_CONFIG_MAPPING[PeftType(kind)]
    fields = [name for name in config_class.__dataclass_fields__ if name not in ("peft_type", *VLPET_KEYS)]
    no_unknown_keys(key, data, ["peft_type", *fields])
    if check_types:
        hints = _field_types(config_class)
        data = {name: _checked(f"{key}.{name}", value, hints.get(name, Any)) for name, value in data.items()}
    try:
        return config_class(**data)
    except (ValueError, TypeError, ImportError) as error:  # PEFT's __post_init__ checks: its message names the field
        fail(key, f"{config_class.__name__} rejects {show(data)}: {' '.join(str(error).split())}")


def _field_types(config_class: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(config_class)
    except Exception:  # an annotation PEFT cannot resolve in this environment: leave the values to PEFT
        return {}


def _checked(key: str, value: Any, hint: Any) -> Any:
    """``value`` if it fits the annotation ``hint`` (a numeric string for a float field becomes a float)."""
    if isinstance(value, str) and _fits(1.0, hint) and not _fits(value, hint):
        try:
            value = float(value)
        except ValueError:
            pass
    if not _fits(value, hint):
        fail(key, f"expected {_describe(hint)}, got {show(value)}")
    return value


def _describe(hint: Any) -> str:
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    return text.replace("typing.", "").replace("NoneType", "None")


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from YAML) fits a type annotation; kinds not checked here (PEFT's own classes) pass."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    simple = {type(None): value is None, bool: isinstance(value, bool), int: is_int(value),
              float: is_finite(value), str: isinstance(value, str)}
    if hint in simple:
        return simple[hint]
    if origin in (list, tuple, set):
        return isinstance(value, list) and (not args or all(_fits(item, args[0]) for item in value))
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return True


# ---- 2. the targets ---------------------------------------------------------------------------------------------
def target_modules(backbone: nn.Module, placement: tuple[str, ...], targets: str) -> list[str]:
    """Module names (relative to the backbone) of the Linear layers PEFT wraps at ``placement``, in layer order:
    ``query_value``: the family's query and value projections of each attention (the value one alone at
    ``decoder.cross_attn.value``); ``all_linear``: every Linear of each site."""
    names: list[str] = []
    for site in placement:
        if targets == "query_value" and site in ATTENTION_PLACEMENTS:
            found = attention_projections(backbone, (site,))
        else:
            found = [name for name, _ in site_linears(backbone, site)]
        names += [name for name in found if name not in names]  # cross_attn and its value may both be placed
    return names


def site_linears(backbone: nn.Module, placement: str) -> list[tuple[str, nn.Linear]]:
    """``(name, Linear)`` for every Linear of one site in each layer of its stack: inside the modules the family's
    record names for it (X's and H's sub-layers; the cross-attention value projection for its value site)."""
    table = architecture_of(backbone)
    stack = table.encoder_layers if placement.startswith("encoder.") else table.decoder_layers
    if placement == "decoder.cross_attn.value":
        paths = (table.cross_attn_value,)
    else:
        paths = tuple(dict.fromkeys((table.sites[placement].x_from, table.sites[placement].h_from)))
    found = []
    for index, layer in enumerate(stack_layers(backbone, placement)):
        for path in paths:
            for name, module in layer.get_submodule(path).named_modules(prefix=f"{stack}.{index}.{path}"):
                if isinstance(module, nn.Linear):
                    found.append((name, module))
    return found


# ---- 3. injection -----------------------------------------------------------------------------------------------
def inject(backbone: nn.Module, config: Any) -> list[nn.Module | nn.Parameter]:
    """Wrap ``config.target_modules`` of ``backbone`` in place with PEFT's tuner layers; returns their adapter
    modules (marked ``component = "peft"``) and any other tensor PEFT made trainable (its ``bias`` option)."""
    _run_tuner(backbone, config)
    adapters = peft_adapters(backbone)
    for adapter in adapters:
        adapter.component = PEFT_COMPONENT  # the budget's breakdown row
    inside = {id(p) for adapter in adapters for p in adapter.parameters()}
    return adapters + [p for p in backbone.parameters() if p.requires_grad and id(p) not in inside]


def peft_adapters(model: nn.Module) -> list[nn.Module]:
    """The adapter containers (``lora_A``, ``vera_lambda_b``, ``oft_R``, ...) of every PEFT tuner layer in
    ``model``: what each layer's class lists as its adapter layers, where it holds any."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    found = []
    for layer in model.modules():
        if isinstance(layer, BaseTunerLayer):
            found += [getattr(layer, name) for name in layer.adapter_layer_names
                      if isinstance(getattr(layer, name, None), nn.Module) and len(getattr(layer, name))]
    return found


def _run_tuner(backbone: nn.Module, config: Any) -> None:
    """PEFT's own tuner class injects, as ``peft.inject_adapter_in_model`` does; called directly because that
    function refuses tuners whose adapters share state (VeRA's frozen random A and B): every wrapped layer holds the
    shared buffers as a submodule, so the state lives on without the tuner object, which is checked here."""
    from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING

    kind, targets = config.peft_type.value, config.target_modules
    where = f"the {len(targets)} target modules" if isinstance(targets, (list, set)) else f"target_modules {targets!r}"
    on_meta = next(backbone.parameters()).is_meta  # a count: PEFT then makes empty adapters and skips their init
    try:
        tuner = PEFT_TYPE_TO_TUNER_MAPPING[config.peft_type](backbone, config, adapter_name="default",
                                                             low_cpu_mem_usage=on_meta)
    except (ValueError, TypeError, NotImplementedError, RuntimeError, ImportError) as error:
        raise ConfigError(f"peft: PEFT cannot inject {kind} into {where} of {type(backbone).__name__}: "
                          f"{' '.join(str(error).split())}") from None
    held = {id(p) for p in backbone.parameters()}
    if any(id(p) not in held for p in tuner.parameters()):  # trainable state kept on the tuner alone would be lost
        raise ConfigError(f"peft: {kind} keeps trainable tensors on its tuner object, outside the wrapped layers; "
                          "vlpet injects into the backbone and cannot train, count or save them")


def inject_at_placement(backbone: nn.Module, settings: PETSettings, peft_type: str,
                        keys: dict[str, Any]) -> list[nn.Module | nn.Parameter]:
    """A shortcut's injection: PEFT ``peft_type`` with ``keys``, on the targets of ``settings.placement`` and its
    ``peft_targets``."""
    names = target_modules(backbone, settings.placement, settings.options.peft_targets)
    config = peft_config({"peft_type": peft_type, **keys, "target_modules": names}, key=settings.method,
                         check_types=False)
    return inject(backbone, config)
