"""A PET method's own hyper-parameters: a frozen dataclass per method, declared in the method's module.

Trial and study files keep flat keys (``lora_rank: 64``): the trial config routes the keys of the selected method
to its options class, which fills what was left out from its paper defaults and checks the values. Torch-free, so
that reading a configuration stays cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from vlpet.checks import coerce_fields

MAX_SIZE = 65_536  # upper bound of a size option: far above the paper's values, below a typo's allocation


def option(help: str, default: Any = None) -> Any:
    """A method option: its default and the help text ``vlpet params --help`` shows."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class MethodOptions:
    """Base class of every method's options (none of its own: full fine-tuning and BitFit).

    ``paper_defaults`` maps a paper setting (``"bart"`` or ``"t5"``, vlpet_spec §4–5) to the values its runs used;
    a field left ``None`` takes that value. ``check(settings)`` returns a message for an impossible combination
    with the shared PET settings, or None.
    """

    paper_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        coerce_fields(self)
        self.validate()

    def validate(self) -> None:
        """Checks of the options alone (ranges; raise ConfigError through ``vlpet.checks``); ``check`` sees them
        with the shared settings."""

    def check(self, settings: Any) -> str | None:
        return None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

    @classmethod
    def declared(cls) -> dict[str, Any]:
        """Each key's declared default (before paper defaults), as a trial config lists unused keys."""
        return {f.name: f.default for f in fields(cls)}

    @classmethod
    def resolve(cls, given: dict[str, Any], paper_setting: str) -> "MethodOptions":
        """The options from the trial's keys, paper defaults filling the keys left unset (``None``)."""
        values = {key: given[key] for key in cls.keys() if key in given}
        for key, default in cls.paper_defaults.get(paper_setting, {}).items():
            if values.get(key) is None:
                values[key] = default
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
