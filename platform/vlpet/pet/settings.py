"""The PET part of a trial's configuration: what model code receives (never the whole run's config)."""

from __future__ import annotations

from dataclasses import dataclass

from vlpet.pet.options import MethodOptions

ADAPTER_BITS = (32, 16, 8, 4, 2, 1)  # precision of the PET modules' weights (vlpet.pet.quant)
ADAPTER_QUANT = ("qat", "ptq")      # when it applies: in training and evaluation, or evaluation only


@dataclass(frozen=True)
class PETSettings:
    """Fully resolved PET hyper-parameters, built by the trial config (``TrialConfig.pet_settings``).

    The keys shared by the methods that inject ΔH modules: granularity (gate name, or None for no gate);
    bottleneck r of ΔH (the adapter/compacter size r); gate_bottleneck r_g (large gate); decoder_bottleneck r_v
    (value adapter); gate_scale s; placement: sites drawn from ``vlpet.pet.sites.PLACEMENTS``; train_norms: which
    stacks' norms train (``encoder``, ``all``, ``none``); init: ``normal`` (BART) or ``zero_up`` (T5).
    ``options``: the selected method's own options (its class is declared in the method's module).
    ``adapter_bits``/``adapter_quant``: precision of the PET modules' weights and when it applies
    (:mod:`vlpet.pet.quant`).
    """

    method: str
    granularity: str | None
    bottleneck: int
    gate_bottleneck: int
    decoder_bottleneck: int
    gate_scale: float
    placement: tuple[str, ...]
    train_norms: str
    init: str
    options: MethodOptions
    adapter_bits: int = 32
    adapter_quant: str = "qat"
