"""mT5 (multilingual T5): T5's layout with a gated-GELU FFN and its own RMS norm class; takes VL-T5's settings."""

from dataclasses import replace

from vlpet.models.families.record import BackboneSpec
from vlpet.models.families.t5 import FAMILY as T5, TINY_T5
from vlpet.vocabulary import EXTRA_TOKENS, VISUAL_EXTRA_TOKENS

TINY_MT5 = dict(TINY_T5, feed_forward_proj="gated-gelu", tie_word_embeddings=False)

FAMILY = replace(
    T5,
    model_type="mt5",
    config_class="transformers.MT5Config",
    model_class="transformers.MT5ForConditionalGeneration",
    norm_class="transformers.models.mt5.modeling_mt5.MT5LayerNorm",
    architectures=(
        BackboneSpec("tiny-mt5", "mt5", TINY_MT5, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                     "2+2-layer d=64 mT5 (gated-GELU FFN, untied head) for tests"),
    ),
)
