"""Text-denoising pretraining of a small backbone, so PET starts from a *pretrained* language model.

A known architecture learns a task's text (random tokens masked, the model reconstructs the sentence, as in
BART's text infilling with single-token spans) and is saved with ``save_pretrained``, so every trial loads it
through ``from_pretrained`` exactly like a user's ``facebook/bart-base``. ``pretrained_backbone`` builds such a
checkpoint once and then reuses it; a task that offers pretrained backbones says which text and tokenizer.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import torch

from vlpet.models.backbones import load_backbone


def mask_tokens(ids: list[int], mask_id: int, protected: set[int], rate: float, rng: random.Random) -> list[int]:
    """Replace each unprotected token by ``mask_id`` with probability ``rate`` (at least one token masked)."""
    candidates = [i for i, t in enumerate(ids) if t not in protected]
    chosen = {i for i in candidates if rng.random() < rate} or ({rng.choice(candidates)} if candidates else set())
    return [mask_id if i in chosen else t for i, t in enumerate(ids)]


def pretrain_denoiser(backbone: str, tokenizer, sentences: list[str], out_dir: str | Path, steps: int,
                      batch_size: int = 64, lr: float = 1e-3, mask_rate: float = 0.3, seed: int = 0) -> Path:
    """Pretrain ``backbone`` (a known name, random init) on ``sentences``; save model + tokenizer to ``out_dir``."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = load_backbone(backbone)
    mask_id = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.convert_tokens_to_ids("<extra_id_0>")
    protected = set(tokenizer.all_special_ids)
    encoded = [tokenizer(s)["input_ids"] for s in sentences]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * (1 - s / steps))
    model.train()
    for _ in range(steps):
        targets = [encoded[rng.randrange(len(encoded))] for _ in range(batch_size)]
        sources = [mask_tokens(t, mask_id, protected, mask_rate, rng) for t in targets]
        batch = tokenizer.pad({"input_ids": sources}, return_tensors="pt")
        labels = tokenizer.pad({"input_ids": targets}, return_tensors="pt")["input_ids"]
        labels[labels == tokenizer.pad_token_id] = -100
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    out = Path(out_dir)
    model.config.vlpet_pretraining = {"objective": "text-denoising", "steps": steps, "final_loss": float(loss.detach())}
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def pretrained_backbone(backbone: str, out: Path, tokenizer: Callable[[], object], sentences: Callable[[], list[str]],
                        steps: int) -> Path:
    """``out``: the known architecture ``backbone`` pretrained (``pretrain_denoiser``) on ``sentences()`` with
    ``tokenizer()``. Built once, under a file lock so that concurrent trials wait for one build; a directory
    holding a ``config.json`` is reused as it is."""
    from filelock import FileLock

    if (out / "config.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not (out / "config.json").exists():
            tmp = out.with_name(out.name + ".tmp")
            pretrain_denoiser(backbone, tokenizer(), sentences(), tmp, steps=steps)
            os.replace(tmp, out)
    return out
