"""Fuzzing the study schema (issue 8): random mutations of a valid study (values of any type, deleted and added
keys, wrapped values) and random YAML text never raise anything but ConfigError, and whatever passes is a
usable StudySpec."""

from __future__ import annotations

import copy
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlpet.errors import ConfigError
from vlpet.safe_yaml import load_yaml
from vlpet.study.spec import StudySpec, parse_study

VALID = yaml.safe_load("""
name: fuzz
description: a valid study that every example mutates
trial: {backbone: quickstart:tiny-bart, task: quickstart, visual_feat_dim: 192, visual_grid: none, heads: 4,
        decoder_bottleneck: 32, batch_size: 8, max_steps: 4}
arms:
  - {name: vl-pet, trial: {method: vl-pet}}
  - {name: lora, trial: {method: lora, lora_rank: 8}}
search_space:
  granularity: {choice: [small, large], when: {arm: vl-pet}}
  bottleneck: {int: [8, 64], step: 8, when: {arm: vl-pet}}
  lr: {loguniform: [1.0e-4, 1.0e-2]}
  placement: {choice: [[encoder.attn], [encoder.attn, encoder.ffn]], when: {arm: vl-pet}}
seeds: [1, 2]
objectives: {metric: max, trainable_pct: min}
search:
  algorithm: nsga2
  num_samples: 4
  max_concurrent: 2
  max_failures: 1
  time_budget_s: 600
  points:
    - {arm: vl-pet, granularity: large, bottleneck: 32, lr: 1.0e-3, placement: [encoder.attn]}
    - {arm: lora, lr: 1.0e-3}
scheduler: {type: asha, grace_period: 1, reduction_factor: 2, max_t: 100, metric: metric, mode: max}
resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}
storage: runs/fuzz
smoke: {num_samples: 2, trial: {max_steps: 2, eval_size: 16}}
""")

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, -1, 2**32, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "none", "grid", "tpe", "small", "large", "lora", "../../etc", "/", "/etc", "s3://b/x",
                     "ftp://x", "1e-3", "nan", "inf", "arm", "when", "choice", "encoder.attn", "~", "a\x00b"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.one_of(st.text(max_size=8), st.integers()),
                                                                     inner, max_size=4)),
                      max_leaves=8)


def paths(node, prefix=()):
    """Every key path into a nested mapping/list, the root included."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from paths(child, prefix + (key,))


@st.composite
def mutated_studies(draw):
    study = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(paths(study))))
        parent = study
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add", "wrap"]))
        if not path or action == "add":
            target = parent[path[-1]] if path else study
            if isinstance(target, dict):
                target[draw(st.one_of(st.text(max_size=8), st.integers(), st.sampled_from(list(VALID))))] = draw(VALUES)
            continue
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = draw(VALUES)
    return study


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_studies())
def test_a_mutated_study_is_either_valid_or_a_config_error(study):
    try:
        spec = parse_study(study, "fuzz.yaml")
    except ConfigError as error:
        assert str(error)                                  # the CLI prints it on one line
        return
    assert isinstance(spec, StudySpec) and 1 <= spec.num_samples <= 100_000 and spec.seeds
    smoke = spec.with_smoke()
    assert smoke.is_smoke and all(isinstance(s, int) for s in smoke.seeds)
    assert all(math.isfinite(d.low) and math.isfinite(d.high) for d in spec.search_space.values() if not d.values)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=200) | st.text(alphabet="[]{}&*!|>:- ,\n\tab1", max_size=200))
def test_random_yaml_text_is_either_data_or_a_config_error(text):
    try:
        data = load_yaml(text, "study file fuzz.yaml")
    except ConfigError:
        return
    try:
        parse_study(data, "fuzz.yaml")
    except ConfigError:
        pass
