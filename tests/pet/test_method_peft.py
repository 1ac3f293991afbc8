"""`method: peft` (any PEFT tuner from a `peft:` mapping) and the table every PEFT-backed shortcut passes: vlpet's
count of the PEFT modules equals PEFT's own ``get_nb_trainable_parameters`` for the same configuration on the same
backbone, the model starts unchanged, the size knob scales the budget."""

import json
import os
import subprocess
import sys

import pytest
import torch
from peft import IA3Config, LoHaConfig, LoKrConfig, LoraConfig, MissConfig, OFTConfig, VeraConfig, get_peft_model

from vlpet.cli import main
from vlpet.errors import ConfigError
from vlpet.models.vl_model import build_vl_model
from vlpet.pet.registry import method_record
from vlpet.testing import tiny_batch
from vlpet.testing.conformance import MethodConformance, budget, build, norm_names, visual_names
from vlpet.trial_config import TrialConfig

VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
QV = {"bart": ["q_proj", "v_proj"], "t5": ["q", "v"]}
# Each shortcut's PEFT config written by hand (PEFT's suffix matching; q and v match all three attentions), next to
# the vlpet keys that mean the same.
SHORTCUTS = {
    "dora": ({"dora_rank": 4, "dora_alpha": 8.0}, lambda f: LoraConfig(r=4, lora_alpha=8, use_dora=True,
                                                                       target_modules=QV[f])),
    "vera": ({"vera_rank": 16}, lambda f: VeraConfig(r=16, target_modules=QV[f])),
    "ia3": ({}, lambda f: IA3Config(target_modules={"bart": ["k_proj", "v_proj", "fc2"], "t5": ["k", "v", "wo"]}[f],
                                    feedforward_modules={"bart": ["fc2"], "t5": ["wo"]}[f])),
    "miss": ({"miss_rank": 8}, lambda f: MissConfig(r=8, target_modules=QV[f])),
    "oft": ({"oft_block_size": 8}, lambda f: OFTConfig(r=0, oft_block_size=8, target_modules=QV[f])),
    "lokr": ({"lokr_rank": 4, "lokr_factor": 4}, lambda f: LoKrConfig(r=4, decompose_factor=4, target_modules=QV[f])),
}
BACKBONES = ("tiny-bart", "tiny-t5", "bart-base", "t5-base")


def peft_own_count(backbone: str, config) -> int:
    """PEFT's trainable count for ``config`` on the Hugging Face model under vlpet's VL wrapper (meta device)."""
    hf_model = build_vl_model(backbone, 2048, device="meta", pretrained=False).backbone
    return get_peft_model(hf_model, config, low_cpu_mem_usage=True).get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("method", sorted(SHORTCUTS))
def test_vlpet_counts_what_peft_counts(method, backbone):
    keys, make_config = SHORTCUTS[method]
    family = "bart" if "bart" in backbone else "t5"
    assert budget(backbone, method, **keys)["breakdown"]["peft"] == peft_own_count(backbone, make_config(family))


@pytest.mark.parametrize("backbone", ("tiny-bart", "tiny-t5"))
@pytest.mark.parametrize("method", sorted(SHORTCUTS))
def test_shortcut_starts_as_the_backbone(method, backbone):
    keys = SHORTCUTS[method][0]
    model, plain = build(backbone, method, **keys).eval(), build(backbone, "full").eval()
    batch = tiny_batch()
    torch.testing.assert_close(model(**batch).logits, plain(**batch).logits, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", sorted(m for m in SHORTCUTS if method_record(m).size_knob))
def test_the_size_knob_scales_the_budget(method):
    knob = method_record(method).size_knob
    small = budget("tiny-bart", method, **{**SHORTCUTS[method][0], knob: 4})
    large = budget("tiny-bart", method, **{**SHORTCUTS[method][0], knob: 8})
    assert large["breakdown"]["peft"] > small["breakdown"]["peft"] > 0


# ---- method: peft ------------------------------------------------------------------------------------------------
class TestPeft(MethodConformance):
    method = "peft"
    variants = {
        "lora": {"peft": {"peft_type": "LORA", "r": 4}},
        "loha-ffn": {"peft": {"peft_type": "LOHA", "r": 2}, "placement": ["encoder.ffn", "decoder.cross_attn.value"],
                     "peft_targets": "all_linear"},
        "explicit-targets": {"peft": {"peft_type": "lora", "r": 2, "target_modules": ["fc1", "wi"]},
                             "train_norms": "encoder"},
    }

    def make(self, backbone, variant, seed=1):
        model = super().make(backbone, variant, seed)
        model.expected_norm_stacks = ("encoder",) if variant.get("train_norms") == "encoder" else ()
        return model

    def expected_trainable(self, model, backbone):
        adapters = {n for n, _ in model.named_parameters() if ".lora_" in n or ".hada_" in n}
        return adapters | visual_names(model) | norm_names(model, model.expected_norm_stacks)


@pytest.mark.parametrize("backbone, wrapped", [
    ("tiny-bart", {f"backbone.model.encoder.layers.{i}.{n}" for i in range(2) for n in ("fc1", "fc2")}
     | {f"backbone.model.decoder.layers.{i}.encoder_attn.v_proj" for i in range(2)}),
    ("tiny-t5", {f"backbone.encoder.block.{i}.layer.1.DenseReluDense.{n}" for i in range(2) for n in ("wi", "wo")}
     | {f"backbone.decoder.block.{i}.layer.1.EncDecAttention.v" for i in range(2)}),
])
def test_placement_names_the_wrapped_layers(backbone, wrapped):
    from peft.tuners.tuners_utils import BaseTunerLayer

    model = build(backbone, "peft", peft={"peft_type": "LOHA", "r": 2}, peft_targets="all_linear",
                  placement=["encoder.ffn", "decoder.cross_attn.value"])
    assert {n for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)} == wrapped


