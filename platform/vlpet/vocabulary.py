"""The VL vocabulary's extra tokens (vlpet_spec §1.1), torch-free: read by the backbone loader and by the
word-level tokenizers the data layer builds."""

from __future__ import annotations

EXTRA_TOKENS = 100  # <extra_id_0..99>
VISUAL_EXTRA_TOKENS = 100  # <vis_extra_id_0..99>
VL_VOCAB_FLAG = "vl_vocab_extended"  # set in configs of checkpoints whose vocabulary already holds the VL tokens


def vl_special_tokens() -> list[str]:
    """The VL-T5 extra tokens, in the order the paper's trainer adds them."""
    return [f"<extra_id_{i}>" for i in range(EXTRA_TOKENS - 1, -1, -1)] + [
        f"<vis_extra_id_{i}>" for i in range(VISUAL_EXTRA_TOKENS - 1, -1, -1)
    ]
