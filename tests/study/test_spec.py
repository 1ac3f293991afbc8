"""Study files: every shipped one validates; every malformed one is named before Ray starts (exit 2)."""

import glob
import os
import subprocess
import sys

import pytest
import yaml

from vlpet.errors import ConfigError
from vlpet.study.spec import load_study, parse_study

VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
STUDIES = sorted(glob.glob("search_spaces/*.yaml"))


def base():
    return yaml.safe_load(open("search_spaces/quickstart.yaml"))


@pytest.mark.parametrize("path", STUDIES)
def test_shipped_studies_validate_with_and_without_smoke(path):
    spec = load_study(path)
    smoke = load_study(path, smoke=True)
    assert smoke.num_samples == 2 and smoke.trial["max_steps"] <= spec.trial.get("max_steps", 10**9)


def test_quickstart_study_shape():
    spec = load_study("search_spaces/quickstart.yaml")
    assert spec.objectives == {"metric": "max", "trainable_pct": "min"} and spec.seeds == (42, 43)
    assert spec.search_space["gate_bottleneck"].when == {"granularity": "large"}
    assert spec.search_space["lr"].log


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