def test_the_peft_component_is_peft_own_count_for_a_generic_mapping():
    config = {"backbone": "bart-base", "method": "peft", "peft": {"peft_type": "LOHA", "r": 8, "alpha": 16}}
    expected = peft_own_count("bart-base", LoHaConfig(r=8, alpha=16, target_modules=QV["bart"]))
    assert budget(**config)["breakdown"]["peft"] == expected == 36 * 2 * 8 * (768 + 768)


@pytest.mark.parametrize("peft, message", [
    ({"peft_type": "LORA", "r": "x"}, "peft.r: expected int, got 'x'"),
    ({"r": 4}, "peft: needs peft_type"),
    ({"peft_type": "NOPE"}, "peft.peft_type: 'NOPE' is not allowed"),
    ({"peft_type": "LORA", "rank": 4}, "peft: unknown key(s) ['rank']"),
    ({"peft_type": "LORA", "modules_to_save": ["lm_head"]}, "peft: unknown key(s) ['modules_to_save']"),
    ({"peft_type": "OFT", "r": 4, "oft_block_size": 4}, "peft: OFTConfig rejects"),
    ("LORA", "peft: expected a mapping"),
])
def test_a_malformed_mapping_is_one_named_config_error(peft, message):
    with pytest.raises(ConfigError) as error:
        TrialConfig.from_dict({"method": "peft", "peft": peft})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_mapping_is_required_and_checked_even_when_another_method_is_selected():
    with pytest.raises(ConfigError, match="peft: method peft needs a mapping"):
        TrialConfig.from_dict({"method": "peft"})
    with pytest.raises(ConfigError, match="peft.r: expected int"):
        TrialConfig.from_dict({"method": "lora", "peft": {"peft_type": "LORA", "r": 1.5}})


def test_query_value_targets_need_attention_sites():
    with pytest.raises(ConfigError, match="placement: with peft_targets query_value, dora wraps attention projections"):
        TrialConfig.from_dict({"method": "dora", "placement": ["encoder.ffn"]})
    TrialConfig.from_dict({"method": "dora", "placement": ["encoder.ffn"], "peft_targets": "all_linear"})


def test_an_injection_peft_refuses_is_a_config_error():
    with pytest.raises(ConfigError, match="peft: PEFT cannot inject MISS"):
        build("tiny-bart", "miss", miss_rank=128)  # r above d_in = 64


def test_a_trial_with_a_peft_mapping_round_trips_through_dict_and_json():
    config = TrialConfig.from_dict({"backbone": "tiny-t5", "method": "peft", "peft_targets": "all_linear",
                                    "peft": {"peft_type": "LOHA", "r": 4, "alpha": 8, "rank_dropout": "1e-1"}})
    again = TrialConfig.from_dict(json.loads(config.to_json()))
    assert again.to_dict() == config.to_dict() and again.options == config.options
    assert again.options.peft == {"peft_type": "LOHA", "r": 4, "alpha": 8, "rank_dropout": "1e-1"}
    assert TrialConfig.from_dict(config.to_dict()).to_json() == config.to_json()


def test_a_study_with_a_peft_mapping_and_the_shortcuts_validates():
    from vlpet.study.spec import parse_study

    spec = parse_study({
        "name": "peft-methods", "trial": {"backbone": "tiny-bart", "task": "quickstart", "method": "peft",
                                          "peft": {"peft_type": "LOHA", "r": 4}},
        "search_space": {"method": {"choice": ["peft", "dora", "vera", "ia3", "miss", "oft", "lokr"]}},
        "search": {"algorithm": "grid"},
    })
    assert "peft" in spec.trial


def test_cli_exits_2_with_one_line_for_a_malformed_mapping():
    proc = subprocess.run([VLPET, "params", "--set", "method=peft", "--set", "peft={peft_type: LORA, r: x}"],
                          capture_output=True, text=True)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "Warning" not in line]
    assert proc.returncode == 2 and proc.stdout == ""
    assert lines == ["vlpet params: error: peft.r: expected int, got 'x'"]


def test_params_json_shows_the_peft_component(capsys):
    assert main(["params", "--json", "--set", "method=vera", "--set", "backbone=t5-base"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["breakdown"]["peft"] == 72 * (1024 + 768)
    assert result["trainable_params"] == result["breakdown"]["peft"] + result["breakdown"]["visual projector"]
