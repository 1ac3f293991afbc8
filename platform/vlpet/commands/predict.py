"""`vlpet predict ADAPTER_DIR|TRIAL_OUT --task T --split S [--data-dir D] --out FILE`."""

from __future__ import annotations

import json

HELP = "run an exported adapter (or a trial's kept weights) on a split; write the task's official prediction file"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help=HELP,
        description=HELP + ". Formats: vqa/quickstart [{question_id, answer}], gqa [{questionId, prediction}], "
                           "caption [{image_id, caption}], nlvr CSV identifier,True|False, video QA [{qid, answer}], "
                           "video captions [{clip_id, descs}]. Where the split has labels its metrics are printed "
                           "(the training loop's evaluation).")
    parser.add_argument("source", metavar="ADAPTER_DIR|TRIAL_OUT", help="an export directory, a trial artifact "
                        "(STUDY_DIR/artifacts/<trial_id>, a path or URI) or a `vlpet train --out` directory")
    parser.add_argument("--task", required=True)
    parser.add_argument("--split", required=True, help="train, val, test (the paper's split for that role) or a "
                        "file split name")
    parser.add_argument("--data-dir", default=None, help="dataset root (default: the trial's)")
    parser.add_argument("--out", required=True, metavar="FILE")
    parser.add_argument("--limit", type=int, default=None, help="only the first N examples (as a trial's eval_size)")
    parser.add_argument("--backbone", default=None, help="load onto this base model instead of the trained one")
    parser.add_argument("--merged", action="store_true", help="use the export's merged/ checkpoint")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the trial's runtime)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(run=run)


def run(args) -> int:
    import os

    from vlpet.artifacts.load import TOKENIZER_DIR, load_adapter
    from vlpet.artifacts.predict import official, predict_split, write_whole
    from vlpet.data.registry import get_task
    from vlpet.errors import ConfigError

    get_task(args.task)
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be a positive count, got {args.limit}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise ConfigError(f"--out {args.out}: its directory does not exist")
    model = load_adapter(args.source, backbone=args.backbone, merged=args.merged)
    predictions, metrics, data = predict_split(model, args.task, args.split, args.data_dir, args.limit,
                                               os.path.join(args.source, TOKENIZER_DIR), args.device,
                                               progress=not args.json)
    text, _ = official(args.task, predictions, data.dataset.examples)
    write_whole(args.out, text)
    if args.json:
        print(json.dumps({"predictions": args.out, "n": len(predictions), "metrics": metrics}))
        return 0
    print(f"wrote {len(predictions)} predictions to {args.out}")
    if metrics is None:
        print(f"{args.task} {args.split}: no labels here: submit {args.out} to the benchmark's server")
    else:
        print(", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return 0
