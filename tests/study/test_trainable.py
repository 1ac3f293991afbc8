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
