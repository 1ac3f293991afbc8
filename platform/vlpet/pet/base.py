"""The one interface every PET module shares.

A module that subclasses :class:`PETModule` is trainable by construction and is counted, frozen and saved
through the same functions (``vlpet.pet.budget`` and ``vlpet.pet.state``). ``component`` names the row of
the parameter breakdown its parameters belong to.
"""

from __future__ import annotations

from torch import nn

INIT_SCHEMES = ("normal", "zero_up", "pytorch")


class PETModule(nn.Module):
    """Base class of every module added by a PET method.

    Subclasses set ``component`` and implement :meth:`reset_parameters`, which takes an init scheme:
    ``"normal"`` is the BART setting (weights ~ N(0, 0.02), biases 0, vlpet_spec §2.3), ``"zero_up"``
    the T5 setting (PyTorch default init, then the up/gate projections zeroed) and ``"pytorch"`` PyTorch's
    default init alone (the official T5 VL-Adapter baseline).
    """

    component: str = "pet modules"

    def reset_parameters(self, scheme: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def init_linear(layer: nn.Linear, scheme: str, zero: bool = False) -> None:
    """Initialise one Linear per scheme; ``zero=True`` zeroes weight and bias (the T5 zero-init flags)."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(INIT_SCHEMES)}")
    if zero:
        nn.init.zeros_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    elif scheme == "normal":
        nn.init.normal_(layer.weight, mean=0.0, std=0.02)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    else:
        layer.reset_parameters()
