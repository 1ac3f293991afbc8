"""The benchmark harness (benchmarks/, outside the test run) still runs: one cheap benchmark at tiny size gives a
report of the documented shape with positive finite ratios."""

import json
import math

from benchmarks.run import parse_args, run_benchmarks
from vlpet.study.store import json_safe
from benchmarks.common import Settings


def test_module_overhead_at_tiny_size_reports_finite_ratios_and_marked_targets():
    report = json_safe(run_benchmarks(["module_overhead"], Settings("tiny")))
    json.dumps(report, allow_nan=False)
    assert {"machine", "settings", "benchmarks", "targets", "summary", "wall_s"} <= set(report)
    assert report["machine"]["cores"] >= 1 and report["machine"]["torch"]
    result = report["benchmarks"]["module_overhead"]
    model, micro = result["figures"]["model"], result["figures"]["fused_vs_per_head"]
    ratios = [model["vl-pet-large / frozen backbone"], model["per-head loop / frozen backbone"]]
    ratios += [micro[shape][kind]["speedup"] for shape in micro for kind in ("forward", "forward+backward")]
    assert all(isinstance(r, float) and math.isfinite(r) and r > 0 for r in ratios), ratios
    assert [t["benchmark"] for t in report["targets"]] == ["module_overhead"] * 2
    for entry in report["targets"]:
        assert entry["met"] in (True, False) and entry["op"] in ("<=", ">=") and entry["figure"] > 0


def test_cli_rejects_unknown_benchmark_names(capsys):
    import pytest

    with pytest.raises(SystemExit):
        parse_args(["--only", "pet_vs_full,nonsense"])
    assert "nonsense" in capsys.readouterr().err
    assert parse_args(["--only", "scaling"]).names == ["scaling"]


def test_the_ddp_reference_runs_every_trial_on_two_ranks(tmp_path):
    # The reference of a two-worker study: the same trials back to back in one gloo group, without Ray.
    from benchmarks.common import in_child
    from benchmarks.orchestration import CONFIG, TRIAL, write_data

    sizes = CONFIG["tiny"]
    trial = {**TRIAL, "max_steps": sizes["max_steps"], "data_dir": write_data(str(tmp_path), sizes["images"])}
    trials = [{**trial, "seed": seed} for seed in (1, 2)]
    outcome = in_child("benchmarks.orchestration:back_to_back_ddp", timeout=300, trials=trials,
                       work_dir=str(tmp_path / "ddp"), workers=2)
    assert outcome["workers"] == 2 and outcome["wall_s"] > 0
    assert len(outcome["startup_s"]) == 2 and all(s >= 0 for s in outcome["startup_s"])
    # rank 0 evaluated and checkpointed each trial in its own directory
    for index in range(2):
        assert list((tmp_path / "ddp" / f"trial-{index}-rank-0" / "checkpoints").glob("step_*"))


def test_search_replay_on_a_two_configuration_slice_replays_every_strategy_and_marks_its_targets():
    # The recorded grid table, cut to two configurations; real searchers and schedulers on the simulated clock.
    report = json_safe(run_benchmarks(["search_replay"], Settings("tiny")))
    json.dumps(report, allow_nan=False)
    figures = report["benchmarks"]["search_replay"]["figures"]
    assert figures["table"]["configurations"] == 2 and figures["table"]["grid_hypervolume"] > 0
    grid = figures["strategies"]["grid"]
    assert grid["reached"] == grid["repetitions"] == 2 and grid["runs"][0]["final_hv_fraction"] == 1.0
    assert 0 < grid["median_s"] <= figures["table"]["grid_compute_s"] * (1 + 1e-9)
    vlpet = figures["strategies"]["vlpet_nsga2"]["runs"]
    assert all(run["trials"] >= 2 and run["spent_s"] > 0 for run in vlpet)
    assert [t["benchmark"] for t in report["targets"]] == ["search_replay"] * 4
    assert all(entry["met"] in (True, False) for entry in report["targets"])
