"""VL-BART / VL-T5: a Hugging Face encoder-decoder whose encoder input is text tokens followed by
projected visual tokens (vlpet_spec §1)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from vlpet.models.backbones import load_backbone
from vlpet.models.visual import VisualProjector
from vlpet.models.families import family_record


class VLSeq2Seq(nn.Module):
    """Visual projector + encoder-decoder.

    BART: text tokens get their positions and ``layernorm_embedding``; the already-normalised visual tokens
    are appended after that norm (a forward hook on it replaces placeholder slots), so the visual tokens get
    no position embedding. T5: the visual tokens are appended to the text embeddings.
    Inputs: ``input_ids`` [B, Lt], ``attention_mask`` [B, Lt], ``visual_feats`` [B, I, N, F] (or [B, N, F]),
    optional ``visual_boxes`` [B, I, N, 4], ``labels`` [B, Lo] with -100 on padding. ``visual_feats=None``
    feeds the text alone (the text-only ablation). ``encoder_prompt`` (set by prompt tuning) maps a batch size B to
    [B, P, d] vectors placed before the text tokens, with mask ones.
    """

    def __init__(self, backbone: PreTrainedModel, visual: VisualProjector) -> None:
        super().__init__()
        self.backbone = backbone
        self.visual = visual
        self.table = family_record(backbone.config.model_type).layout
        self.register_module("encoder_prompt", None)
        self._pending_visual: torch.Tensor | None = None
        if self.table.visual_insert_after:
            backbone.get_submodule(self.table.visual_insert_after).register_forward_hook(self._insert_visual_tokens)

    def _insert_visual_tokens(self, _module, _args, output: torch.Tensor) -> torch.Tensor:
        visual, self._pending_visual = self._pending_visual, None
        if visual is None:
            return output
        return torch.cat([output[:, : output.shape[1] - visual.shape[1]], visual.to(output.dtype)], dim=1)

    def embed(self, input_ids, attention_mask, visual_feats, visual_boxes=None):
        """Encoder input embeddings [B, Lt+Nv, d] and mask [B, Lt+Nv]."""
        word_embedding = self.backbone.get_input_embeddings()
        text = word_embedding(input_ids)
        if self.encoder_prompt is not None:
            prompt = self.encoder_prompt(text.shape[0]).to(text.dtype)
            text = torch.cat([prompt, text], dim=1)
            attention_mask = torch.cat([attention_mask.new_ones(prompt.shape[:2]), attention_mask], dim=1)
        if visual_feats is None:  # text-only ablation
            return text, attention_mask
        visual = self.visual(visual_feats, word_embedding.weight, visual_boxes)
        mask = torch.cat([attention_mask, attention_mask.new_ones(visual.shape[:2])], dim=1)
        if self.table.visual_insert_after:
            self._pending_visual = visual
            return torch.cat([text, torch.zeros_like(visual)], dim=1), mask
        return torch.cat([text, visual], dim=1), mask

    def encode(self, input_ids, attention_mask, visual_feats, visual_boxes=None):
        """Run the encoder once; returns (encoder outputs, full attention mask)."""
        embeds, mask = self.embed(input_ids, attention_mask, visual_feats, visual_boxes)
        encoder_outputs = self.backbone.get_encoder()(inputs_embeds=embeds, attention_mask=mask, return_dict=True)
        return encoder_outputs, mask

    def forward(self, input_ids, attention_mask, visual_feats, labels=None, visual_boxes=None,
                decoder_input_ids=None, decoder_attention_mask=None) -> Seq2SeqLMOutput:
        encoder_outputs, mask = self.encode(input_ids, attention_mask, visual_feats, visual_boxes)
        return self.backbone(
            encoder_outputs=encoder_outputs, attention_mask=mask, labels=labels,
            decoder_input_ids=decoder_input_ids, decoder_attention_mask=decoder_attention_mask, return_dict=True,
        )

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, visual_feats, visual_boxes=None, **generate_kwargs):
        """Beam or greedy decoding (HF ``generate``) from the VL encoder output; returns token ids."""
        encoder_outputs, mask = self.encode(input_ids, attention_mask, visual_feats, visual_boxes)
        return self.backbone.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=encoder_outputs.last_hidden_state),
            attention_mask=mask, **generate_kwargs,
        )


def build_vl_model(backbone: str, visual_feat_dim: int, visual_grid: int | None = 6, dropout: float = 0.1,
                   device: str | torch.device | None = None, pretrained: bool = True) -> VLSeq2Seq:
    """The spec's VL model for ``backbone`` (a known name, a checkpoint path or a hub name)."""
    hf_model = load_backbone(backbone, device=device, dropout=dropout, pretrained=pretrained)
    config = hf_model.config
    family = family_record(config.model_type)
    eps = getattr(config, family.visual_eps_key) if family.visual_eps_key else 1e-5
    with torch.device(device or "cpu"):
        visual = VisualProjector(visual_feat_dim, config.d_model, family.norm_type(), visual_grid, eps)
    if family.init_visual and (device is None or torch.device(device).type != "meta"):
        visual.apply(hf_model._init_weights)  # BART init: N(0, init_std) weights, zero biases, unit norms
    return VLSeq2Seq(hf_model, visual)
