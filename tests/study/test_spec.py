"""Study files: every shipped one validates; every malformed one is named before Ray starts (exit 2)."""

import glob
import os
import re
import subprocess
import sys

import pytest
import yaml

from vlpet.errors import ConfigError
from vlpet.study.spec import load_study, parse_study

VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
STUDIES = sorted(glob.glob("search_spaces/*.yaml"))


BASE = """
name: base
trial: {backbone: quickstart:tiny-bart, method: vl-pet, task: quickstart, visual_feat_dim: 192, heads: 4,
        decoder_bottleneck: 32, batch_size: 64, max_steps: 800}
search_space:
  granularity: {choice: [small, middleX, middleY, large]}
  bottleneck: {choice: [16, 32, 64]}
  gate_bottleneck: {choice: [16, 32], when: {granularity: large}}
  lr: {loguniform: [1.0e-3, 1.0e-2]}
seeds: [42, 43]
search: {algorithm: nsga2, num_samples: 8, max_concurrent: 1}
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}
smoke: {num_samples: 2, trial: {max_steps: 4}}
"""


def base():
    return yaml.safe_load(BASE)


@pytest.mark.parametrize("path", STUDIES)
def test_shipped_studies_validate_with_and_without_smoke(path):
    spec = load_study(path)
    smoke = load_study(path, smoke=True)
    assert smoke.num_samples == 2 and smoke.overrides["max_steps"] <= spec.trial.get("max_steps", 10**9)


def test_quickstart_study_shape():
    spec = load_study("search_spaces/quickstart.yaml")
    assert spec.objectives == {"metric": "max", "trainable_pct": "min"} and spec.seeds == (42, 43, 44)
    assert spec.num_samples == 8 and spec.scheduler.type == "asha"        # 3 seeds per configuration (issue 14)
    assert list(spec.arms) == ["vl-pet", "adapter", "lora", "full"]
    assert spec.search_space["arm"].values == ("vl-pet", "adapter", "lora", "full")
    assert spec.search_space["granularity"].when == {"arm": "vl-pet"} and spec.search_space["lr"].log
    assert {p["arm"] for p in spec.points} == set(spec.arms) and len(spec.points) == 7


def test_arms_compose_under_sampled_values_and_the_smoke_budget(tmp_path):
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / "lora.yaml").write_text("method: lora\nlora_rank: 8\nlr: 1.0e-3\nseed: 7\n")
    data = base()
    data["arms"] = [{"name": "vl-pet", "trial": {"method": "vl-pet"}},
                    {"name": "lora", "file": "trials/lora.yaml", "trial": {"lora_rank": 4}}]
    for key in ("granularity", "bottleneck", "gate_bottleneck"):
        data["search_space"][key]["when"] = {"arm": "vl-pet"}
    data["search_space"]["gate_bottleneck"]["when"] = {"granularity": "large"}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = load_study(path, smoke=True)
    assert spec.arms["lora"] == {"method": "lora", "lora_rank": 4, "lr": 1.0e-3}     # file, then inline; no seed
    trial = spec.compose_trial({"arm": "lora", "lr": 5.0e-3}, seed=3)
    assert trial["method"] == "lora" and trial["lr"] == 5.0e-3 and trial["seed"] == 3 and trial["max_steps"] == 4
    assert spec.source["arms"][1] == {"name": "lora", "trial": spec.arms["lora"]}    # inlined for resume
    data["arms"][1]["file"] = "../escape.yaml"
    with pytest.raises(ConfigError, match="without '..'"):
        parse_study(data, str(path))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(colour=1), "unknown key(s) colour"),
        (lambda d: d.update(name="a b"), "name: expected a non-empty name"),
        (lambda d: d["search_space"].update(bottlenek={"choice": [8]}), "search_space.bottlenek: 'bottlenek' is not a trial config key"),
        (lambda d: d["search_space"].update(lr={"loguniform": [0, 1]}), "search_space.lr.loguniform: loguniform needs a positive low"),
        (lambda d: d["search_space"].update(lr={"uniform": [1, 0.1]}), "must be below high 0.1"),
        (lambda d: d["search_space"].update(lr={"between": [1, 2]}), "expected exactly one of choice, grid"),
        (lambda d: d["search_space"]["gate_bottleneck"].update(when={"granularity": "huge"}), "'huge' is not among granularity"),
        (lambda d: d["search_space"]["gate_bottleneck"].update(when={"heads": 4}), "conditions may only name other search keys"),
        (lambda d: d["search_space"].update(heads={"choice": [4, 5]}), "gives an impossible trial: bottleneck: 16 is not divisible by heads=5"),
        (lambda d: d["search_space"].update(granularity={"choice": ["large", "giant"]}), "granularity: 'giant' is not allowed"),
        (lambda d: d.update(objectives={"metric": "up"}), "objectives.metric: 'up' is not allowed; allowed: max, min"),
        (lambda d: d["search"].update(algorithm="bayes"), "search.algorithm: 'bayes' is not allowed; allowed: tpe, nsga2, grid"),
        (lambda d: d["search"].update(num_samples=0), "search.num_samples: expected a positive integer"),
        (lambda d: d["scheduler"].update(type="pbt"), "scheduler.type: 'pbt' is not allowed"),
        (lambda d: d["resources"].update(gpus=1), "resources: unknown key(s) ['gpus']"),
        (lambda d: d.update(seeds=[]), "seeds: expected a non-empty list of integers"),
        (lambda d: d["search_space"].update(seed={"choice": [1, 2]}), "seeds are their own axis"),
        (lambda d: d["trial"].update(bottlenck=8), "trial: unknown trial config key(s) bottlenck"),
        (lambda d: d["search"].update(algorithm="grid"), "grid search needs choice/grid domains only"),
    ],
)
def test_malformed_studies_name_the_key_and_the_allowed_values(mutate, message):
    data = base()
    mutate(data)
    with pytest.raises(ConfigError) as error:
        parse_study(data)
    assert message in str(error.value)


