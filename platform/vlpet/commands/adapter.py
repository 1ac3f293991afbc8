"""`vlpet adapter export STUDY_DIR --best | --trial ID | --config LABEL | --frontier K [--seed S] --out DIR
[--merge]`."""

from __future__ import annotations

import os
import shlex
import sys

from vlpet.errors import ConfigError

HELP = "export a study's trained adapter (PEFT layout where PEFT has the method), with a model card"


def register(subparsers) -> None:
    parser = subparsers.add_parser("adapter", help=HELP, description=HELP + ". See docs/artifacts.md.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="write a trial's kept weights as an adapter directory",
        description="Write the weights a trial is judged by (STUDY_DIR/artifacts/<trial_id>) as an adapter "
                    "directory: PEFT's adapter_config.json + adapter_model.safetensors for LoRA, DoRA and every "
                    "PEFT-backed method, vlpet's self-describing pet.safetensors otherwise (vlpet.load_adapter "
                    "rebuilds both), the tokenizer, the trial config and a model card README.md. Each layout is "
                    "loaded back and must give the trained model's logits before the directory appears.")
    export.add_argument("study_dir", metavar="STUDY_DIR")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--best", action="store_true", help="the configuration with the best mean validation metric")
    which.add_argument("--trial", metavar="ID", help="this trial")
    which.add_argument("--config", metavar="LABEL", help="this configuration (label as `vlpet compare` shows it, "
                       "or config_key)")
    which.add_argument("--frontier", metavar="K", type=int, help="the first K configurations of the validation "
                       "Pareto front, each into OUT/<config_key>")
    export.add_argument("--seed", type=int, help="export this seed of the chosen configuration (default: its seed "
                        "with the best validation metric)")
    export.add_argument("--out", required=True, metavar="DIR", help="a new directory (never overwritten)")
    export.add_argument("--merge", action="store_true", help="also write merged/: the backbone with the adapter "
                        "merged in (LoRA, DoRA, IA3, BitFit), checked against the unmerged model")
    export.set_defaults(run=run)


def run(args) -> int:
    from vlpet.analysis.results import load_results, read_objectives
    from vlpet.artifacts.card import evidence
    from vlpet.artifacts.export import check_out, export_adapter
    from vlpet.artifacts.select import choose

    frame = load_results(args.study_dir)
    rows = choose(frame, read_objectives(args.study_dir), best=args.best, trial=args.trial, config=args.config,
                  frontier=args.frontier, seed=args.seed)
    out = check_out(args.out)
    targets = [out] if args.frontier is None else [os.path.join(out, str(r["config_key"])) for r in rows]
    if args.frontier is not None:
        os.makedirs(out)
    command = "vlpet " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["adapter"] else ""
    for row, target in zip(rows, targets):
        location = _located(args.study_dir, row)
        if location is None:
            raise ConfigError(f"trial {row['trial_id']} kept no checkpoint (no artifact: it did not finish, or it "
                              "ran before vlpet kept artifacts)")
        described = export_adapter(location, target, merge=args.merge, evidence=evidence(frame, row, args.study_dir),
                                   command=command)
        size = sum(described["files"].values())
        print(f"wrote {target} ({described['layout']} layout, trial {row['trial_id']}, {size:,} bytes)")
    return 0


def _located(study_dir: str, row) -> str | None:
    """The trial's artifact under this study directory (a moved or copied study keeps its artifacts with it),
    else where the trial recorded it; None where it kept none."""
    from vlpet.study.store import ARTIFACT_MANIFEST, StudyStore, artifact_location

    store = StudyStore(study_dir)
    here = artifact_location(study_dir, str(row["trial_id"]))
    import pyarrow.fs as pafs

    manifest = store._path("artifacts", str(row["trial_id"]), ARTIFACT_MANIFEST)
    if store.fs.get_file_info(manifest).type == pafs.FileType.File:
        return here
    recorded = row.get("artifact")
    return recorded if isinstance(recorded, str) and recorded else None
