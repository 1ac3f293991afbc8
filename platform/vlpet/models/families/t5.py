"""T5 (VL-T5): pre-norm RMS norms, relative positions, no biases."""

from vlpet.models.families.record import BackboneFamily, BackboneSpec, Layout, SublayerSite
from vlpet.vocabulary import EXTRA_TOKENS, VISUAL_EXTRA_TOKENS

T5_PIECES = 32000  # sentencepiece size of the stock T5 vocabulary (its 32,128 rows include 100 extra ids + padding)

T5_BASE = dict(
    vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
SMALL_T5 = dict(
    vocab_size=1000, d_model=128, d_kv=32, d_ff=512, num_layers=2, num_decoder_layers=2, num_heads=4,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
TINY_T5 = dict(SMALL_T5, d_model=64, d_kv=16, d_ff=128)

T5_LAYOUT = Layout(
    encoder_layers="encoder.block",
    decoder_layers="decoder.block",
    sites={
        "encoder.attn": SublayerSite("layer.0.layer_norm", "layer.0.SelfAttention"),
        "encoder.ffn": SublayerSite("layer.1.layer_norm", "layer.1.DenseReluDense"),
        "decoder.self_attn": SublayerSite("layer.0.layer_norm", "layer.0.SelfAttention"),
        "decoder.cross_attn": SublayerSite("layer.1.layer_norm", "layer.1.EncDecAttention"),
        "decoder.ffn": SublayerSite("layer.2.layer_norm", "layer.2.DenseReluDense"),
    },
    cross_attn_value="layer.1.EncDecAttention.v",
    encoder_layer_norms=("layer.0.layer_norm", "layer.1.layer_norm"),
    decoder_layer_norms=("layer.0.layer_norm", "layer.1.layer_norm", "layer.2.layer_norm"),
    encoder_stack_norms=("encoder.final_layer_norm",),
    decoder_stack_norms=("decoder.final_layer_norm",),
    word_embedding="shared",
    query_value=("q", "v"),
)
T5_PAPER_DEFAULTS = {"bottleneck": 192, "gate_scale": 0.3, "init": "zero_up", "lr": 3e-4}


def vl_vocab_size(config, tokenizer_size: int | None) -> int:
    """At least the extended tokenizer's length (T5 pads its table); the stock 32,128 rows become the VL-T5
    tokenizer's 32,000 pieces + 100 + 100 = 32,200; otherwise +100 visual ids (its extra ids exist)."""
    if tokenizer_size:
        return max(config.vocab_size, tokenizer_size)
    if config.vocab_size == 32128:
        return T5_PIECES + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS
    return config.vocab_size + VISUAL_EXTRA_TOKENS


FAMILY = BackboneFamily(
    model_type="t5",
    config_class="transformers.T5Config",
    model_class="transformers.T5ForConditionalGeneration",
    norm_class="transformers.models.t5.modeling_t5.T5LayerNorm",
    layout=T5_LAYOUT,
    paper_setting="t5",
    paper_defaults=T5_PAPER_DEFAULTS,
    dropout_keys=("dropout_rate",),
    vl_vocab_size=vl_vocab_size,
    linear_biases=False,
    visual_eps_key="layer_norm_epsilon",
    architectures=(
        BackboneSpec("t5-base", "t5", T5_BASE, T5_PIECES + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                     "t5-base architecture (VL-T5)", "google-t5/t5-base"),
        BackboneSpec("small-t5", "t5", SMALL_T5, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                     "2+2-layer d=128 T5 for the quickstart"),
        BackboneSpec("tiny-t5", "t5", TINY_T5, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                     "2+2-layer d=64 T5 for tests"),
    ),
)
