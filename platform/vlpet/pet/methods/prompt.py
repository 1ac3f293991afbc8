"""Prompt tuning (vlpet_spec §5): P learned vectors prepended to the encoder's text tokens, produced by the
VL-Adapter reparameterisation Emb(P, d) → Linear(d, m) → tanh → Linear(m, d), one set shared by all tasks.

Hand-written: PEFT's prompt tuning has no such MLP (its P-tuning encoder is a different network) and wraps the
model's forward, which the VL wrapper bypasses. Sequence layout: BART [prompt; text (+ positions); visual], all
through ``layernorm_embedding`` except the visual tokens, and the prompts get **no** position embedding (the text
keeps positions 0..L_t−1); T5 [prompt; text; visual] (relative positions only). Prompt rows are attended to
(mask ones) by the encoder and by the decoder's cross-attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vlpet.checks import in_range
from vlpet.pet.base import PETModule, init_linear
from vlpet.pet.options import MAX_SIZE, MethodOptions, option
from vlpet.pet.placement import architecture_of
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings

PROMPT_LR = {"bart": 1e-3, "t5": 3e-3}


@dataclass(frozen=True)
class PromptOptions(MethodOptions):
    prompt_length: int = option("prompt: number of prompt vectors prepended to the encoder's text", 40)
    prompt_hidden: int = option("prompt: hidden size of the prompt reparameterisation MLP (mid_dim)", 800)

    def validate(self) -> None:
        for key in ("prompt_length", "prompt_hidden"):
            in_range(key, getattr(self, key), 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")


class PromptEncoder(PETModule):
    """prompts = W_2 · tanh(W_1 · E + b_1) + b_2, E ∈ R^{P×d} a learned table; ``forward(B)`` → [B, P, d].

    Parameters: P·d + (d·m + m) + (m·d + d); 1,261,088 at P = 40, d = 768, m = 800.
    """

    component = "prompts"

    def __init__(self, d_model: int, length: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(length, d_model)
        self.down = nn.Linear(d_model, hidden)
        self.up = nn.Linear(hidden, d_model)

    def forward(self, batch_size: int) -> torch.Tensor:
        prompts = self.up(torch.tanh(self.down(self.embedding.weight)))
        return prompts.unsqueeze(0).expand(batch_size, -1, -1)

    def reset_parameters(self, scheme: str) -> None:
        """``normal``: HF BART init, N(0, 0.02) everywhere, zero biases; ``zero_up``: PyTorch defaults (T5's
        init leaves these modules alone and no script zeroes them)."""
        if scheme == "normal":
            nn.init.normal_(self.embedding.weight, mean=0.0, std=0.02)
        else:
            self.embedding.reset_parameters()
        init_linear(self.down, scheme)
        init_linear(self.up, scheme)


def skip_prompt_positions(positions: nn.Module, length: int) -> None:
    """Make an absolute position embedding give the first ``length`` rows zero and the rest positions 0, 1, …

    The module's output [..., L, d] becomes [0 (length rows); its first L − length rows].
    """

    def shift(_module, _args, output: torch.Tensor) -> torch.Tensor:
        kept = output.narrow(-2, 0, output.shape[-2] - length)
        return torch.cat([torch.zeros_like(output.narrow(-2, 0, length)), kept], dim=-2)

    positions.register_forward_hook(shift)


def apply_prompt(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """Sets ``vl_model.encoder_prompt`` (read by the VL model's embedding step)."""
    backbone, options = vl_model.backbone, settings.options
    vl_model.encoder_prompt = PromptEncoder(backbone.config.d_model, options.prompt_length, options.prompt_hidden)
    positions = architecture_of(backbone).encoder_positions
    if positions:
        skip_prompt_positions(backbone.get_submodule(positions), options.prompt_length)
    return []


METHOD = PETMethod(
    "prompt", "prompt tuning: P encoder prompt vectors from an Emb→Linear→tanh→Linear generator", apply_prompt,
    PromptOptions, reads=("train_norms",),
    defaults=lambda paper, granularity: {"lr": PROMPT_LR[paper], "train_norms": "none"},
    size_knob="prompt_length",
)
