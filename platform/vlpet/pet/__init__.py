"""PET methods, gates, placements and the shared trainability/counting/saving interface."""

from vlpet.pet.budget import ParameterBudget, count_parameters
from vlpet.pet.gates import GATES, build_gate, register_gate
from vlpet.pet.placement import PLACEMENTS
from vlpet.pet.registry import METHODS, apply_pet, register_method
from vlpet.pet.settings import PETSettings
from vlpet.pet.state import load_pet_weights, save_pet_weights, trainable_state_dict

__all__ = [
    "GATES", "METHODS", "PLACEMENTS", "PETSettings", "ParameterBudget", "apply_pet", "build_gate",
    "count_parameters", "load_pet_weights", "register_gate", "register_method", "save_pet_weights",
    "trainable_state_dict",
]
