"""BART (VL-BART): LayerNorm after each sub-layer, absolute positions, biases everywhere."""

from vlpet.models.families.record import BackboneFamily, BackboneSpec, Layout, SublayerSite
from vlpet.vocabulary import EXTRA_TOKENS, VISUAL_EXTRA_TOKENS

VL_TOKENS = EXTRA_TOKENS + VISUAL_EXTRA_TOKENS

BART_BASE = dict(
    vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
    decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024,
    activation_function="gelu", pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    forced_bos_token_id=0, forced_eos_token_id=2, scale_embedding=False, init_std=0.02,
)
TINY_BART = dict(
    vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=256,
    activation_function="gelu", pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    forced_bos_token_id=None, forced_eos_token_id=2, scale_embedding=False, init_std=0.02,
)
SMALL_BART = dict(TINY_BART, d_model=128, encoder_ffn_dim=512, decoder_ffn_dim=512)


def vl_vocab_size(config, tokenizer_size: int | None) -> int:
    """The extended tokenizer's length; without a tokenizer, +100 extra ids and +100 visual ids."""
    return tokenizer_size or config.vocab_size + VL_TOKENS


FAMILY = BackboneFamily(
    model_type="bart",
    config_class="transformers.BartConfig",
    model_class="transformers.BartForConditionalGeneration",
    norm_class="torch.nn.LayerNorm",
    layout=Layout(
        encoder_layers="model.encoder.layers",
        decoder_layers="model.decoder.layers",
        sites={
            "encoder.attn": SublayerSite("self_attn", "self_attn"),
            "encoder.ffn": SublayerSite("fc1", "fc2"),
            "decoder.self_attn": SublayerSite("self_attn", "self_attn"),
            "decoder.cross_attn": SublayerSite("encoder_attn", "encoder_attn"),
            "decoder.ffn": SublayerSite("fc1", "fc2"),
        },
        cross_attn_value="encoder_attn.v_proj",
        encoder_layer_norms=("self_attn_layer_norm", "final_layer_norm"),
        decoder_layer_norms=("self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"),
        encoder_stack_norms=("model.encoder.layernorm_embedding",),
        decoder_stack_norms=("model.decoder.layernorm_embedding",),
        word_embedding="model.shared",
        query_value=("q_proj", "v_proj"),
        visual_insert_after="model.encoder.layernorm_embedding",
        encoder_positions="model.encoder.embed_positions",
    ),
    paper_setting="bart",
    paper_defaults={"bottleneck": 96, "gate_scale": 1.0, "init": "normal", "lr": 1e-3},
    dropout_keys=("dropout", "attention_dropout", "activation_dropout"),
    vl_vocab_size=vl_vocab_size,
    linear_biases=True,
    init_visual=True,
    architectures=(
        BackboneSpec("bart-base", "bart", BART_BASE, 50265 + VL_TOKENS, "facebook/bart-base architecture (VL-BART)",
                     "facebook/bart-base"),
        BackboneSpec("tiny-bart", "bart", TINY_BART, 1000 + VL_TOKENS, "2+2-layer d=64 BART for tests"),
        BackboneSpec("small-bart", "bart", SMALL_BART, 1000 + VL_TOKENS, "2+2-layer d=128 BART for the quickstart"),
    ),
)
