"""The study's settings sections: typed, frozen, validated on construction, each key with help, defaults once."""

import dataclasses

import pytest

from vlpet.errors import ConfigError
from vlpet.study.sections import ResourcesSpec, SchedulerSpec, SearchSpec, SmokeSpec
from vlpet.study.spec import parse_study

SECTIONS = {"search": SearchSpec, "scheduler": SchedulerSpec, "resources": ResourcesSpec}
STUDY = {"name": "s", "trial": {"backbone": "quickstart:tiny-bart", "task": "quickstart"},
         "search_space": {"lr": {"loguniform": [1.0e-4, 1.0e-2]}}}


@pytest.mark.parametrize("section", [*SECTIONS.values(), SmokeSpec])
def test_every_key_has_help_and_the_section_is_frozen(section):
    assert all(f.metadata.get("help") for f in dataclasses.fields(section))
    with pytest.raises(dataclasses.FrozenInstanceError):
        section().__setattr__(dataclasses.fields(section)[0].name, None)


def test_an_absent_section_is_the_class_defaults():
    spec = parse_study(STUDY)
    assert spec.scheduler == SchedulerSpec() and spec.resources == ResourcesSpec() and spec.smoke == SmokeSpec()
    assert (spec.algorithm, spec.num_samples, spec.max_concurrent, spec.max_failures, spec.time_budget_s) == \
        (SearchSpec.algorithm, SearchSpec.num_samples, SearchSpec.max_concurrent, SearchSpec.max_failures, None)


def test_values_are_coerced_as_yaml_1_1_writes_them_and_counts_keep_their_type():
    resources = ResourcesSpec.from_mapping({"workers": 2, "cpus_per_worker": "0.5"})
    assert resources.to_dict() == {"workers": 2, "cpus_per_worker": 0.5, "gpus_per_worker": 0}
    assert SearchSpec(time_budget_s="60").time_budget_s == 60.0 and SchedulerSpec(reduction_factor=3).reduction_factor == 3


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SchedulerSpec(type="pbt"), "scheduler.type: 'pbt' is not allowed; allowed: asha, none"),
        (lambda: SchedulerSpec(grace_period=5, max_t=4), "max_t >= grace_period, got 2, 5, 4"),
        (lambda: SchedulerSpec.from_mapping({"metric": None}), "scheduler.metric: expected the name of a reported metric"),
        (lambda: SchedulerSpec.from_mapping({"mode": None}), "scheduler.mode: None is not allowed; allowed: max, min"),
        (lambda: ResourcesSpec(workers=0), "resources.workers: expected a positive integer of at most 1024, got 0"),
        (lambda: ResourcesSpec(gpus_per_worker=-1), "resources.gpus_per_worker: must be from 0 to 1024, got -1"),
        (lambda: ResourcesSpec.from_mapping({"gpus": 1}), "resources: unknown key(s) ['gpus']; allowed: workers, "
                                                          "cpus_per_worker, gpus_per_worker"),
        (lambda: SearchSpec(max_failures=-1), "search.max_failures: expected a non-negative integer of at most 100"),
        (lambda: SearchSpec(time_budget_s=0), "search.time_budget_s: expected a positive number of seconds, got 0"),
        (lambda: SmokeSpec(num_samples="two"), "smoke.num_samples: expected a positive integer"),
        (lambda: SmokeSpec.from_mapping({"trial": {"max_step": 4}}, {"max_steps"}), "smoke: allowed keys: trial"),
    ],
)
def test_a_section_is_validated_on_construction(build, message):
    with pytest.raises(ConfigError) as error:
        build()
    assert message in str(error.value)


def test_the_smoke_variant_reads_the_smoke_section():
    spec = parse_study({**STUDY, "seeds": [1, 2], "smoke": {"num_samples": 3, "trial": {"max_steps": 2}}})
    smoke = spec.with_smoke()
    assert smoke.num_samples == 3 and smoke.seeds == (1,) and smoke.overrides == {"max_steps": 2} and smoke.is_smoke


def test_the_scheduler_s_metric_overrides_the_primary_objective():
    assert parse_study(STUDY).primary_metric == ("metric", "max")
    spec = parse_study({**STUDY, "scheduler": {"metric": "trainable_pct", "mode": "min"}})
    assert spec.primary_metric == ("trainable_pct", "min")
    assert parse_study({**STUDY, "scheduler": {"metric": "samples_per_s"}}).primary_metric == ("samples_per_s", "max")