def test_validate_command_exit_codes(tmp_path):
    ok = subprocess.run([VLPET, "validate", "search_spaces/quickstart.yaml", "--smoke"], capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout and "quickstart-smoke" in ok.stdout
    bad = tmp_path / "bad.yaml"
    data = base()
    data["search"]["algorithm"] = "bayes"
    bad.write_text(yaml.safe_dump(data))
    proc = subprocess.run([VLPET, "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "search.algorithm: 'bayes'" in proc.stderr
    missing = subprocess.run([VLPET, "validate", str(tmp_path / "none.yaml")], capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_the_issue_s_study_files_are_shipped():
    for name in ("quickstart", "granularity_ablation", "placement_ablation", "bottleneck_lr", "paper_table2_bart",
                 "paper_table2_t5", "paper_table9_bart"):
        assert f"search_spaces/{name}.yaml" in STUDIES


@pytest.mark.parametrize("backbone, batch", [("bart", 500), ("t5", 300)])
def test_paper_table2_studies_carry_each_arm_s_paper_hyper_parameters(backbone, batch):
    spec = load_study(f"search_spaces/paper_table2_{backbone}.yaml")
    assert {"full", "lora", "adapter", "vl-pet-small", "vl-pet-middleX", "vl-pet-middleY", "vl-pet-large"} <= set(spec.arms)
    assert spec.seeds == (42, 43, 44) and spec.algorithm == "grid"
    large = spec.compose_trial({"arm": "vl-pet-large"}, seed=42)
    assert large["granularity"] == "large" and large["batch_size"] == batch and large["task"] == "vqa,gqa,nlvr,caption"
    assert large["data_dir"] == "datasets"


def test_bottleneck_lr_study_is_multi_objective_optuna_with_asha():
    spec = load_study("search_spaces/bottleneck_lr.yaml")
    assert spec.algorithm == "nsga2" and spec.scheduler.type == "asha" and len(spec.objectives) == 2


@pytest.mark.parametrize("storage", ["runs/x", "s3://bucket/studies/x", "gs://bucket/x", "~/vlpet-runs/x", "/data/studies/x"])
def test_storage_may_be_a_project_folder_a_cloud_uri_or_a_deliberate_absolute_path(storage):
    data = base()
    data["storage"] = storage
    assert parse_study(data).storage == storage


@pytest.mark.parametrize(
    "storage, message",
    [("../up", "climbs out of the working directory"), ("runs/../..", "climbs out"), ("/etc", "system directory /etc"),
     ("file:///usr/x", "system directory /usr"), ("/", "shared directory"), ("~", "shared directory"),
     (".", "shared directory"), ("ftp://h/x", "URI scheme 'ftp'"), ("s3://", "names no bucket"),
     ("runs/a\nb", "control characters"), (7, "expected a directory path")],
)
def test_storage_outside_the_policy_is_refused(storage, message):
    data = base()
    data["storage"] = storage
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_study(data)


def test_an_arm_file_may_not_escape_through_a_symlink(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("method: lora\n")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "link.yaml").symlink_to(outside)
    data = base()
    data["arms"] = [{"name": "a", "file": "link.yaml"}]
    with pytest.raises(ConfigError, match="outside"):
        parse_study(data, str(tmp_path / "study" / "study.yaml"))


def test_anchors_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(BASE.replace("trial: {", "trial: &trial {", 1) + "arms:\n  - {name: a, trial: {<<: *trial, lr: 1.0e-3}}\n")
    spec = load_study(path)
    assert spec.arms["a"]["lr"] == 1.0e-3 and spec.arms["a"]["heads"] == 4
