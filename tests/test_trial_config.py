"""TrialConfig validation: every bad value is named with what is allowed."""

import json

import pytest

from vlpet.errors import ConfigError
from vlpet.trial_config import TrialConfig, parse_overrides


def test_family_defaults_follow_the_paper_scripts():
    bart = TrialConfig.from_dict({"backbone": "bart-base"})
    t5 = TrialConfig.from_dict({"backbone": "t5-base"})
    assert (bart.bottleneck, bart.gate_bottleneck, bart.gate_scale, bart.lr, bart.init) == (96, 96, 1.0, 1e-3, "normal")
    assert (t5.bottleneck, t5.gate_bottleneck, t5.gate_scale, t5.lr, t5.init) == (192, 192, 0.3, 3e-4, "zero_up")
    assert bart.decoder_bottleneck == t5.decoder_bottleneck == 96 and bart.options.heads == 4


@pytest.mark.parametrize(
    "data, message",
    [
        ({"bottleneck": 97}, "bottleneck: 97 is not divisible by heads=4"),
        ({"placement": []}, "placement: must name at least one site"),
        ({"placement": ["encoder.attn", "encoder.attn"]}, "duplicate"),
        ({"placement": ["enc"]}, "allowed values: encoder.attn"),
        ({"granularity": "huge"}, "granularity: 'huge' is not allowed; allowed values: small, middleX, middleY, large"),
        ({"bottleneck": -8}, "bottleneck: must be a positive integer"),
        ({"decoder_bottleneck": 0}, "decoder_bottleneck: must be a positive integer"),
        ({"heads": 2.5}, "heads: expected an integer"),
        ({"lr": -1}, "lr: must be positive"),
        ({"lr": "fast"}, "lr: expected a finite number"),
        ({"lr": float("nan")}, "lr: expected a finite number"),
        ({"method": "magic"}, "method: 'magic' is not allowed"),
        ({"train_norms": "some"}, "train_norms"),
        ({"dropout": 1.5}, "dropout"),
        ({"bottlneck": 8}, "unknown trial config key(s) bottlneck; allowed keys:"),
        ({"backbone": "gpt2"}, "backbone"),
        ({"method": "full", "granularity": "large"}, "granularity: 'large' cannot be combined with method 'full'"),
        ({"method": "lora", "placement": ["decoder.ffn"]}, "decoder.ffn is not an attention site"),
        ({"method": "lora", "lora_rank": 0}, "lora_rank: must be a positive integer"),
        ({"method": "lora", "lora_dropout": 1.0}, "lora_dropout: must be in [0, 1)"),
        ({"method": "lora", "lora_alpha": 0}, "lora_alpha: must be positive"),
        ({"method": "prompt", "prompt_length": 0}, "prompt_length: must be a positive integer"),
        ({"method": "compacter", "phm_dim": 5}, "bottleneck: 96 is not divisible by phm_dim=5"),
        ({"method": "adapter", "placement": []}, "placement: must name at least one site"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(data, message):
    with pytest.raises(ConfigError) as error:
        TrialConfig.from_dict(data)
    assert message in str(error.value)


def test_yaml_file_with_overrides(tmp_path):
    path = tmp_path / "trial.yaml"
    path.write_text("backbone: tiny-bart\ngranularity: small\nlr: 1e-3\nplacement: [encoder.ffn]\n")
    config = TrialConfig.from_file(path, ["heads=2", "bottleneck=8", "granularity=none"])
    assert config.lr == 1e-3 and config.options.heads == 2 and config.granularity is None
    assert config.placement == ["encoder.ffn"]


def test_json_round_trip(tmp_path):
    config = TrialConfig.from_dict({"backbone": "tiny-t5", "granularity": "middleX", "seed": 7})
    path = tmp_path / "trial.json"
    path.write_text(config.to_json())
    assert TrialConfig.from_file(path) == config
    assert json.loads(config.to_json())["seed"] == 7


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        TrialConfig.from_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("backbone: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrialConfig.from_file(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        TrialConfig.from_file(listing)


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lr"])


@pytest.mark.parametrize(
    "method, backbone, expected",
    [
        ("vl-pet", "bart-base", {"granularity": "large", "train_norms": "encoder", "lr": 1e-3}),
        ("full", "t5-base", {"granularity": None, "lr": 1e-4, "placement": []}),
        ("bitfit", "t5-base", {"lr": 3e-3, "train_norms": "none"}),
        ("prompt", "bart-base", {"lr": 1e-3, "prompt_length": 40, "prompt_hidden": 800}),
        ("lora", "bart-base", {"lora_rank": 128, "lora_alpha": 32.0, "lr": 1e-3,
                               "placement": ["encoder.attn", "decoder.self_attn", "decoder.cross_attn"]}),
        ("lora", "t5-base", {"lora_rank": 150, "lr": 3e-4}),
        ("adapter", "t5-base", {"bottleneck": 192, "train_norms": "none", "gate_scale": 1.0, "lr": 3e-4}),
        ("compacter", "bart-base", {"bottleneck": 96, "phm_dim": 2, "train_norms": "all", "lr": 1e-3}),
    ],
)
def test_method_defaults_follow_the_paper_runs(method, backbone, expected):
    config = TrialConfig.from_dict({"backbone": backbone, "method": method})
    resolved = config.to_dict()
    assert {key: resolved[key] for key in expected} == expected


@pytest.mark.parametrize("method", ["full", "bitfit", "prompt", "lora", "adapter", "compacter"])
def test_resolved_configs_round_trip(method):
    config = TrialConfig.from_dict({"backbone": "tiny-t5", "method": method})
    assert TrialConfig.from_dict(json.loads(config.to_json())) == config


def test_explicit_values_beat_method_defaults():
    config = TrialConfig.from_dict({"backbone": "bart-base", "method": "adapter", "train_norms": "encoder",
                                    "lr": 5e-4, "placement": ["encoder.ffn"]})
    assert (config.train_norms, config.lr, config.placement) == ("encoder", 5e-4, ["encoder.ffn"])
