"""Built-in PET methods; importing this package registers them."""

from vlpet.pet.methods import vl_pet, full, bitfit, prompt, lora, adapter, compacter  # noqa: F401

__all__ = ["adapter", "bitfit", "compacter", "full", "lora", "prompt", "vl_pet"]
