"""A NaN loss on one DDP rank stops every rank at the same step (before, the other ranks waited forever in the
gradient all-reduce). Two real processes in a gloo group, data poisoned in one image only."""

from __future__ import annotations

import multiprocessing
import queue

from tests.train.ddp import free_port
from tests.train.fixtures import write_mini_quickstart

TRIAL = {"backbone": "tiny-bart", "task": "quickstart", "visual_feat_dim": 192, "bottleneck": 8, "gate_bottleneck": 8,
         "decoder_bottleneck": 8, "batch_size": 2, "epochs": 1, "num_beams": 1, "max_new_tokens": 3, "lr": 3e-3,
         "seed": 3, "eval_size": 8}


def _rank(rank: int, port: int, keys: dict, out_dir: str, results) -> None:
    from tests.train.ddp import join_gloo_group, main_rank_report
    from vlpet.errors import TrainingDiverged
    from vlpet.train.loop import run_trial
    from vlpet.trial_config import TrialConfig

    runtime = join_gloo_group(rank, 2, port)
    try:
        run_trial(TrialConfig.from_dict(keys), f"{out_dir}/rank-{rank}", runtime=runtime,
                  report=main_rank_report(runtime))
        results.put((rank, "finished"))
    except TrainingDiverged as error:
        results.put((rank, str(error)))


def _first_steps(data_dir) -> dict[str, dict[int, int]]:
    """For each training image: the first step at which each rank's batch holds it (the plan of a 2-rank run)."""
    from vlpet.train.data_pipeline import TrialData
    from vlpet.trial_config import TrialConfig

    data = TrialData(TrialConfig.from_dict({**TRIAL, "data_dir": str(data_dir)}))
    first: dict[str, dict[int, int]] = {}
    for rank in (0, 1):
        for step, batch in enumerate(data.train_batches(0, rank, 2)):
            for example in batch["examples"]:
                first.setdefault(example.image_ids[0], {}).setdefault(rank, step)
    return first


def test_a_nan_loss_on_one_rank_stops_both_ranks_at_the_same_step(tmp_path):
    clean = write_mini_quickstart(tmp_path / "clean", n_images=16)
    # an image that rank 1 (not the rank that records the trial) meets before rank 0 does
    plan = _first_steps(clean)
    image, steps = min(((image, steps) for image, steps in plan.items() if 1 in steps and steps[1] < steps.get(0, 99)),
                       key=lambda item: item[1][1])
    data = write_mini_quickstart(tmp_path / "data", n_images=16, nan_images=(int(image.rsplit("_", 1)[1]),))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [context.Process(target=_rank, args=(rank, port, {**TRIAL, "data_dir": str(data)}, str(tmp_path),
                                                     results), daemon=True) for rank in (0, 1)]
    for process in processes:
        process.start()
    outcomes = {}
    try:
        for _ in processes:
            rank, outcome = results.get(timeout=240)
            outcomes[rank] = outcome
    except queue.Empty:
        raise AssertionError(f"a rank hung after the NaN; outcomes so far: {outcomes}") from None
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    # Both ranks stop at that step with the same message, which names rank 1 only.
    assert outcomes[0] == outcomes[1], outcomes
    assert outcomes[0].startswith(f"loss became non-finite (NaN or inf) at step {steps[1] + 1} on rank 1 of 2 "), \
        outcomes[0]
