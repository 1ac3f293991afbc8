"""TrialConfig: the one typed object describing a trial, loadable from YAML/JSON and validated on construction.

Fields left as ``None`` (or ``auto``) take the paper's value for the backbone's family (vlpet_spec §4, from the
family's record in ``vlpet.models.families``): BART r = r_g = 96, s = 1, lr 1e-3, N(0, 0.02) init; T5
r = r_g = 192, s = 0.3, lr 3e-4, zero-initialised up projections. Each PET method then overrides what its paper
runs used (vlpet_spec §5: its lr, placement, which norms train); those defaults live with the method's record
(``vlpet.pet.registry``). A method's own keys (``lora_rank``, ``prompt_length``, ...) stay flat in the file and are
routed to the method's options class, declared in its module.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any

from vlpet.errors import ConfigError, show
from vlpet.checks import allowed, coerce_fields, fraction, in_range, non_negative, positive
from vlpet.models.families import family_record
from vlpet.pet.options import MAX_SIZE, MethodOptions  # noqa: F401 (MAX_SIZE: module widths, ranks, beams, tokens)
from vlpet.pet.registry import method_record, option_keys, registered_methods
from vlpet.pet.settings import ADAPTER_BITS, ADAPTER_QUANT, PETSettings
from vlpet.pet.sites import PLACEMENTS
from vlpet.safe_yaml import parse_overrides, read_yaml_file  # noqa: F401 (parse_overrides re-exported)

TRAIN_NORMS = ("auto", "encoder", "all", "none")
INITS = ("auto", "normal", "zero_up", "pytorch")
TEST_CHECKPOINTS = ("last", "best_val", "none")
PRECISIONS = ("auto", "fp32", "bf16")
# Upper bounds: far above the paper's values, low enough that a typo cannot allocate a model the size of a cluster.
MAX_COUNT = 10**9        # examples, batches, steps, epochs
SIZE_KEYS = ("bottleneck", "gate_bottleneck", "decoder_bottleneck", "visual_feat_dim", "num_beams", "visual_grid",
             "max_new_tokens")
COUNT_KEYS = ("batch_size", "epochs", "train_size", "eval_size", "eval_batch_size", "max_steps", "eval_every_steps",
              "checkpoint_every_steps")


def known_tasks() -> list[str]:
    """Task names the data layer has a record for (the VL-Adapter formats and the offline quickstart)."""
    from vlpet.data.registry import TASKS

    return sorted(TASKS)


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class TrialConfig:
    """One trial: backbone, PET method and its sizes, placement, optimisation, seed."""

    backbone: str = _help("bart-base | t5-base | tiny-bart | tiny-t5, a local HF checkpoint dir or a hub name",
                          default="bart-base")
    method: str = _help("PET method (`vlpet params --list-methods` lists each one's keys)", default="vl-pet")
    granularity: str | None = _help("gate G: small | middleX | middleY | large | none | auto (large for vl-pet, none "
                                    "otherwise); with adapter or compacter it adds G and the lightweight designs "
                                    "(paper Table 9)", default="auto")
    bottleneck: int | None = _help("r, the down-projection size of ΔH, of each adapter or compacter (default: 96 BART, "
                                   "192 T5)", default=None)
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
    init: str = _help("auto (BART normal, T5 zero_up; the T5 adapter baseline pytorch) | normal | zero_up | pytorch "
                      "(PyTorch's default init, nothing zeroed)", default="auto")
    adapter_bits: int = _help("bits of the PET modules' weights: 32 | 16 | 8 | 4 | 2 | 1 (sign × scale); biases, norms, "
                              "the visual projector and PEFT-backed layers stay 32", default=32)
    adapter_quant: str = _help("qat (quantised in training, straight-through gradients) | ptq (trained in full "
                               "precision, quantised for evaluation and the checkpoint)", default="qat")
    visual_feat_dim: int = _help("dimension of the visual features (2048 CLIP RN101 grid, 512 video)", default=2048)
    visual_grid: int | None = _help("max-pool the square feature grid to this side (6 → 36 tokens); none keeps it",
                                    default=6)
    dropout: float = _help("dropout everywhere, attention and activation included", default=0.1)
    lr: float | None = _help("peak learning rate (default per method and family: vl-pet, adapter, lora 1e-3 BART "
                             "/ 3e-4 T5; full 1e-4; bitfit and prompt 1e-3 BART / 3e-3 T5)", default=None)
    seed: int = _help("random seed", default=42)
    # ---- data and training budget -------------------------------------------------------------------------
    task: str = _help("task name, or several joined by commas for multitask", default="quickstart")
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
    num_beams: int | None = _help("beam size for evaluation, 1 = greedy (default: each task's own, as in the official "
                                  "code: greedy for VQA, GQA and video QA, 5 beams for captions)", default=None)
    max_new_tokens: int | None = _help("generation length (default: 20, 40 for captions)", default=None)
    precision: str = _help("auto (bf16 on GPU, fp32 on CPU) | fp32 (every official run) | bf16", default="auto")
    test_checkpoint: str = _help("the checkpoint tested on the held-out split after training: last (the paper's "
                                 "protocol) | best_val (the evaluation with the best validation metric) | none",
                                 default="last")
    task_prompts: bool = _help("write each task's prompt before its inputs (the paper's BART full fine-tuning script "
                               "ran without them)", default=True)
    text_only: bool = _help("ablation: feed no visual tokens", default=False)
    checkpoint_every_steps: int | None = _help("also write a resumable checkpoint every N steps", default=None)
    # ---- the methods' own keys (flat in files), and the selected method's options built from them --------
    method_keys: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})
    options: MethodOptions | None = field(default=None, init=False, metadata={"internal": True})

    def __post_init__(self) -> None:
        if isinstance(self.placement, str) and self.placement.lower() not in ("none", "null"):
            self.placement = [self.placement]
        if isinstance(self.placement, tuple):
            self.placement = list(self.placement)
        if isinstance(self.granularity, str) and self.granularity.lower() == "none":
            self.granularity = None
        coerce_fields(self)
        if self.placement is not None and (not isinstance(self.placement, list)
                                           or not all(isinstance(p, str) for p in self.placement)):
            raise ConfigError(f"placement: expected a list of site names, got {show(self.placement)}")
        self._check_method()
        paper_setting = self._resolve_defaults()
        self.options = self._method_options(paper_setting)
        self.method_keys = {**self._declared_method_keys(), **self.method_keys, **self.options.to_dict()}
        self._check_values()

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> list[str]:
        """Every key a trial file may hold: the shared ones and every registered method's own."""
        return [*(f.name for f in fields(cls) if not f.metadata.get("internal")), *option_keys()]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialConfig":
        """Build from a mapping; unknown keys are rejected with the list of known ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"a trial config must be a mapping of keys to values, got {type(data).__name__}")
        known = set(cls.keys())
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ConfigError(f"unknown trial config key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(known))}")
        routed = option_keys()
        shared = {key: value for key, value in data.items() if key not in routed}
        return cls(**shared, method_keys={key: value for key, value in data.items() if key in routed})

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
        """Every key, flat: the shared ones and every method's own keys (as given or declared; the selected
        method's as resolved). ``from_dict(to_dict())`` gives the same config."""
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if not f.metadata.get("internal")}
        return {**data, **copy.deepcopy(self.method_keys)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def family(self) -> str:
        from vlpet.data.registry import resolve_backbone
        from vlpet.models.families import family_of

        try:
            return family_of(resolve_backbone(self.backbone, weights=False))
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
            method=self.method, granularity=self.granularity, bottleneck=self.bottleneck,
            gate_bottleneck=self.gate_bottleneck, decoder_bottleneck=self.decoder_bottleneck,
            gate_scale=self.gate_scale, placement=tuple(self.placement), train_norms=self.train_norms,
            init=self.init, options=self.options, adapter_bits=self.adapter_bits, adapter_quant=self.adapter_quant,
        )

    # ---- validation ---------------------------------------------------------------------------------------
    def _check_method(self) -> None:
        """The method exists, and a gate is only asked of a method that can take one."""
        from vlpet.pet.gates import GATES

        methods = registered_methods()
        allowed("method", self.method, sorted(methods))
        method = methods[self.method]
        if self.granularity == "auto":
            self.granularity = method.default_granularity
        if self.granularity is None:
            return
        allowed("granularity", self.granularity, [*GATES, "none", "auto"])
        if not method.takes_granularity:
            gated = ", ".join(name for name, other in methods.items() if other.takes_granularity)
            raise ConfigError(
                f"granularity: {self.granularity!r} cannot be combined with method {self.method!r}; the gate G applies "
                f"to {gated}. Set granularity: none (in a study, condition granularity on the method with `when:`)"
            )

    def _resolve_defaults(self) -> str:
        """Fill every key left ``None``/``auto`` from the family's and then the method's paper values; returns
        the family's paper setting (``bart``/``t5``), which the method's options take their defaults from."""
        family = family_record(self.family)
        method = method_record(self.method)
        defaults = {"placement": [], "train_norms": "none", **family.paper_defaults,
                    **method.defaults(family.paper_setting, self.granularity)}
        for key, default in defaults.items():
            if getattr(self, key) is None or getattr(self, key) == "auto":
                setattr(self, key, copy.deepcopy(default))
        if self.gate_bottleneck is None:
            self.gate_bottleneck = self.bottleneck
        return family.paper_setting

    @staticmethod
    def _declared_method_keys() -> dict[str, Any]:
        return {key: value for method in registered_methods().values()
                for key, value in method.options.declared().items()}

    def _method_options(self, paper_setting: str) -> MethodOptions:
        """The selected method's options from its keys; other methods' keys are checked by their own classes."""
        for name, method in registered_methods().items():
            given = {key: value for key, value in self.method_keys.items() if key in method.options.keys()}
            if name != self.method and given:
                method.options(**given)
        return method_record(self.method).options.resolve(self.method_keys, paper_setting)

    def _check_values(self) -> None:
        for names, high in ((SIZE_KEYS, MAX_SIZE), (COUNT_KEYS, MAX_COUNT)):
            for name in names:
                in_range(name, getattr(self, name), 1, high, f"a positive integer of at most {high}")
        in_range("seed", self.seed, 0, 2**32 - 1, f"from 0 to {2**32 - 1}")
        allowed("precision", self.precision, PRECISIONS)
        allowed("test_checkpoint", self.test_checkpoint, TEST_CHECKPOINTS)
        self._check_sources()
        self._check_sizes()
        fraction("warmup_ratio", self.warmup_ratio)
        non_negative("weight_decay", self.weight_decay)
        non_negative("grad_clip", self.grad_clip)
        self._check_placement()
        allowed("train_norms", self.train_norms, TRAIN_NORMS)
        allowed("init", self.init, INITS)
        allowed("adapter_bits", self.adapter_bits, ADAPTER_BITS)
        allowed("adapter_quant", self.adapter_quant, ADAPTER_QUANT)
        positive("gate_scale", self.gate_scale)
        fraction("dropout", self.dropout)
        positive("lr", self.lr)
        problem = self.options.check(self.pet_settings())
        if problem:
            raise ConfigError(problem)

    def _check_placement(self) -> None:
        if not self.placement and "placement" in method_record(self.method).reads:
            raise ConfigError(f"placement: must name at least one site; allowed: {', '.join(PLACEMENTS)}")
        for site in self.placement:
            allowed("placement", site, PLACEMENTS)
        if len(set(self.placement)) != len(self.placement):
            raise ConfigError(f"placement: duplicate sites in {self.placement}")

    def _check_sources(self) -> None:
        """At least one known task, each once; ``data_dir`` a local directory path (the data layer reads local
        files; whether it exists is checked where the trial runs, by ``check_local_files``)."""
        if isinstance(self.data_dir, str) and self.data_dir.strip().lower() in ("none", "null", ""):
            self.data_dir = None            # as documented: none = the task's default location
        tasks = self.tasks
        if not tasks or len(set(tasks)) != len(tasks):
            raise ConfigError(f"task: expected one task or several distinct tasks joined by commas, got {show(self.task)}")
        for task in tasks:
            allowed("task", task, known_tasks())
        if self.data_dir and ("://" in self.data_dir or any(ord(c) < 32 for c in self.data_dir)):
            raise ConfigError(f"data_dir: expected a local directory (mount cloud data on the nodes), got "
                              f"{show(self.data_dir)}")

    def _check_sizes(self) -> None:
        """Sizes the data and the backbone can hold: a visual grid no larger than the tasks' feature grid (pooling
        only shrinks it), and prompt vectors plus text within the encoder's absolute positions."""
        from vlpet.data.registry import TASKS

        grid = min(TASKS[task].feature_grid for task in self.tasks)
        if self.visual_grid is not None and self.visual_grid > grid:
            raise ConfigError(f"visual_grid: {self.visual_grid} is larger than the {grid}x{grid} feature grid of "
                              f"task {self.task}; pooling can only shrink it: at most {grid}, or none to keep it")
        prompt = getattr(self.options, "prompt_length", None) or 0
        positions = encoder_positions(self.backbone)
        text = max(TASKS[task].max_source_len or 1 for task in self.tasks)
        visual = max(TASKS[task].images * (self.visual_grid or TASKS[task].feature_grid) ** 2 for task in self.tasks)
        if positions and prompt + text + visual > positions:
            key, room = ("prompt_length", f"use prompt_length of at most {positions - text - visual}") if prompt \
                else ("visual_grid", "use a smaller visual_grid")
            raise ConfigError(f"{key}: {prompt} prompt vectors, up to {text} text tokens and {visual} visual tokens "
                              f"need {prompt + text + visual} encoder positions, but backbone {self.backbone} has "
                              f"{positions}; {room}")

    def check_local_files(self) -> None:
        """Raise ConfigError when ``data_dir`` does not exist on this machine (call where the trial trains)."""
        if self.data_dir and not os.path.isdir(self.data_dir):
            raise ConfigError(f"data_dir: directory {show(self.data_dir)} does not exist on this machine "
                              f"(resolved to {os.path.abspath(self.data_dir)})")


def encoder_positions(backbone: str) -> int | None:
    """The absolute positions of ``backbone``'s encoder (BART's ``max_position_embeddings``) for a known name,
    ``<task>:<name>`` or a local checkpoint; None when it has relative positions (T5) or is not known offline."""
    from vlpet.models.families import hub_aliases, known_architectures

    task, colon, name = backbone.partition(":")
    name = name if colon and task in known_tasks() else backbone
    spec = known_architectures().get(hub_aliases().get(name, name))
    if spec is not None:
        return spec.config.get("max_position_embeddings")
    config = os.path.join(os.path.expanduser(name), "config.json")
    try:
        with open(config, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    value = data.get("max_position_embeddings") if isinstance(data, dict) and data.get("model_type") == "bart" else None
    return value if isinstance(value, int) and value > 0 else None


def field_help() -> dict[str, str]:
    """Key → help text, reused by the CLI: the shared keys, then each method's own."""
    shared = {f.name: f.metadata.get("help", "") for f in fields(TrialConfig) if not f.metadata.get("internal")}
    shared["method"] += ": " + " | ".join(registered_methods())
    shared["task"] += ": " + ", ".join(known_tasks())
    for method in registered_methods().values():
        shared.update(method.options.help())
    return shared
