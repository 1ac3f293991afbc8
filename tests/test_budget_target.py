"""Budget targets: every registered method with a size knob is solved to a target on tiny and real-size backbones
within its knob's granularity, unreachable targets exit 2 with the reachable range, and nothing holds weights.

The expected values are computed here independently of the solver: valid knob values by scanning with
``TrialConfig``, counts with ``vlpet.build.trial_budget``.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import vlpet.build
from vlpet.budget_target import UnreachableTarget, make_target, solve_budget
from vlpet.build import trial_budget
from vlpet.checks import in_range
from vlpet.cli import main
from vlpet.errors import ConfigError
from vlpet.pet.base import PETModule
from vlpet.pet.options import MAX_SIZE, MethodOptions, option
from vlpet.pet.registry import METHODS, PETMethod, registered_methods
from vlpet.trial_config import TrialConfig

VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
SIZED = sorted(name for name, method in registered_methods().items() if method.size_knob)
FIXED = sorted(name for name, method in registered_methods().items() if not method.size_knob)
OWN_KEYS = {"peft": {"peft": {"peft_type": "LOHA", "r": 8}}}  # methods that are invalid without keys of their own


def trial(method: str, backbone: str, **keys) -> dict:
    return {"backbone": backbone, "method": method, **OWN_KEYS.get(method, {}), **keys}


def knob_of(method: str) -> str:
    return registered_methods()[method].size_knob


def config_at(keys: dict, knob: str, value: int) -> TrialConfig | None:
    try:
        return TrialConfig.from_dict({**keys, knob: value})
    except ConfigError:
        return None


def valid_values(keys: dict, knob: str, values: range):
    return (value for value in values if config_at(keys, knob, value) is not None)


def budget_at(keys: dict, knob: str, value: int) -> dict | None:
    """The budget at a value the trial config accepts, counted with every tensor on the meta device (the test's
    own counting), or None when the method refuses to build it (a rank above a layer's width, say)."""
    try:
        with torch.device("meta"):
            return trial_budget(config_at(keys, knob, value))
    except ConfigError:
        return None


def measure(budget: dict, unit: str) -> float:
    return budget["trainable_pct"] if unit == "pct" else budget["trainable_params"]


def neighbours(keys: dict, knob: str, value: int) -> list[int]:
    """The adjacent values the trial config accepts; the one above only if it builds (a method that refuses a
    size while building refuses every larger one)."""
    below = next(valid_values(keys, knob, range(value - 1, 0, -1)), None)
    above = next(valid_values(keys, knob, range(value + 1, MAX_SIZE + 1)), None)
    return [v for v in (below, above) if v is not None and (v == below or budget_at(keys, knob, v) is not None)]


def assert_closest(keys: dict, solution, target: float, unit: str) -> None:
    """The solved value is valid and no adjacent valid value is closer to the target (monotone count)."""
    knob, value = solution.knob, solution.keys[solution.knob]
    assert solution.config.to_dict()[knob] == value
    assert solution.achieved == pytest.approx(measure(budget_at(keys, knob, value), unit))
    error = abs(solution.achieved - target)
    for neighbour in neighbours(keys, knob, value):
        assert error <= abs(measure(budget_at(keys, knob, neighbour), unit) - target) + 1e-12, (value, neighbour)


def refused_range(keys: dict, knob: str, message: str) -> list[dict]:
    """The budgets at the ends of the range a refusal names, checked to be the smallest value the trial config
    accepts and the largest one that builds (the next accepted value above it, if any, does not)."""
    assert "cannot be reached" in message and "visual projector" in message and "so there is a floor" in message
    smallest, largest = (int(v) for v in re.search(rf"{knob} from (\d+) to (\d+) ", message).groups())
    assert smallest == next(valid_values(keys, knob, range(1, MAX_SIZE + 1)))
    above = next(valid_values(keys, knob, range(largest + 1, MAX_SIZE + 1)), None)
    assert above is None or budget_at(keys, knob, above) is None
    return [budget_at(keys, knob, value) for value in (smallest, largest)]


def shown(budget: dict) -> str:
    """A budget as a --target-params refusal prints it: in params first."""
    return f"{budget['trainable_params']:,} trainable params ({budget['trainable_pct']:.3f}%)"


@pytest.fixture
def builds(monkeypatch):
    """Every model built while the test runs, as (device asked for, whether each parameter and buffer is on meta).
    The test's own counts (``trial_budget`` alone) put the PET modules on the CPU: only the solver's are checked."""
    seen = []
    build = vlpet.build.build_trial_model

    def observed(config, device=None, pretrained=True):
        model = build(config, device=device, pretrained=pretrained)
        tensors = [*model.parameters(), *model.buffers()]
        seen.append((str(device), all(t.device.type == "meta" for t in tensors)))
        return model

    monkeypatch.setattr(vlpet.build, "build_trial_model", observed)
    return seen


def solve_on_meta(builds: list, keys: dict, target):
    """``solve_budget``, checking that every model it built asked for the meta device and holds no weights."""
    start = len(builds)
    try:
        return solve_budget(keys, target)
    finally:
        assert len(builds) > start and all(device == "meta" and meta for device, meta in builds[start:])


@pytest.mark.parametrize("backbone", ["tiny-bart", "tiny-t5"])
@pytest.mark.parametrize("method", SIZED)
def test_a_target_between_two_sizes_is_solved_to_the_closer_one_on_tiny_backbones(method, backbone, builds):
    keys, knob = trial(method, backbone), knob_of(method)
    size = TrialConfig.from_dict(keys).to_dict()[knob]
    above = next(valid_values(keys, knob, range(size + 1, MAX_SIZE + 1)))
    while budget_at(keys, knob, above) is None:  # the default and the next size must build (MiSS: r ≤ width)
        size = next(valid_values(keys, knob, range(size // 2, 0, -1)))
        above = next(valid_values(keys, knob, range(size + 1, MAX_SIZE + 1)))
    low, high = (measure(budget_at(keys, knob, value), "params") for value in (size, above))
    target = math.floor(low + (high - low) / 3)  # a third of the way from this size to the next one
    solution = solve_on_meta(builds, keys, make_target(target_params=target))
    if high > low:
        assert solution.keys[knob] == size
    assert_closest(keys, solution, target, "params")
    assert solution.counts <= 16


@pytest.mark.parametrize("backbone", ["bart-base", "t5-base"])
@pytest.mark.parametrize("method", SIZED)
def test_three_percent_on_real_size_backbones_is_hit_or_refused_with_the_floor(method, backbone, builds):
    keys, knob = trial(method, backbone), knob_of(method)
    try:
        solution = solve_on_meta(builds, keys, make_target(target_pct=3.0))
    except UnreachableTarget as refusal:
        ends = sorted(measure(budget, "pct") for budget in refused_range(keys, knob, str(refusal)))
        assert [refusal.low, refusal.high] == pytest.approx(ends) and not ends[0] <= 3.0 <= ends[1]
    else:
        assert_closest(keys, solution, 3.0, "pct")
        assert abs(solution.error) < 0.25 and solution.counts <= 24  # OFT: PEFT rounds block sizes, a step function


@pytest.mark.parametrize("backbone,pct,solved", [("bart-base", 2.0, {"bottleneck": 8, "gate_bottleneck": 8}),
                                                  ("t5-base", 4.0, {"bottleneck": 80, "gate_bottleneck": 80})])
def test_vl_pet_on_the_paper_backbones(backbone, pct, solved):
    """Pinned values: r must divide by heads = 4, so r moves in steps of 4 and r_g follows it."""
    solution = solve_budget(trial("vl-pet", backbone), make_target(target_pct=pct))
    assert solution.keys == solved and solution.config.decoder_bottleneck == 96
    assert [value for value, _ in solution.bracket] in ([solved["bottleneck"] - 4, solved["bottleneck"]],
                                                        [solved["bottleneck"], solved["bottleneck"] + 4])


@pytest.mark.parametrize("method", SIZED)
def test_below_the_floor_and_above_the_largest_size_exit_2_with_the_range(method, capsys):
    keys, knob = trial(method, "tiny-bart"), knob_of(method)
    args = ["params", *(f"--set={key}={json.dumps(value)}" for key, value in keys.items())]
    for target in ("1", str(10**15)):
        assert main([*args, "--target-params", target]) == 2
        message = capsys.readouterr().err
        low, high = sorted(refused_range(keys, knob, message), key=lambda budget: budget["trainable_params"])
        assert f"reaches {shown(low)} to {shown(high)}" in message and len(message.strip().splitlines()) == 1


def test_the_console_script_refuses_one_and_a_half_percent_of_vl_pet_on_bart_base():
    proc = subprocess.run([VLPET, "params", "--target-pct", "1.5"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "target 1.500% cannot be reached by vl-pet on bart-base: bottleneck from 4 to 65536" in proc.stderr
    assert "1.870% (2,658,720 trainable params) to 94.548%" in proc.stderr
    assert "visual projector (1,582,848 params" in proc.stderr


@pytest.mark.parametrize("method", FIXED)
def test_a_method_without_a_knob_has_exactly_one_size(method, capsys, builds):
    keys = trial(method, "tiny-bart")
    size = trial_budget(TrialConfig.from_dict(keys))["trainable_pct"]
    args = ["params", *(f"--set={key}={json.dumps(value)}" for key, value in keys.items())]
    start = len(builds)
    assert main([*args, "--target-pct", f"{size:.3f}", "--json"]) == 0
    assert builds[start:] == [("meta", True)]
    out = json.loads(capsys.readouterr().out)
    assert out["trainable_pct"] == pytest.approx(size) and out["solved"] == {} and out["knob"] is None
    assert main([*args, "--target-pct", f"{size / 2:.3f}"]) == 2
    message = capsys.readouterr().err
    assert "has no size knob, so it has exactly one size" in message and f"{size:.3f}%" in message


def test_json_holds_the_whole_solved_trial_which_counts_again_to_the_same_budget(capsys):
    assert main(["params", "--set", "backbone=tiny-t5", "--set", "method=lora", "--target-params", "200000",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    recount = trial_budget(TrialConfig.from_dict(out["config"]))
    assert recount["trainable_params"] == out["trainable_params"] == out["achieved"]
    assert out["solved"] == {"lora_rank": out["config"]["lora_rank"]} and out["knob"] == "lora_rank"
    assert out["error"] == out["trainable_params"] - 200_000 and out["target"] == {"params": 200_000}


def test_the_table_names_the_solved_keys_the_error_and_the_other_side(capsys):
    assert main(["params", "--set", "backbone=tiny-bart", "--set", "granularity=small", "--target-pct", "40"]) == 0
    out = capsys.readouterr().out
    assert "solved   bottleneck " in out and "gate_bottleneck" not in out.split("\n")[1]  # no large gate: no r_g
    assert "percentage points" in out and "nearest  bottleneck " in out and "trainable %" in out


def test_gate_bottleneck_follows_when_unset_and_stays_when_given():
    target = make_target(target_params=250_000)
    following = solve_budget(trial("vl-pet", "tiny-bart"), target)
    assert following.keys["gate_bottleneck"] == following.keys["bottleneck"] == following.config.gate_bottleneck
    fixed = solve_budget(trial("vl-pet", "tiny-bart", gate_bottleneck=8, decoder_bottleneck=12), target)
    assert "gate_bottleneck" not in fixed.keys and fixed.config.gate_bottleneck == 8
    assert fixed.config.decoder_bottleneck == 12 and fixed.keys["bottleneck"] != following.keys["bottleneck"]


def test_an_invalid_knob_in_the_trial_is_replaced_and_compacter_divisibility_is_kept():
    solution = solve_budget(trial("compacter", "tiny-bart", bottleneck=7, phm_dim=4), make_target(target_pct=50))
    assert solution.keys["bottleneck"] % 4 == 0 and solution.config.decoder_bottleneck % 4 == 0
    with pytest.raises(ConfigError, match="decoder_bottleneck: 6 is not divisible by phm_dim=4"):
        solve_budget(trial("compacter", "tiny-bart", granularity="large", decoder_bottleneck=6, phm_dim=4),
                     make_target(target_pct=50))


@pytest.mark.parametrize("args", [["--target-pct", "2", "--target-params", "5"], ["--target-pct", "0"],
                                  ["--target-pct", "101"], ["--target-params", "-3"]])
def test_bad_targets_exit_2(args, capsys):
    try:
        assert main(["params", *args]) == 2
    except SystemExit as stop:  # argparse: the two targets are mutually exclusive
        assert stop.code == 2
    assert "error" in capsys.readouterr().err


# ---- a knob whose count falls as it grows, with plateaus and odd values invalid -----------------------------
WIDTH = 4096


@dataclass(frozen=True)
class ShrinkOptions(MethodOptions):
    shrink: int = option("test: one Linear d → ceil(4096 / shrink); must be even", 8)

    def validate(self) -> None:
        in_range("shrink", self.shrink, 1, MAX_SIZE, "a positive integer")

    def check(self, settings) -> str | None:
        return "shrink: must be even" if self.shrink % 2 else None


class Shrunk(PETModule):
    component = "encoder modules"

    def __init__(self, d_model: int, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_model, width)

    def reset_parameters(self, scheme: str) -> None:
        self.linear.reset_parameters()


def apply_shrink(vl_model, settings):
    vl_model.shrunk = Shrunk(vl_model.backbone.config.d_model, math.ceil(WIDTH / settings.options.shrink))
    return []


def test_a_falling_knob_with_plateaus_is_solved_exactly(monkeypatch):
    monkeypatch.setitem(METHODS, "shrink", PETMethod("shrink", "test", apply_shrink, ShrinkOptions,
                                                     size_knob="shrink"))
    keys = {"backbone": "tiny-bart", "method": "shrink"}

    def counted(shrink: int) -> int:
        return trial_budget(TrialConfig.from_dict({**keys, "shrink": shrink}))["trainable_params"]

    per_unit = (counted(2) - counted(4)) // (WIDTH // 2 - WIDTH // 4)  # d + 1 parameters per output unit
    base = counted(2) - per_unit * (WIDTH // 2)

    def count(shrink: int) -> int:
        return base + per_unit * math.ceil(WIDTH / shrink)

    assert counted(6) == count(6) and counted(MAX_SIZE) == count(MAX_SIZE)
    for target in (base + per_unit * 100, base + per_unit * 3 + 7, count(2) - 1):
        solution = solve_budget(keys, make_target(target_params=target))
        best = min(abs(count(k) - target) for k in range(2, MAX_SIZE + 1, 2))
        assert solution.keys["shrink"] % 2 == 0 and abs(solution.achieved - target) == best
        assert solution.counts <= 24
    with pytest.raises(UnreachableTarget) as refusal:
        solve_budget(keys, make_target(target_params=count(2) + 1))
    assert (refusal.value.low, refusal.value.high) == (count(MAX_SIZE), count(2))


def test_a_bytes_target_counts_the_stored_precision(capsys):
    # 1-bit LoRA weights take 1/32 of their fp32 bytes, so the same byte budget buys a far larger rank.
    ranks = {}
    for bits in (32, 1):
        assert main(["params", "--set", "method=lora", "--set", "backbone=bart-base", "--set", f"adapter_bits={bits}",
                     "--target-bytes", "10000000", "--json"]) == 0
        solved = json.loads(capsys.readouterr().out)
        assert solved["target"] == {"bytes": 10000000}
        assert abs(solved["adapter_bytes"] - 10_000_000) <= abs(solved["bracket"][0][1] - solved["bracket"][-1][1])
        ranks[bits] = solved["config"]["lora_rank"]
    assert ranks[1] > 20 * ranks[32]
    # Below the floor (the fp32 visual projector alone is 6.3 MB): exit 2 and one line, the range in bytes.
    assert main(["params", "--set", "method=lora", "--set", "backbone=bart-base", "--target-bytes", "3000000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    low, high = (budget_at(trial("lora", "bart-base"), "lora_rank", rank) for rank in (1, MAX_SIZE))
    assert len(err) == 1 and "target 3,000,000 bytes (3.00 MB) of trained weights cannot be reached" in err[0]
    assert (f"reaches {low['adapter_bytes']:,} bytes ({low['adapter_bytes'] / 1e6:.2f} MB; "
            f"{low['trainable_params']:,} trainable params) to {high['adapter_bytes']:,} bytes "
            f"({high['adapter_bytes'] / 1e9:.2f} GB;") in err[0]
