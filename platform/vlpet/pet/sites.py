"""The names of the sub-layer sites PET modules can be placed at (no torch: trial configs validate against them).

How each site maps to an architecture's modules is in :mod:`vlpet.pet.placement`.
"""

PLACEMENTS = (
    "encoder.attn",
    "encoder.ffn",
    "decoder.self_attn",
    "decoder.cross_attn",
    "decoder.cross_attn.value",
    "decoder.ffn",
)
SEQUENTIAL_PLACEMENTS = tuple(p for p in PLACEMENTS if p != "decoder.cross_attn.value")
ATTENTION_PLACEMENTS = ("encoder.attn", "decoder.self_attn", "decoder.cross_attn")
# VL-PET's lightweight designs (vlpet_spec §3): modules on the encoder's sub-layers, value adapters in the decoder.
LIGHTWEIGHT_PLACEMENT = ("encoder.attn", "encoder.ffn", "decoder.cross_attn.value")
