"""How a Tune trial's config is composed on the worker."""

from vlpet.study.spec import parse_study
from vlpet.study.trainable import trial_config_for


def test_a_relative_data_dir_is_taken_from_the_driver_s_working_directory(tmp_path, monkeypatch):
    # Tune runs each trial in its own trial directory, so `data_dir: datasets` must not be read from there.
    (tmp_path / "datasets").mkdir()
    monkeypatch.chdir(tmp_path)
    spec = parse_study({"name": "rel", "trial": {"backbone": "tiny-bart", "task": "vqa", "data_dir": "datasets"},
                        "search_space": {"lr": {"choice": [1.0e-3]}}, "search": {"algorithm": "grid"}})
    config = trial_config_for(spec, {"lr": 1.0e-3}, seed=1, base_dir=str(tmp_path))
    assert config.data_dir == str(tmp_path / "datasets") and config.seed == 1
    absolute = trial_config_for(spec, {"lr": 1.0e-3}, seed=1, base_dir="/elsewhere")
    assert absolute.data_dir == "/elsewhere/datasets"


def test_a_trial_carries_its_configuration_label_and_outside_ray_no_tag_or_gauge(tmp_path):
    # the label names the trial in the Ray dashboard (its tag actor) and tags its Ray metrics
    from vlpet.study.trainable import begin_trial
    from vlpet.study.trial_metrics import TrialMetrics, ascii_tag
    from vlpet.study.trial_tag import trial_tag

    spec = parse_study({"name": "lab", "trial": {"backbone": "tiny-bart", "task": "quickstart", "method": "lora"},
                        "search_space": {"lr": {"choice": [3.0e-3]}, "lora_rank": {"choice": [8]}},
                        "search": {"algorithm": "grid"}})
    payload = begin_trial(spec, str(tmp_path / "lab"), "3f2a_00004", {"lr": 3.0e-3, "lora_rank": 8, "seed": 43},
                          str(tmp_path))
    assert payload.label == "lora lr=3.0e-3 r=8 · seed 43"
    assert ascii_tag(payload.label) == "lora lr=3.0e-3 r=8 | seed 43"
    with trial_tag(payload.trial_id, payload.label) as name:       # `vlpet train` and unit tests run without Ray
        assert name is None
    metrics = TrialMetrics(payload.trial_id, payload.study, payload.label)
    assert not metrics.enabled
    metrics.evaluated({"metric": 0.5, "step": 3}, total_steps=6)     # a no-op, not an error
