"""Exports round-trip (issue 17): LoRA and a PEFT-backed method load with PEFT's own PeftModel.from_pretrained and
give vlpet's logits; a VL-PET export is rebuilt by vlpet.load_adapter in a fresh process; --merge gives the same
outputs; refused exports leave nothing behind. One tiny `vlpet train` run per method, shared by the module."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.train.fixtures import write_mini_quickstart
from vlpet.artifacts.load import EXTRA_FILE, base_vl_model, load_extra, native_model, probe_logits
from vlpet.artifacts.source import read_config, stage
from vlpet.cli import main

TRIAL = {"backbone": "tiny-bart", "task": "quickstart", "visual_feat_dim": 192, "batch_size": 4, "epochs": 1,
         "max_steps": 2, "eval_size": 4, "max_new_tokens": 3, "lr": 1e-2, "seed": 3}
METHODS = {"lora": {"lora_rank": 4}, "ia3": {}, "vl-pet": {"bottleneck": 8, "gate_bottleneck": 8,
                                                           "decoder_bottleneck": 8}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """method → a `vlpet train --out` directory of a two-step run on the miniature quickstart."""
    root = tmp_path_factory.mktemp("runs")
    data = write_mini_quickstart(root / "data")
    found = {}
    for method, keys in METHODS.items():
        trial = root / f"{method}.json"
        trial.write_text(json.dumps({**TRIAL, **keys, "method": method, "data_dir": str(data)}))
        out = root / method
        assert main(["train", str(trial), "--out", str(out), "--json"]) == 0
        found[method] = str(out)
    return found


def trained(run_dir, tmp_path):
    """The model the run trained (its kept weights loaded into its config's build) and that config."""
    stage(run_dir, str(tmp_path / "staged"))
    config = read_config(str(tmp_path / "staged"))
    return native_model(config, str(tmp_path / "staged" / "pet.safetensors")), config


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_peft_methods_load_with_peft_itself_and_merge(runs, tmp_path, method):
    from peft import PeftModel

    out = tmp_path / "export"
    from vlpet.artifacts.export import export_adapter

    described = export_adapter(runs[method], str(out), merge=True)
    assert described["layout"] == "peft"
    assert {"adapter_config.json", "adapter_model.safetensors", EXTRA_FILE, "README.md", "trial_config.json",
            "vlpet_adapter.json", "merged/backbone/config.json"} <= set(described["files"])
    model, config = trained(runs[method], tmp_path)
    vl = base_vl_model(config)
    PeftModel.from_pretrained(vl.backbone, str(out))          # PEFT's own loader, into the plain HF backbone
    load_extra(vl, str(out / EXTRA_FILE))                      # the visual projector (what PEFT does not hold)
    expected = probe_logits(model, config)
    assert torch.allclose(probe_logits(vl, config), expected, rtol=1e-4, atol=1e-5)
    assert not any(k.startswith("visual.") for k in _peft_keys(out))
    if method == "lora":  # LoRA's trained biases travel in PEFT's own file (bias: all)
        assert json.loads((out / "adapter_config.json").read_text())["bias"] == "all"
    import vlpet

    merged = vlpet.load_adapter(str(out), merged=True)
    assert not any("lora_" in n or "ia3_" in n for n, _ in merged.named_parameters())
    assert torch.allclose(probe_logits(merged, config), expected, rtol=1e-3, atol=1e-4)


def _peft_keys(out):
    from safetensors import safe_open

    with safe_open(str(out / "adapter_model.safetensors"), "pt") as handle:
        return list(handle.keys())


def test_vl_pet_is_rebuilt_by_load_adapter_in_a_fresh_process(runs, tmp_path):
    out = tmp_path / "export"
    from vlpet.artifacts.export import export_adapter

    assert export_adapter(runs["vl-pet"], str(out))["layout"] == "native"
    model, config = trained(runs["vl-pet"], tmp_path)
    script = ("import sys, torch, vlpet\nfrom vlpet.artifacts.load import probe_logits\n"
              "m = vlpet.load_adapter(sys.argv[1])\ntorch.save(probe_logits(m, m.trial_config), sys.argv[2])\n")
    subprocess.run([sys.executable, "-c", script, str(out), str(tmp_path / "logits.pt")], check=True, timeout=600)
    assert torch.allclose(torch.load(tmp_path / "logits.pt"), probe_logits(model, config), rtol=1e-4, atol=1e-5)


def test_refused_exports_say_why_in_one_line_and_write_nothing(runs, tmp_path, capsys):
    from vlpet.artifacts.export import export_adapter
    from vlpet.errors import ConfigError

    with pytest.raises(ConfigError, match="--merge: vl-pet adds modules"):
        export_adapter(runs["vl-pet"], str(tmp_path / "merged"), merge=True)
    with pytest.raises(ConfigError, match="no kept checkpoint"):
        export_adapter(str(tmp_path), str(tmp_path / "nothing"))
    wrong = tmp_path / "wrong"   # LoRA weights under a config of another rank
    wrong.mkdir()
    stage(runs["lora"], str(wrong / "run"))
    config = json.loads((wrong / "run" / "trial_config.json").read_text())
    (wrong / "run" / "trial_config.json").write_text(json.dumps({**config, "lora_rank": 8}))
    os.makedirs(wrong / "run" / "checkpoints" / "step_000002")
    for name in ("pet.safetensors", "trial_config.json"):
        os.replace(wrong / "run" / name, wrong / "run" / "checkpoints" / "step_000002" / name)
    torch.save({}, wrong / "run" / "checkpoints" / "step_000002" / "trainer_state.pt")
    (wrong / "run" / "checkpoints" / "step_000002" / "progress.json").write_text('{"step": 2}')
    with pytest.raises(ConfigError, match="does not match its config"):
        export_adapter(str(wrong / "run"), str(tmp_path / "mismatch"))
    assert sorted(os.listdir(tmp_path)) == ["wrong"]            # no half-written export, no temporary left
    assert main(["predict", str(wrong / "run"), "--task", "quickstart", "--split", "test", "--out",
                 str(tmp_path / "p.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "p.json").exists()
