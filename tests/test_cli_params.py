"""`vlpet params` end to end, through the installed console script."""

import json
import os
import subprocess
import sys

from vlpet.cli import main

VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")


def test_params_json_for_bart_base(capsys):
    assert main(["params", "--json", "--set", "granularity=large"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trainable_params"] == 6_052_416 and result["total_params"] == 145_606_464
    assert set(result["breakdown"]) >= {"visual projector", "encoder modules", "gates", "decoder modules", "layer norms"}


def test_params_table_for_a_yaml_file(tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text("backbone: t5-base\ngranularity: middleY\n")
    assert main(["params", str(path)]) == 0
    out = capsys.readouterr().out
    assert "trainable %" in out and "4.498" in out


def test_console_script_exits_2_with_a_named_error():
    proc = subprocess.run([VLPET, "params", "--set", "heads=5"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bottleneck: 96 is not divisible by heads=5" in proc.stderr


def test_help_lists_the_trial_keys():
    proc = subprocess.run([VLPET, "params", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "gate_bottleneck" in proc.stdout and "placement" in proc.stdout


def test_list_methods_names_every_method_and_its_keys(capsys):
    assert main(["params", "--list-methods"]) == 0
    out = capsys.readouterr().out
    for name in ("vl-pet", "full", "bitfit", "prompt", "lora", "adapter", "compacter"):
        assert f"\n{name} " in f"\n{out}"
    assert "lora_rank" in out and "phm_dim" in out and "prompt_length" in out
    assert "size knob: bottleneck" in out and "size knob: lora_rank" in out and "size knob: (none: one size)" in out


def test_params_table_shows_the_method_keys(capsys):
    assert main(["params", "--set", "backbone=t5-base", "--set", "method=lora"]) == 0
    out = capsys.readouterr().out
    assert "method lora | lora_rank 150" in out and "lora" in out.split("component")[1] and "7.535" in out
