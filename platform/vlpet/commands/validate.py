"""`vlpet validate STUDY.yaml`: check a study file alone, before any Ray start."""

from __future__ import annotations

from vlpet.study.budgets import report_lines
from vlpet.study.spec import check_local_data, load_study

HELP = ("check a study file: every key, domain, condition and the trials it can produce; with budgets, the size "
        "solved for each arm at each target and the arm x target dropped")


def register(subparsers) -> None:
    parser = subparsers.add_parser("validate", help=HELP, description=HELP)
    parser.add_argument("study", help="study YAML file")
    parser.add_argument("--smoke", action="store_true", help="validate the smoke variant")
    parser.add_argument("--cluster", action="store_true",
                        help="the study will run on a cluster (vlpet submit, vlpet run --address): do not require its "
                        "data directories to exist on this machine")
    parser.set_defaults(run=run)


def run(args) -> int:
    spec = load_study(args.study, smoke=args.smoke)
    if not args.cluster:
        check_local_data(spec)
    dims = ", ".join(f"{d.key}:{d.kind}" + (f" when {d.when}" if d.when else "") for d in spec.search_space.values())
    from vlpet.study.space import grid_points

    samples = f"{len(grid_points(spec))} grid points" if spec.algorithm == "grid" else f"{spec.num_samples} samples"
    if spec.per_arm and not spec.is_smoke:
        samples = f"{spec.num_samples} samples ({spec.per_arm} per arm)"
    if spec.algorithm == "grid" and spec.is_smoke:
        samples = f"{min(spec.num_samples, len(grid_points(spec)))} grid points"
    print(f"{args.study}: OK — study {spec.name!r}, {samples} x {len(spec.seeds)} seed(s), "
          f"{spec.algorithm} search, objectives {spec.objectives}, space [{dims}], storage {spec.storage}")
    if spec.budgets:
        tolerance = 100 * spec.budgets.tolerance
        print(f"budgets: {len(spec.sized_arms)} arm(s) sized to their targets (tolerance ±{tolerance:g}%), "
              f"{len(spec.budget_notes)} arm x target dropped:")
        print("\n".join(report_lines(spec.sized_arms, spec.budget_notes)))
    return 0
