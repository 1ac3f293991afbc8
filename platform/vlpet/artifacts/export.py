"""``vlpet adapter export``: a trial's kept weights → an adapter directory that ships (see docs/artifacts.md).

The directory is filled under a temporary name next to ``out`` and renamed into place only after every written
layout was loaded back and gave the trained model's logits: a refused or failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from vlpet.artifacts.card import render
from vlpet.artifacts.layouts import describe, uses_peft, write_merged, write_native, write_peft
from vlpet.artifacts.load import EXTRA_FILE, FORMAT, MERGED_DIR, TOKENIZER_DIR, native_model
from vlpet.artifacts.source import read_config, stage
from vlpet.errors import ConfigError
from vlpet.train.checkpoint import CONFIG_FILE

ADAPTER_FILES = ("pet.safetensors", "adapter_model.safetensors", EXTRA_FILE)


def check_out(out: str) -> str:
    """``out`` as an absolute path that does not exist yet (an export never overwrites)."""
    out = os.path.abspath(out)
    if os.path.lexists(out):
        raise ConfigError(f"--out {out} already exists: give a new directory (an export never overwrites)")
    if not os.path.isdir(os.path.dirname(out)):
        raise ConfigError(f"--out {out}: its parent directory does not exist")
    return out


def export_adapter(source: str, out: str, merge: bool = False, evidence: dict[str, Any] | None = None,
                   command: str = "") -> dict[str, Any]:
    """Export the weights kept at ``source`` (a trial artifact or a ``vlpet train --out`` directory) to ``out``;
    returns the description written as ``vlpet_adapter.json`` (with ``files``: name → bytes)."""
    out = check_out(out)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", suffix=".tmp", dir=os.path.dirname(out))
    try:
        with tempfile.TemporaryDirectory(prefix="vlpet-staged-") as staged:
            manifest = stage(source, staged)
            config = read_config(staged)
            model = native_model(config, os.path.join(staged, "pet.safetensors"))
        described = _write(model, config, work, merge, manifest, evidence)
        files = _sizes(work)
        described["files"] = files
        with open(os.path.join(work, "README.md"), "w", encoding="utf-8") as handle:
            handle.write(render(described, files, command or f"vlpet adapter export ... --out {out}"))
        describe(work, described)
        described["files"] = _sizes(work)
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return described


def _write(model, config, work: str, merge: bool, manifest: dict, evidence: dict | None) -> dict[str, Any]:
    """Every file of the export except the card; returns the description."""
    layout = "peft" if uses_peft(model) else "native"
    extra: list[str] = []
    if layout == "peft":
        difference, extra = write_peft(model, config, work)
    else:
        difference = write_native(model, config, work, {"trial_id": str(manifest.get("trial_id"))})
    _copy_config(config, work)
    tokenizer = _save_tokenizer(config, os.path.join(work, TOKENIZER_DIR))
    described = {"format": FORMAT, "layout": layout, "method": config.method, "backbone": config.backbone,
                 "trial_config": config.to_dict(), "trial_config_json": json.dumps(config.to_dict(), indent=1,
                                                                                    sort_keys=True),
                 "source": {k: v for k, v in manifest.items() if k != "files"}, "round_trip_max_diff": difference,
                 "extra_tensors": extra, "tokenizer": tokenizer, "evidence": evidence,
                 "metrics": manifest.get("metrics"), "merged": None}
    if merge:
        merged = os.path.join(work, MERGED_DIR)
        merged_difference = write_merged(model, config, merged, work if layout == "peft" else None)
        _copy_config(config, merged)
        describe(merged, {"format": FORMAT, "layout": "merged", "method": config.method,
                          "max_diff_vs_unmerged": merged_difference})
        described["merged"] = {"max_diff_vs_unmerged": merged_difference}
    described["adapter_bytes"] = sum(os.path.getsize(os.path.join(work, name)) for name in ADAPTER_FILES
                                     if os.path.isfile(os.path.join(work, name)))
    return described


def _copy_config(config, directory: str) -> None:
    with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as handle:
        handle.write(json.dumps(config.to_dict(), indent=1, sort_keys=True))


def _save_tokenizer(config, directory: str) -> str | None:
    """The trial's tokenizer (VL tokens included) as ``tokenizer/``; None where the task brings none to save."""
    from vlpet.train.data_pipeline import load_tokenizer

    tokenizer = load_tokenizer(config)
    if not hasattr(tokenizer, "save_pretrained"):
        return None
    tokenizer.save_pretrained(directory)
    return TOKENIZER_DIR


def _sizes(directory: str) -> dict[str, int]:
    """Every file under ``directory`` (relative name → bytes)."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            found[os.path.relpath(path, directory)] = os.path.getsize(path)
    return found
