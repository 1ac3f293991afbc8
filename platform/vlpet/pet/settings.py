"""The PET part of a trial's configuration: what model code receives (never the whole run's config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PETSettings:
    """Fully resolved PET hyper-parameters (defaults already filled in by the trial config).

    granularity: gate name or None (no gate); bottleneck r and heads N_h of ΔH (the adapter/compacter size r);
    gate_bottleneck r_g (large gate); decoder_bottleneck r_v (value adapter); gate_scale s; placement: sites
    drawn from ``vlpet.pet.placement.PLACEMENTS``; train_norms: which stacks' norms train (``encoder``, ``all``,
    ``none``); init: ``normal`` (BART) or ``zero_up`` (T5). Method-specific: lora_rank/lora_alpha/lora_dropout
    (``lora``), prompt_length/prompt_hidden (``prompt``), phm_dim n (``compacter``).
    """

    method: str = "vl-pet"
    granularity: str | None = "large"
    bottleneck: int = 96
    heads: int = 4
    gate_bottleneck: int | None = 96
    decoder_bottleneck: int = 96
    gate_scale: float = 1.0
    placement: tuple[str, ...] = ("encoder.attn", "encoder.ffn", "decoder.cross_attn.value")
    train_norms: str = "encoder"
    init: str = "normal"
    lora_rank: int | None = 128  # None only where the method is not lora
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    prompt_length: int = 40
    prompt_hidden: int = 800
    phm_dim: int = 2
