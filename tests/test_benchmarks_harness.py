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
