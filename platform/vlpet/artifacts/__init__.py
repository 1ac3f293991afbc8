"""What a study ships: a trial's kept weights exported as an adapter (PEFT's layout where a PEFT equivalent exists,
vlpet's self-describing one otherwise), merged where the method is linear in the frozen weights, with a model card;
rebuilt by :func:`load_adapter` and run on any split by :func:`predict_split`. See docs/artifacts.md."""

from vlpet.artifacts.load import load_adapter

__all__ = ["load_adapter"]
