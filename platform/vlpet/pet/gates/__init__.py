"""Granularity-controlled gates G (vlpet_spec §2.2), one file each, found by name through :data:`GATES`.

Importing this package registers the four granularities of the paper: small, middleX, middleY, large.
"""

from vlpet.pet.gates.base import GATES, Gate, build_gate, register_gate
from vlpet.pet.gates import small, middle_x, middle_y, large  # noqa: F401  (registration)

__all__ = ["GATES", "Gate", "build_gate", "register_gate"]
