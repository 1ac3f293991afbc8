"""What the training runtime does for speed: glibc keeps freed memory, AdamW is fused, and the modules a Ray
process needs to read a study or a trial config do not import torch's model zoo (transformers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from vlpet.train.optim import build_optimizer

# 20 steps of a training-like pattern: 12 activations of 0.1 to 12 MiB, then as many gradients, all freed; prints
# whether the tuning applied and the minor page faults of those steps.
FAULTS_PROBE = """
import json, resource, torch
from vlpet.train.runtime import local_runtime
from vlpet.train import allocator
local_runtime("fp32", "cpu")
torch.manual_seed(0)
sizes = [int(n) for n in torch.randint(2**15, 3 * 2**20, (12,))]
def step():
    activations = [torch.empty(n).fill_(1.0) for n in sizes]
    gradients = [torch.empty(n).fill_(1.0) for n in reversed(sizes)]
    del activations, gradients
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(json.dumps({"applied": allocator._applied,
                  "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _probe(env_changes: dict[str, str | None]) -> dict:
    env = dict(os.environ)
    for name in [n for n in env if n.startswith("MALLOC_") or n == "VLPET_MALLOC_TUNING"]:
        del env[name]
    env.update({k: v for k, v in env_changes.items() if v is not None})
    out = subprocess.run([sys.executable, "-c", FAULTS_PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_cpu_runtime_keeps_freed_memory_so_repeated_activations_do_not_fault_again():
    tuned = _probe({})
    defaults = _probe({"VLPET_MALLOC_TUNING": "0"})
    assert tuned["applied"] is True and defaults["applied"] is False
    # Each step touches about 40,000 pages: with glibc's defaults most are handed back and faulted in again.
    assert defaults["faults"] > 100_000
    assert tuned["faults"] < 20_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_user_malloc_setting_wins_over_the_tuning():
    assert _probe({"MALLOC_ARENA_MAX_": "2"})["applied"] is False


def test_adamw_is_fused_on_cpu_and_steps_like_the_per_tensor_loop():
    torch.manual_seed(0)
    fused_model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    loop_model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    loop_model.load_state_dict(fused_model.state_dict())
    fused = build_optimizer(fused_model, 1e-2, 0.01)
    assert all(group["fused"] for group in fused.param_groups)
    loop = torch.optim.AdamW([{"params": [p for n, p in loop_model.named_parameters() if "bias" not in n],
                               "weight_decay": 0.01},
                              {"params": [p for n, p in loop_model.named_parameters() if "bias" in n],
                               "weight_decay": 0.0}], lr=1e-2, eps=1e-6, foreach=False)
    inputs = torch.randn(32, 8)
    for _ in range(5):
        for model, optimizer in ((fused_model, fused), (loop_model, loop)):
            optimizer.zero_grad()
            model(inputs).pow(2).mean().backward()
            optimizer.step()
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(fused_model[0].weight, torch.nn.Linear(8, 16).weight)


def test_reading_studies_and_trial_configs_does_not_import_transformers():
    # The study driver and Ray Train's controller import these; transformers costs seconds per process.
    code = ("import sys, vlpet.study.trainable, vlpet.study.runner, vlpet.trial_config, vlpet.pet.settings; "
            "print(sorted(m for m in ('transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
