"""The VL model follows vlpet_spec §1: vocabulary, tied embeddings, visual projector, token order."""

import pytest
import torch
from transformers import BartTokenizerFast, PreTrainedTokenizerFast

from tests.conftest import tiny_batch
from vlpet.errors import ConfigError
from vlpet.models import build_vl_model, load_backbone
from vlpet.models.backbones import extend_tokenizer, vl_special_tokens
from vlpet.models.visual import VisualProjector


def test_known_backbones_have_the_vl_vocabulary():
    assert load_backbone("bart-base", device="meta").get_input_embeddings().num_embeddings == 50_465
    assert load_backbone("t5-base", device="meta").get_input_embeddings().num_embeddings == 32_200


@pytest.mark.parametrize("backbone", ["tiny-bart", "tiny-t5"])
def test_word_embedding_and_lm_head_are_one_tensor(backbone):
    model = build_vl_model(backbone, 16)
    assert model.backbone.get_output_embeddings().weight is model.backbone.get_input_embeddings().weight


@pytest.mark.parametrize("backbone, count", [("bart-base", 1_582_848), ("t5-base", 1_581_312)])
def test_visual_projector_parameter_count(backbone, count):
    model = build_vl_model(backbone, 2048, device="meta")
    assert sum(p.numel() for p in model.visual.parameters()) == count


def test_visual_projector_terms():
    """v = LN_a(W_f f + b_f) + LN_b(W_p [box, area] + b_p) + E_img[i] + E_word[V-1-o]."""
    torch.manual_seed(0)
    projector = VisualProjector(8, 4, pool_grid=None)
    word = torch.randn(50, 4)
    feats = torch.randn(1, 2, 3, 8)
    out = projector(feats, word)
    assert out.shape == (1, 6, 4)
    box_term = projector.box_norm(projector.box_proj(torch.zeros(5)))
    expected_img1_obj2 = (projector.feat_norm(projector.feat_proj(feats[0, 1, 2])) + box_term
                          + projector.image_order.weight[1] + word[50 - 1 - 2])
    torch.testing.assert_close(out[0, 5], expected_img1_obj2)


def test_grid_is_max_pooled_to_six_by_six():
    projector = VisualProjector(8, 4, pool_grid=6)
    feats = torch.randn(2, 2, 49, 8)
    pooled = projector.pool(feats)
    assert pooled.shape == (2, 2, 36, 8)
    grid = feats[0, 0].reshape(7, 7, 8)
    torch.testing.assert_close(pooled[0, 0, 0], grid[:2, :2].reshape(-1, 8).max(0).values)
    assert projector(feats, torch.randn(50, 4)).shape == (2, 72, 4)


def test_bart_visual_tokens_come_after_the_embedding_norm_without_positions():
    """Changing the position table beyond the text length must not change anything (visual tokens get none)."""
    torch.manual_seed(0)
    model = build_vl_model("tiny-bart", 16).eval()
    batch = tiny_batch()
    before = model(**batch).logits
    with torch.no_grad():
        model.backbone.model.encoder.embed_positions.weight[2 + 5:].add_(1.0)  # BART offsets positions by 2
    torch.testing.assert_close(model(**batch).logits, before)
    with torch.no_grad():
        model.backbone.model.encoder.embed_positions.weight[2:4].add_(1.0)  # text positions do matter
    assert not torch.allclose(model(**batch).logits, before)


@pytest.mark.parametrize("backbone", ["tiny-bart", "tiny-t5"])
def test_visual_features_reach_the_output_and_the_projector_gets_gradients(backbone):
    model = build_vl_model(backbone, 16).eval()
    batch = tiny_batch()
    other = dict(batch, visual_feats=batch["visual_feats"] + 1.0)
    assert not torch.allclose(model(**batch).logits, model(**other).logits)
    model.train()
    model(**batch).loss.backward()
    assert model.visual.feat_proj.weight.grad.abs().sum() > 0


def test_local_checkpoint_goes_through_from_pretrained(tmp_path):
    torch.manual_seed(0)
    source = build_vl_model("tiny-bart", 16).backbone
    source.save_pretrained(tmp_path / "ckpt")
    loaded = load_backbone(str(tmp_path / "ckpt"))
    assert loaded.get_input_embeddings().num_embeddings == source.get_input_embeddings().num_embeddings
    for (name, a), (_, b) in zip(source.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_plain_checkpoint_gets_the_extra_tokens(tmp_path):
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(vocab_size=300, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64)
    BartForConditionalGeneration(config).save_pretrained(tmp_path / "plain")
    model = load_backbone(str(tmp_path / "plain"))
    assert model.get_input_embeddings().num_embeddings == 500
    assert load_backbone(str(tmp_path / "plain"), device="meta").get_input_embeddings().num_embeddings == 500


def test_extend_tokenizer_adds_only_missing_tokens():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "<extra_id_0>": 3, "a": 4}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    assert extend_tokenizer(tokenizer) == 5 + 199
    assert extend_tokenizer(tokenizer) == 5 + 199
    assert tokenizer.convert_tokens_to_ids("<vis_extra_id_0>") > 4
    assert len(vl_special_tokens()) == 200


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ConfigError, match="not a known name"):
        load_backbone("/no/such/bart-checkpoint")
