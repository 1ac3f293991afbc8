"""PET methods, gates, placements and the shared trainability/counting/saving interface.

The names below are loaded on first use (PEP 562), so that importing a light submodule such as
``vlpet.pet.sites`` or ``vlpet.pet.settings`` (what a trial config needs) does not import torch and
transformers: Ray processes that only read configs (the study driver, Ray Train's controller) start faster.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ParameterBudget": "vlpet.pet.budget", "count_parameters": "vlpet.pet.budget",
    "GATES": "vlpet.pet.gates", "build_gate": "vlpet.pet.gates", "register_gate": "vlpet.pet.gates",
    "PLACEMENTS": "vlpet.pet.sites",
    "PETMethod": "vlpet.pet.registry", "apply_pet": "vlpet.pet.registry", "register_method": "vlpet.pet.registry",
    "registered_methods": "vlpet.pet.registry", "MethodOptions": "vlpet.pet.options", "option": "vlpet.pet.options",
    "PETSettings": "vlpet.pet.settings",
    "load_pet_weights": "vlpet.pet.state", "save_pet_weights": "vlpet.pet.state",
    "trainable_state_dict": "vlpet.pet.state",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vlpet.pet' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
