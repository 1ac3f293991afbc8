"""Gate interface and registry. A new granularity is one file with one ``@register_gate`` class."""

from __future__ import annotations

from typing import Callable

import torch

from vlpet.pet.base import PETModule

GATES: dict[str, type["Gate"]] = {}


class Gate(PETModule):
    """A granularity-controlled matrix G.

    ``forward(x, h_adapted)`` takes the sub-layer input X [B, L, d] and the adapted output H' = H + ΔH
    [B, L, d] and returns G in a shape that broadcasts against H'. Subclasses set ``name`` and take
    ``(d_model, gate_bottleneck)`` in their constructor.
    """

    component = "gates"
    name: str = ""

    def forward(self, x: torch.Tensor, h_adapted: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def register_gate(name: str) -> Callable[[type[Gate]], type[Gate]]:
    """Class decorator registering a gate under ``name`` (the value users write as ``granularity``)."""

    def decorate(cls: type[Gate]) -> type[Gate]:
        if name in GATES:
            raise ValueError(f"gate {name!r} is registered twice")
        cls.name = name
        GATES[name] = cls
        return cls

    return decorate


def build_gate(name: str, d_model: int, gate_bottleneck: int | None) -> Gate:
    """Build the gate registered as ``name``."""
    if name not in GATES:
        raise ValueError(f"unknown granularity {name!r}; allowed: {', '.join(GATES)}")
    return GATES[name](d_model, gate_bottleneck)
