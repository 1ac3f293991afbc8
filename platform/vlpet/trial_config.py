"""TrialConfig: the one typed object describing a trial, loadable from YAML/JSON and validated on construction.

Fields left as ``None`` (or ``auto``) take the paper's value for the backbone's family (vlpet_spec §4): BART
r = r_g = 96, s = 1, lr 1e-3, N(0, 0.02) init; T5 r = r_g = 192, s = 0.3, lr 3e-4, zero-initialised up
projections. Each PET method then overrides what its paper runs used (vlpet_spec §5: its lr, placement, which
norms train, its own sizes); those defaults live with the method's registration (``vlpet.pet.registry``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from vlpet.errors import ConfigError, show
from vlpet.pet.sites import PLACEMENTS
from vlpet.pet.settings import PETSettings
from vlpet.safe_yaml import bounded_load, read_yaml_file

FAMILY_DEFAULTS = {
    "bart": {"bottleneck": 96, "gate_scale": 1.0, "init": "normal", "lr": 1e-3},
    "t5": {"bottleneck": 192, "gate_scale": 0.3, "init": "zero_up", "lr": 3e-4},
}
TRAIN_NORMS = ("auto", "encoder", "all", "none")
INITS = ("auto", "normal", "zero_up")
PRECISIONS = ("auto", "fp32", "bf16")
# Upper bounds: far above the paper's values, low enough that a typo cannot allocate a model the size of a cluster.
MAX_SIZE = 65_536        # module widths, heads, ranks, prompt lengths, beams, tokens
MAX_COUNT = 10**9        # examples, batches, steps, epochs
SIZE_KEYS = ("bottleneck", "heads", "gate_bottleneck", "decoder_bottleneck", "visual_feat_dim", "num_beams",
             "visual_grid", "max_new_tokens", "lora_rank", "prompt_length", "prompt_hidden", "phm_dim")
COUNT_KEYS = ("batch_size", "epochs", "train_size", "eval_size", "eval_batch_size", "max_steps", "eval_every_steps",
              "checkpoint_every_steps")


def known_tasks() -> list[str]:
    """Task names the data layer can load (the quickstart task and the VL-Adapter formats)."""
    from vlpet.data.registry import TASKS
    from vlpet.train.data_pipeline import QUICKSTART_TASKS

    return sorted([*TASKS, *QUICKSTART_TASKS])


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class TrialConfig:
    """One trial: backbone, PET method and its sizes, placement, optimisation, seed."""

    backbone: str = _help("bart-base | t5-base | tiny-bart | tiny-t5, a local HF checkpoint dir or a hub name",
                          default="bart-base")
    method: str = _help("PET method: vl-pet | full | bitfit | prompt | lora | adapter | compacter "
                        "(`vlpet params --list-methods` lists each one's keys)", default="vl-pet")
    granularity: str | None = _help("gate G: small | middleX | middleY | large | none | auto (large for vl-pet, none "
                                    "otherwise); with adapter or compacter it adds G and the lightweight designs "
                                    "(paper Table 9)", default="auto")
    bottleneck: int | None = _help("r, the down-projection size of ΔH, of each adapter or compacter (default: 96 BART, "
                                   "192 T5)", default=None)
    heads: int = _help("N_h, heads of the multi-head modification (r must divide by it)", default=4)
    gate_bottleneck: int | None = _help("r_g of the large gate (default: r)", default=None)
    decoder_bottleneck: int = _help("r_v of the decoder's cross-attention value adapter", default=96)
    gate_scale: float | None = _help("s, scale applied after the gate (default: 1 BART, 0.3 T5)", default=None)
    placement: list[str] | None = _help("sites for PET modules: " + ", ".join(PLACEMENTS) + " (default per method: "
                                        "vl-pet and adapter/compacter with G: encoder.attn, encoder.ffn, "
                                        "decoder.cross_attn.value; adapter/compacter: the five sequential sites; "
                                        "lora: the three attentions)", default=None)
    train_norms: str = _help("which norms train: encoder | all | none | auto (vl-pet and any method with G: encoder; "
                             "adapter/compacter: all on BART, none on T5 as in the paper's runs; others none)",
                             default="auto")
    init: str = _help("auto (BART normal, T5 zero_up) | normal | zero_up", default="auto")
    visual_feat_dim: int = _help("dimension of the visual features (2048 CLIP RN101 grid, 512 video)", default=2048)
    visual_grid: int | None = _help("max-pool the square feature grid to this side (6 → 36 tokens); none keeps it",
                                    default=6)
    dropout: float = _help("dropout everywhere, attention and activation included", default=0.1)
    lora_rank: int | None = _help("lora: rank of A and B (default: 128 BART, 150 T5)", default=None)
    lora_alpha: float = _help("lora: α; the update is scaled by α / rank", default=32.0)
    lora_dropout: float = _help("lora: dropout on the LoRA branch's input", default=0.1)
    prompt_length: int = _help("prompt: number of prompt vectors prepended to the encoder's text", default=40)
    prompt_hidden: int = _help("prompt: hidden size of the prompt reparameterisation MLP (mid_dim)", default=800)
    phm_dim: int = _help("compacter: n, the number of Kronecker summands of each PHM layer (d and r divisible by n)",
                         default=2)
    lr: float | None = _help("peak learning rate (default per method and family: vl-pet, adapter, lora 1e-3 BART "
                             "/ 3e-4 T5; full 1e-4; bitfit and prompt 1e-3 BART / 3e-3 T5)", default=None)
    seed: int = _help("random seed", default=42)
    # ---- data and training budget -------------------------------------------------------------------------
    task: str = _help("task name, or several joined by commas for multitask (quickstart, vqa, gqa, nlvr, caption, "
                      "tvqa, how2qa, tvc, yc2c)", default="quickstart")
    data_dir: str | None = _help("dataset root (VL-Adapter layout); none = the task's default location", default=None)
    train_size: int | None = _help("use only the first N training examples per task (none = all)", default=None)
    eval_size: int | None = _help("use only the first N evaluation examples per task (none = all)", default=None)
    batch_size: int = _help("training batch size (B; per-task sizes scale as in the paper's multitask mix)",
                            default=64)
    eval_batch_size: int | None = _help("evaluation batch size (default: batch_size)", default=None)
    epochs: int = _help("training epochs", default=20)
    max_steps: int | None = _help("stop after this many optimizer steps (a budget; overrides epochs)", default=None)
    eval_every_steps: int | None = _help("evaluate every N steps as well as at each epoch end", default=None)
    warmup_ratio: float = _help("linear warm-up over this fraction of the steps", default=0.1)
    weight_decay: float = _help("AdamW weight decay (biases exempt)", default=0.01)
    grad_clip: float = _help("gradient-norm clip", default=5.0)
    num_beams: int = _help("beam size for evaluation (1 = greedy)", default=5)
    max_new_tokens: int | None = _help("generation length (default: 20, 40 for captions)", default=None)
    precision: str = _help("auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16", default="auto")
    text_only: bool = _help("ablation: feed no visual tokens", default=False)
    checkpoint_every_steps: int | None = _help("also write a resumable checkpoint every N steps", default=None)

    def __post_init__(self) -> None:
        if isinstance(self.placement, str) and self.placement.lower() not in ("none", "null"):
            self.placement = [self.placement]
        if isinstance(self.placement, tuple):
            self.placement = list(self.placement)
        if isinstance(self.granularity, str) and self.granularity.lower() == "none":
            self.granularity = None
        self._check_types()
        self._check_method()
        self._resolve_defaults()
        self._check_values()

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialConfig":
        """Build from a mapping; unknown keys are rejected with the list of known ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"a trial config must be a mapping of keys to values, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ConfigError(f"unknown trial config key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike | None, overrides: list[str] | dict | None = None) -> "TrialConfig":
        """Load YAML or JSON (``None`` = defaults) and apply ``key=value`` overrides (values parsed as YAML)."""
        data: Any = {}
        if path is not None:
            data = read_yaml_file(path, "trial config file")
            data = {} if data is None else data
        if not isinstance(data, dict):
            raise ConfigError(f"trial config file {path} must hold a mapping of keys to values, got {type(data).__name__}")
        return cls.from_dict({**data, **parse_overrides(overrides)})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def family(self) -> str:
        from vlpet.models.backbones import family_of

        try:
            return family_of(self.backbone)
        except ValueError as error:
            raise ConfigError(f"backbone: {error}") from None
        except (AttributeError, OSError) as error:           # a local config.json that is not a readable mapping
            raise ConfigError(f"backbone: cannot read the config.json of {show(self.backbone)}: {error}") from None

    @property
    def tasks(self) -> list[str]:
        """``task`` split on commas."""
        return [t.strip() for t in self.task.split(",") if t.strip()]

    def pet_settings(self) -> PETSettings:
        """The PET part, for the model builders."""
        return PETSettings(
            method=self.method, granularity=self.granularity, bottleneck=self.bottleneck, heads=self.heads,
            gate_bottleneck=self.gate_bottleneck, decoder_bottleneck=self.decoder_bottleneck,
            gate_scale=self.gate_scale, placement=tuple(self.placement), train_norms=self.train_norms,
            init=self.init, lora_rank=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            prompt_length=self.prompt_length, prompt_hidden=self.prompt_hidden, phm_dim=self.phm_dim,
        )

    # ---- validation ---------------------------------------------------------------------------------------
    def _check_types(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = f.type if isinstance(f.type, str) else str(f.type)
            if "None" in expected and not expected.startswith("str") and isinstance(value, str) and value.lower() in ("none", "null"):
                value = None
                setattr(self, f.name, None)
            if value is None and "None" in expected:
                continue
            if expected.startswith("int") and not _is_int(value):
                raise ConfigError(f"{f.name}: expected an integer, got {show(value)}")
            if expected.startswith("float"):
                value = _coerce_float(value)
                if not _is_finite(value):
                    raise ConfigError(f"{f.name}: expected a finite number, got {show(value)}")
                setattr(self, f.name, float(value))
            if expected.startswith("str") and not isinstance(value, str):
                raise ConfigError(f"{f.name}: expected a string, got {show(value)}")
            if expected.startswith("bool") and not isinstance(value, bool):
                raise ConfigError(f"{f.name}: expected true or false, got {show(value)}")
        if self.placement is not None and (not isinstance(self.placement, list)
                                           or not all(isinstance(p, str) for p in self.placement)):
            raise ConfigError(f"placement: expected a list of site names, got {show(self.placement)}")

    def _check_method(self) -> None:
        """The method exists, and a gate is only asked of a method that can take one."""
        from vlpet.pet.gates import GATES
        from vlpet.pet.registry import METHOD_INFO
        import vlpet.pet.methods  # noqa: F401

        _allowed("method", self.method, sorted(METHOD_INFO))
        info = METHOD_INFO[self.method]
        if self.granularity == "auto":
            self.granularity = info.default_granularity
        if self.granularity is None:
            return
        _allowed("granularity", self.granularity, [*GATES, "none", "auto"])
        if not info.takes_granularity:
            gated = ", ".join(name for name, other in METHOD_INFO.items() if other.takes_granularity)
            raise ConfigError(
                f"granularity: {self.granularity!r} cannot be combined with method {self.method!r}; the gate G applies "
                f"to {gated}. Set granularity: none (in a study, condition granularity on the method with `when:`)"
            )

    def _resolve_defaults(self) -> None:
        from vlpet.pet.registry import METHOD_INFO

        defaults = {**FAMILY_DEFAULTS[self.family], **METHOD_INFO[self.method].defaults(self.family, self.granularity)}
        if self.bottleneck is None:
            self.bottleneck = defaults["bottleneck"]
        if self.gate_bottleneck is None:
            self.gate_bottleneck = self.bottleneck
        if self.gate_scale is None:
            self.gate_scale = defaults["gate_scale"]
        if self.lr is None:
            self.lr = defaults["lr"]
        if self.init == "auto":
            self.init = defaults["init"]
        if self.placement is None:
            self.placement = list(defaults.get("placement", []))
        if self.train_norms == "auto":
            self.train_norms = defaults.get("train_norms", "none")
        if self.lora_rank is None:
            self.lora_rank = defaults.get("lora_rank")

    def _check_values(self) -> None:
        from vlpet.pet.registry import METHOD_INFO

        for names, high in ((SIZE_KEYS, MAX_SIZE), (COUNT_KEYS, MAX_COUNT)):
            for name in names:
                value = getattr(self, name)
                if value is not None and not 1 <= value <= high:
                    raise ConfigError(f"{name}: must be a positive integer of at most {high}, got {show(value)}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed: must be from 0 to {2**32 - 1}, got {show(self.seed)}")
        _allowed("precision", self.precision, PRECISIONS)
        self._check_sources()
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must be non-negative, got {getattr(self, name)}")
        info = METHOD_INFO[self.method]
        if not self.placement and "placement" in info.keys:
            raise ConfigError(f"placement: must name at least one site; allowed: {', '.join(PLACEMENTS)}")
        for site in self.placement:
            _allowed("placement", site, PLACEMENTS)
        if len(set(self.placement)) != len(self.placement):
            raise ConfigError(f"placement: duplicate sites in {self.placement}")
        _allowed("train_norms", self.train_norms, TRAIN_NORMS)
        _allowed("init", self.init, INITS)
        if self.gate_scale <= 0:
            raise ConfigError(f"gate_scale: must be positive, got {self.gate_scale}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ConfigError(f"lr: must be positive, got {self.lr}")
        if self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha: must be positive, got {self.lora_alpha}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        problem = info.check(self.pet_settings()) if info.check else None
        if problem:
            raise ConfigError(problem)

    def _check_sources(self) -> None:
        """At least one known task, each once; ``data_dir`` a local directory path (the data layer reads local
        files; whether it exists is checked where the trial runs, by ``check_local_files``)."""
        tasks = self.tasks
        if not tasks or len(set(tasks)) != len(tasks):
            raise ConfigError(f"task: expected one task or several distinct tasks joined by commas, got {show(self.task)}")
        for task in tasks:
            _allowed("task", task, known_tasks())
        if self.data_dir and ("://" in self.data_dir or any(ord(c) < 32 for c in self.data_dir)):
            raise ConfigError(f"data_dir: expected a local directory (mount cloud data on the nodes), got "
                              f"{show(self.data_dir)}")

    def check_local_files(self) -> None:
        """Raise ConfigError when ``data_dir`` does not exist on this machine (call where the trial trains)."""
        if self.data_dir and not os.path.isdir(self.data_dir):
            raise ConfigError(f"data_dir: directory {show(self.data_dir)} does not exist on this machine "
                              f"(resolved to {os.path.abspath(self.data_dir)})")


def _is_finite(value: Any) -> bool:
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:                       # an integer too large for a float
        return False


def _coerce_float(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; accept numeric strings for float fields."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _allowed(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {show(value)} is not allowed; allowed values: {', '.join(map(str, allowed))}")


def parse_overrides(overrides: list[str] | dict | None) -> dict[str, Any]:
    """``["lr=1e-4", "placement=[encoder.attn]"]`` → ``{"lr": 0.0001, "placement": ["encoder.attn"]}``."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = bounded_load(raw)
        except yaml.YAMLError:                  # YAMLRefused included: the raw text is then the value
            value = raw
        parsed[key.strip()] = value
    return parsed


def field_help() -> dict[str, str]:
    """Key → help text, reused by the CLI."""
    return {f.name: f.metadata.get("help", "") for f in fields(TrialConfig)}
